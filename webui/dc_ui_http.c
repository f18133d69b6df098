/*  dc_ui_http: civetweb handlers. Responses are written whole with explicit
    Content-Length and "Connection: close" (keep-alive off): every request
    costs one short-lived thread, except /events which keeps its thread until
    the viewer leaves or the hub stops.                                      */
#include "dc_ui_http.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <czmq.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dc_ui_assets.h"
#include "dc_ui_poller.h"
#include "dc_check.h"

#define S_SSE_RETRY_MS 2000
#define S_SSE_PING_MS 5000
#define S_STALE_MS 5000
#define S_WAKE_SIGNAL SIGUSR2
#define S_REQUEST_TIMEOUT_MS "1000"

struct _dc_ui_http_t {
    struct mg_context *context;
    dc_ui_hub_t *hub;
    dc_ui_redis_t *redis;
    bool verbose;
    int port;
    char instance[64];     //  "" when not named
    char instance_hdr[96]; //  "X-Dc-Instance: NAME\r\n", or ""
    //  civetweb's threads, so that stopping can interrupt their poll()
    pthread_mutex_t threads_lock;
    pthread_t *threads;
    bool *alive;
    int *types; //  civetweb's thread_type: 0 master, 1 worker, 2 timer
    size_t thread_count;
    size_t thread_max;
    _Atomic bool stopped; //  mg_stop() has returned
};

//  Sent with every response: the page is CSP-strict (no inline script or
//  style, nothing from another origin).
static const char s_common_headers[] =
    "X-Content-Type-Options: nosniff\r\n"
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Cross-Origin-Resource-Policy: same-origin\r\n"
    "Connection: close\r\n";

static const char *s_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

//  A complete response. `extra` holds more header lines ("Name: v\r\n").
static int s_respond(struct mg_connection *conn, bool head, int status, const char *type,
                     const char *extra, const void *body, size_t size)
{
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s"
              "Cache-Control: no-cache\r\n\r\n",
              status, s_reason(status), type, size, s_common_headers, extra ? extra : "");
    if (!head && size > 0)
        mg_write(conn, body, size);
    return status;
}

static int s_text(struct mg_connection *conn, bool head, int status, const char *extra,
                  const char *text)
{
    return s_respond(conn, head, status, "text/plain; charset=utf-8", extra, text, strlen(text));
}

static int s_asset(struct mg_connection *conn, bool head, const dc_ui_asset_t *asset)
{
    const char *match = mg_get_header(conn, "If-None-Match");
    char etag[64];
    snprintf(etag, sizeof etag, "ETag: %s\r\n", asset->etag);
    if (match && strcmp(match, asset->etag) == 0)
        return s_respond(conn, true, 304, asset->type, etag, NULL, 0);
    return s_respond(conn, head, 200, asset->type, etag, asset->data, asset->size);
}

static const dc_ui_asset_t *s_find_asset(const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < dc_ui_assets_count; i++)
        if (strcmp(dc_ui_assets[i].path, path) == 0)
            return &dc_ui_assets[i];
    return NULL;
}

//  Write a whole buffer; false when the viewer is gone.
static bool s_send(struct mg_connection *conn, const dc_ui_buf_t *buf)
{
    return mg_write(conn, dc_ui_buf_data(buf), dc_ui_buf_size(buf)) == (int)dc_ui_buf_size(buf);
}

//  The stream's opening: retry, then the chart history when there is one.
//  Stores the history's sequence number (0: nothing published yet).
static bool s_stream_open(dc_ui_http_t *self, struct mg_connection *conn, uint64_t *seq_p)
{
    dc_ui_buf_t *history = dc_ui_buf_new();
    dc_ui_buf_t *opening = dc_ui_buf_new();
    bool alive = history && opening;
    if (alive) {
        *seq_p = dc_ui_hub_history(self->hub, history);
        dc_ui_buf_printf(opening, "retry: %d\n\n", S_SSE_RETRY_MS);
        if (*seq_p)
            dc_ui_buf_printf(opening, "event: history\ndata: %s\n\n", dc_ui_buf_data(history));
        alive = s_send(conn, opening);
    }
    dc_ui_buf_destroy(&history);
    dc_ui_buf_destroy(&opening);
    return alive;
}

