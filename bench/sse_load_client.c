/*  sse_load_client: many Server-Sent Events viewers in one small process,
    for bench/sse_load.py. A Python selector loop reading 1,000 sockets is
    itself slow enough under CPU contention to make events look late; this
    epoll loop costs microseconds per event, so the lateness it measures is
    the server's.

    usage: sse_load_client PORT CLIENTS
    Connects CLIENTS viewers to 127.0.0.1:PORT/events, prints "ready" once
    every viewer has its first snapshot, keeps reading until stdin says
    "stop" (or closes), then prints one line per viewer, "S index status
    closed", and one per snapshot received, "E index id ts_ms arrival_ms". */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_BUFFER 65536

typedef struct {
    long long id;
    long long ts_ms;
    double arrival_ms;
} s_event_t;

typedef struct {
    int fd;
    int status; //  HTTP status, 0 until the headers are in
    bool closed;
    size_t used;
    char buffer[S_BUFFER];
    s_event_t *events;
    size_t count;
    size_t capacity;
} s_viewer_t;

static double s_wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec * 1000 + (double)now.tv_nsec / 1e6;
}

static int s_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        perror("sse_load_client: connect");
        exit(1);
    }
    static const char request[] = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  "Accept: text/event-stream\r\n\r\n";
    if (write(fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1)) {
        perror("sse_load_client: write");
        exit(1);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void s_record(s_viewer_t *viewer, long long id, long long ts_ms, double arrival)
{
    if (viewer->count == viewer->capacity) {
        viewer->capacity = viewer->capacity ? viewer->capacity * 2 : 64;
        viewer->events = realloc(viewer->events, viewer->capacity * sizeof *viewer->events);
        if (!viewer->events) {
            fprintf(stderr, "sse_load_client: out of memory\n");
            exit(1);
        }
    }
    viewer->events[viewer->count++] = (s_event_t){id, ts_ms, arrival};
}

//  Consume complete frames ("...\n\n") from the viewer's buffer.
static void s_parse(s_viewer_t *viewer, double arrival)
{
    char *start = viewer->buffer;
    char *end = viewer->buffer + viewer->used;
    if (viewer->status == 0) {
        char *headers_end = memmem(start, viewer->used, "\r\n\r\n", 4);
        if (!headers_end)
            return;
        viewer->status = atoi(start + 9); //  "HTTP/1.1 200"
        start = headers_end + 4;
    }
    char *frame_end;
    while ((frame_end = memmem(start, (size_t)(end - start), "\n\n", 2))) {
        if (strncmp(start, "id: ", 4) == 0) {
            long long id = strtoll(start + 4, NULL, 10);
            char *ts = memmem(start, (size_t)(frame_end - start), "\"ts_ms\":", 8);
            s_record(viewer, id, ts ? strtoll(ts + 8, NULL, 10) : 0, arrival);
        }
        start = frame_end + 2;
    }
    viewer->used = (size_t)(end - start);
    memmove(viewer->buffer, start, viewer->used);
}

static void s_read(s_viewer_t *viewer, int epoll_fd)
{
    while (!viewer->closed) {
        if (viewer->used == S_BUFFER) { //  a frame larger than the buffer: drop it
            viewer->used = 0;
        }
        ssize_t got = read(viewer->fd, viewer->buffer + viewer->used, S_BUFFER - viewer->used);
        if (got > 0) {
            viewer->used += (size_t)got;
            s_parse(viewer, s_wall_ms());
        } else if (got < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        else {
            epoll_ctl(epoll_fd, EPOLL_CTL_DEL, viewer->fd, NULL);
            close(viewer->fd);
            viewer->closed = true;
        }
    }
}

static bool s_all_started(s_viewer_t *viewers, int clients)
{
    for (int i = 0; i < clients; i++)
        if (viewers[i].count == 0 && !viewers[i].closed)
            return false;
    return true;
}

int main(int argc, char **argv)
{
    int port = argc == 3 ? atoi(argv[1]) : 0;
    int clients = argc == 3 ? atoi(argv[2]) : 0;
    if (port <= 0 || clients <= 0) {
        fprintf(stderr, "usage: sse_load_client PORT CLIENTS\n");
        return 2;
    }
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < (rlim_t)clients + 64) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    s_viewer_t *viewers = calloc((size_t)clients, sizeof *viewers);
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (!viewers || epoll_fd < 0)
        return 1;
    struct epoll_event input = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &input);
    for (int i = 0; i < clients; i++) {
        viewers[i].fd = s_connect(port);
        int flags = 1;
        setsockopt(viewers[i].fd, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof flags);
        struct epoll_event event = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, viewers[i].fd, &event);
    }
    bool ready = false;
    bool stop = false;
    struct epoll_event events[256];
    while (!stop) {
        int n = epoll_wait(epoll_fd, events, 256, 100);
        for (int e = 0; e < n; e++) {
            if (events[e].data.u64 == UINT64_MAX) {
                char line[64];
                stop = read(STDIN_FILENO, line, sizeof line) <= 0 || strncmp(line, "stop", 4) == 0;
            } else
                s_read(&viewers[events[e].data.u64], epoll_fd);
        }
        if (!ready && s_all_started(viewers, clients)) {
            ready = true;
            printf("ready\n");
            fflush(stdout);
        }
    }
    for (int i = 0; i < clients; i++) {
        printf("S %d %d %d\n", i, viewers[i].status, viewers[i].closed ? 1 : 0);
        for (size_t k = 0; k < viewers[i].count; k++)
            printf("E %d %lld %lld %.3f\n", i, viewers[i].events[k].id, viewers[i].events[k].ts_ms,
                   viewers[i].events[k].arrival_ms);
        if (!viewers[i].closed)
            close(viewers[i].fd);
        free(viewers[i].events);
    }
    free(viewers);
    close(epoll_fd);
    return 0;
}