//  The stream after its headers: the opening, then every snapshot, starting
//  with the newest at once so a new viewer never stares at nothing.
static void s_stream(dc_ui_http_t *self, struct mg_connection *conn)
{
    uint64_t seen = 0;
    bool alive = s_stream_open(self, conn, &seen);
    seen = seen ? seen - 1 : 0;
    while (alive) {
        dc_ui_frame_t *frame = NULL;
        int rc = dc_ui_hub_wait(self->hub, &seen, S_SSE_PING_MS, &frame);
        if (rc < 0)
            break;
        if (rc == 0) //  writing is how a viewer that left is noticed
            alive = mg_write(conn, ": ping\n\n", 8) == 8;
        else {
            int size = (int)dc_ui_frame_size(frame);
            alive = mg_write(conn, dc_ui_frame_data(frame), (size_t)size) == size;
            dc_ui_hub_delivered(self->hub, seen);
        }
        dc_ui_frame_release(&frame);
    }
}

static int s_events(dc_ui_http_t *self, struct mg_connection *conn, bool head)
{
    if (dc_ui_hub_join(self->hub) != 0)
        return s_text(conn, head, 503, "Retry-After: 5\r\n",
                      dc_ui_hub_stopping(self->hub) ? "shutting down\n"
                                                    : "too many viewers on this replica\n");
    mg_printf(conn,
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n%s"
              "Cache-Control: no-cache, no-store\r\nX-Accel-Buffering: no\r\n\r\n",
              s_common_headers);
    if (!head)
        s_stream(self, conn);
    dc_ui_hub_leave(self->hub);
    return 200;
}

//  The original's /json: {"coins": HLEN wallet, "hashes": GET hashes (a
//  string, or null), "now": seconds since the epoch with milliseconds}; the
//  X-Dc-Instance header names the replica that answered (blue/green, several
//  replicas) without changing the original's body.
static int s_json(dc_ui_http_t *self, struct mg_connection *conn, bool head)
{
    long long coins = 0;
    char hashes[32];
    char error[160];
    dc_ui_buf_t *body = dc_ui_buf_new();
    if (!body)
        return s_text(conn, head, 503, NULL, "out of memory\n");
    int status = 200;
    if (dc_ui_redis_totals(self->redis, &coins, hashes, sizeof hashes, error, sizeof error) == 0) {
        int64_t now = dc_ui_poller_wall_ms();
        dc_ui_buf_printf(body, "{\"coins\":%lld,\"hashes\":", coins);
        dc_ui_buf_json_string(body, hashes[0] ? hashes : NULL);
        dc_ui_buf_printf(body, ",\"now\":%lld.%03lld}", (long long)(now / 1000),
                         (long long)(now % 1000));
    } else {
        status = 503;
        dc_ui_buf_printf(body, "{\"error\":");
        char reason[200];
        snprintf(reason, sizeof reason, "redis unreachable: %s", error);
        dc_ui_buf_json_string(body, reason);
        dc_ui_buf_printf(body, "}");
    }
    s_respond(conn, head, status, "application/json; charset=utf-8", self->instance_hdr,
              dc_ui_buf_data(body), dc_ui_buf_size(body));
    dc_ui_buf_destroy(&body);
    return status;
}

static int s_healthz(dc_ui_http_t *self, struct mg_connection *conn, bool head)
{
    dc_ui_view_t view;
    uint64_t seq = dc_ui_hub_view(self->hub, &view);
    int64_t age = dc_ui_poller_wall_ms() - view.ts_ms;
    char text[256];
    int status = 503;
    if (seq == 0)
        snprintf(text, sizeof text, "starting: no snapshot yet\n");
    else if (!view.redis_ok)
        snprintf(text, sizeof text, "redis unreachable: %s\n", view.error);
    else if (age > S_STALE_MS)
        snprintf(text, sizeof text, "stale: last snapshot %lld ms ago\n", (long long)age);
    else {
        status = 200;
        snprintf(text, sizeof text, "ok: redis reachable, snapshot %lld ms old\n", (long long)age);
    }
    return s_text(conn, head, status, NULL, text);
}

static int s_metrics(dc_ui_http_t *self, struct mg_connection *conn, bool head)
{
    dc_ui_view_t view;
    uint64_t seq = dc_ui_hub_view(self->hub, &view);
    int64_t fanout_max = 0;
    int64_t fanout = dc_ui_hub_fanout_us(self->hub, &fanout_max);
    dc_ui_buf_t *body = dc_ui_buf_new();
    if (!body ||
        dc_ui_stats_metrics(&view, dc_ui_poller_wall_ms(), dc_ui_hub_clients(self->hub), seq,
                            body) != 0 ||
        dc_ui_buf_printf(body,
                         "# HELP dockercoins_webui_fanout_seconds Publish to the last viewer's "
                         "write, newest snapshot.\n# TYPE dockercoins_webui_fanout_seconds "
                         "gauge\ndockercoins_webui_fanout_seconds %.6f\n"
                         "# HELP dockercoins_webui_fanout_max_seconds Largest fan-out time "
                         "since start.\n# TYPE dockercoins_webui_fanout_max_seconds gauge\n"
                         "dockercoins_webui_fanout_max_seconds %.6f\n",
                         fanout < 0 ? 0 : (double)fanout / 1e6,
                         fanout_max < 0 ? 0 : (double)fanout_max / 1e6) != 0) {
        dc_ui_buf_destroy(&body);
        return s_text(conn, head, 503, NULL, "out of memory\n");
    }
    s_respond(conn, head, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
              dc_ui_buf_data(body), dc_ui_buf_size(body));
    dc_ui_buf_destroy(&body);
    return 200;
}

static int s_route(dc_ui_http_t *self, struct mg_connection *conn)
{
    const struct mg_request_info *request = mg_get_request_info(conn);
    const char *method = request->request_method ? request->request_method : "";
    const char *path = request->local_uri ? request->local_uri : "";
    bool head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0)
        return s_text(conn, head, 405, "Allow: GET, HEAD\r\n", "method not allowed\n");
    if (strcmp(path, "/events") == 0)
        return s_events(self, conn, head);
    if (strcmp(path, "/json") == 0)
        return s_json(self, conn, head);
    //  /readyz as on every other binary: the webui is ready when it can read Redis
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0)
        return s_healthz(self, conn, head);
    if (strcmp(path, "/metrics") == 0)
        return s_metrics(self, conn, head);
    const dc_ui_asset_t *asset = s_find_asset(path);
    if (asset)
        return s_asset(conn, head, asset);
    return s_text(conn, head, 404, NULL, "not found\n");
}

static int s_handler(struct mg_connection *conn, void *args)
{
    dc_ui_http_t *self = args;
    int status = s_route(self, conn);
    if (self->verbose) {
        const struct mg_request_info *request = mg_get_request_info(conn);
        zsys_debug("dc-webui: %s %s %s -> %d", request->remote_addr, request->request_method,
                   request->local_uri, status);
    }
    return status;
}

static int s_log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    zsys_warning("dc-webui: civetweb: %s", message);
    return 1;
}

//  civetweb's threads notice mg_stop() only when their poll() returns, and
//  it polls in 2 s slices (SOCKET_TIMEOUT_QUANTUM): the master on the
//  listening sockets, a worker on a client that is slow to send its request
//  or to take a response. While mg_stop() runs, this thread interrupts every
//  civetweb thread with S_WAKE_SIGNAL (a no-op handler, so poll() returns
//  EINTR and civetweb checks its stop flag): the master every 20 ms, the
//  workers still alive every 100 ms (idle ones leave on mg_stop's own
//  wake-up; signalling a thousand of them every round would only add
//  context switches to a loaded machine).
static void *s_waker(void *args)
{
    dc_ui_http_t *self = args;
    for (unsigned round = 0; !self->stopped; round++) {
        pthread_mutex_lock(&self->threads_lock);
        for (size_t i = 0; i < self->thread_count; i++)
            if (self->alive[i] && (self->types[i] == 0 || round % 5 == 2))
                pthread_kill(self->threads[i], S_WAKE_SIGNAL);
        pthread_mutex_unlock(&self->threads_lock);
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
    }
    return NULL;
}

//  civetweb calls these in each of its threads as it starts and ends.
static void *s_thread_start(const struct mg_context *context, int thread_type)
{
    dc_ui_http_t *self = mg_get_user_data(context);
    intptr_t slot = 0;
    pthread_mutex_lock(&self->threads_lock);
    if (self->thread_count < self->thread_max) {
        self->threads[self->thread_count] = pthread_self();
        self->alive[self->thread_count] = true;
        self->types[self->thread_count] = thread_type;
        slot = (intptr_t)++self->thread_count;
    }
    pthread_mutex_unlock(&self->threads_lock);
    return (void *)slot;
}

static void s_thread_end(const struct mg_context *context, int thread_type, void *slot)
{
    (void)thread_type;
    dc_ui_http_t *self = mg_get_user_data(context);
    pthread_mutex_lock(&self->threads_lock);
    if (slot)
        self->alive[(intptr_t)slot - 1] = false;
    pthread_mutex_unlock(&self->threads_lock);
}

static void s_wake_handler(int signal_number)
{
    (void)signal_number;
}

static void s_free(dc_ui_http_t *self)
{
    pthread_mutex_destroy(&self->threads_lock);
    free(self->threads);
    free(self->alive);
    free(self->types);
    free(self);
}

dc_ui_http_t *dc_ui_http_new(const dc_ui_http_config_t *config, dc_ui_hub_t *hub,
                             dc_ui_redis_t *redis)
{
    dc_ui_http_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->threads_lock, NULL);
    self->thread_max = (size_t)config->threads + 8; //  workers, master, timer
    self->threads = calloc(self->thread_max, sizeof *self->threads);
    self->alive = calloc(self->thread_max, sizeof *self->alive);
    self->types = calloc(self->thread_max, sizeof *self->types);
    struct sigaction wake = {.sa_handler = s_wake_handler};
    sigemptyset(&wake.sa_mask);
    if (!self->threads || !self->alive || !self->types ||
        sigaction(S_WAKE_SIGNAL, &wake, NULL) != 0) {
        s_free(self);
        return NULL;
    }
    self->hub = hub;
    self->redis = redis;
    self->verbose = config->verbose;
    if (config->instance && *config->instance) {
        snprintf(self->instance, sizeof self->instance, "%s", config->instance);
        snprintf(self->instance_hdr, sizeof self->instance_hdr, "X-Dc-Instance: %s\r\n",
                 self->instance);
    }
    char threads[16];
    snprintf(threads, sizeof threads, "%d", config->threads);
    const char *options[] = {"listening_ports", config->listen, "num_threads", threads,
                             //  one thread per connection: no idle keep-alive holders
                             "enable_keep_alive", "no",
                             //  per read and per stalled write: a connection that
                             //  sends no request within S_REQUEST_TIMEOUT_MS, or a
                             //  viewer that takes nothing for that long, frees its
                             //  thread (so idle connections cannot hold them all)
                             "request_timeout_ms", S_REQUEST_TIMEOUT_MS,
                             //  a thousand viewers may (re)connect at once
                             "listen_backlog", "1024", "connection_queue", "1024", "tcp_nodelay",
                             "1", NULL};
    struct mg_callbacks callbacks;
    memset(&callbacks, 0, sizeof callbacks);
    callbacks.log_message = s_log_message;
    callbacks.init_thread = s_thread_start;
    callbacks.exit_thread = s_thread_end;
    self->context = mg_start(&callbacks, self, options);
    if (!self->context) {
        zsys_error("dc-webui: cannot listen on %s", config->listen);
        s_free(self);
        return NULL;
    }
    mg_set_request_handler(self->context, "/", s_handler, self);
    struct mg_server_port ports[4];
    memset(ports, 0, sizeof ports);
    if (mg_get_server_ports(self->context, 4, ports) > 0)
        self->port = ports[0].port;
    return self;
}

void dc_ui_http_destroy(dc_ui_http_t **self_p)
{
    if (self_p && *self_p) {
        dc_ui_http_t *self = *self_p;
        dc_ui_hub_stop(self->hub);
        pthread_t waker;
        bool waking = pthread_create(&waker, NULL, s_waker, self) == 0;
        mg_stop(self->context);
        self->stopped = true;
        if (waking)
            pthread_join(waker, NULL);
        s_free(self);
        *self_p = NULL;
    }
}

int dc_ui_http_port(dc_ui_http_t *self)
{
    return self->port;
}

//  Test helper: send `request`, return the response up to the end, `limit`
//  bytes or the first `until` (caller frees).
static char *s_fetch(int port, const char *request, size_t limit, const char *until)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    DC_CHECK(connect(fd, (struct sockaddr *)&address, sizeof address) == 0);
    DC_CHECK(write(fd, request, strlen(request)) == (ssize_t)strlen(request));
    char *response = calloc(1, limit + 1);
    size_t size = 0;
    ssize_t got;
    while (size < limit && (got = read(fd, response + size, limit - size)) > 0) {
        size += (size_t)got;
        if (until && strstr(response, until))
            break;
    }
    close(fd);
    return response;
}

void dc_ui_http_test(bool verbose)
{
    if (verbose)
        printf(" * dc_ui_http: ");
    dc_ui_hub_t *hub = dc_ui_hub_new(2);
    dc_ui_redis_t *redis = dc_ui_redis_new("127.0.0.1:1", NULL, 200);
    dc_ui_http_config_t config = {.listen = "127.0.0.1:0", .threads = 8, .instance = "blue-1"};
    dc_ui_http_t *http = dc_ui_http_new(&config, hub, redis);
    DC_CHECK(http && dc_ui_http_port(http) > 0);
    int port = dc_ui_http_port(http);

    char *response = s_fetch(port, "GET /healthz HTTP/1.0\r\n\r\n", 4096, NULL);
    DC_CHECK(strstr(response, "HTTP/1.1 503") && strstr(response, "starting"));
    free(response);
    dc_ui_view_t view;
    memset(&view, 0, sizeof view);
    view.ts_ms = dc_ui_poller_wall_ms();
    view.redis_ok = true;
    dc_ui_hub_publish(hub, &view, "{}", "{\"points\":[]}");
    response = s_fetch(port, "GET /healthz HTTP/1.0\r\n\r\n", 4096, NULL);
    DC_CHECK(strstr(response, "HTTP/1.1 200") && strstr(response, "\r\n\r\nok:"));
    free(response);
    response = s_fetch(port, "HEAD / HTTP/1.0\r\n\r\n", 4096, NULL);
    DC_CHECK(strstr(response, "HTTP/1.1 200") && strstr(response, "text/html"));
    DC_CHECK(strstr(response, "\r\n\r\n")[4] == 0);
    free(response);
    response = s_fetch(port, "POST /json HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 4096, NULL);
    DC_CHECK(strstr(response, "HTTP/1.1 405") && strstr(response, "Allow: GET, HEAD"));
    free(response);
    response = s_fetch(port, "GET /nope HTTP/1.0\r\n\r\n", 4096, NULL);
    DC_CHECK(strstr(response, "HTTP/1.1 404"));
    free(response);
    response = s_fetch(port, "GET /json HTTP/1.0\r\n\r\n", 4096, NULL);
    DC_CHECK(strstr(response, "HTTP/1.1 503") && strstr(response, "redis unreachable"));
    DC_CHECK(strstr(response, "\r\nX-Dc-Instance: blue-1\r\n"));
    free(response);
    //  an SSE stream gets retry, history and the newest snapshot, then ends
    //  when the hub stops
    response = s_fetch(port, "GET /events HTTP/1.0\r\n\r\n", 4096, "id: 1\ndata: {}\n\n");
    DC_CHECK(strstr(response, "text/event-stream") && strstr(response, "retry: 2000\n\n"));
    DC_CHECK(strstr(response, "event: history\ndata: {\"points\":[]}\n\n"));
    DC_CHECK(strstr(response, "id: 1\ndata: {}\n\n"));
    free(response);
    dc_ui_http_destroy(&http);
    dc_ui_http_destroy(&http);
    dc_ui_redis_destroy(&redis);
    dc_ui_hub_destroy(&hub);
    if (verbose)
        printf("OK\n");
}
