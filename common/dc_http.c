/*  dc_http: see the header. civetweb calls back into this file from its own threads:
    the probe handlers read the owner's state under the lock, and every thread is
    recorded as it starts so that stopping can interrupt its poll(). */
#include "dc_http.h"
#include "dc_check.h"

#include <assert.h>
#include <civetweb.h>
#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define DC_HTTP_WAKE_SIGNAL SIGUSR2
#define DC_HTTP_WAKE_MS 20     /* the master is interrupted this often while stopping */
#define DC_HTTP_WAKE_WORKERS 5 /* workers every fifth round (100 ms) */

struct _dc_http_t {
    struct mg_context *ctx;
    char *headers; /* sent with every response */
    int port;
    /* the probe form's state, read by civetweb threads under the lock */
    pthread_mutex_t lock;
    bool ready;
    char reason[128];
    char *metrics;
    /* civetweb's threads, so that stopping can interrupt their poll() */
    pthread_mutex_t threads_lock;
    pthread_t *threads;
    bool *alive;
    int *types; /* civetweb's thread_type: 0 master, 1 worker, 2 timer */
    size_t thread_count, thread_max;
    atomic_bool stopped; /* mg_stop has returned */
};

static const char *s_status_text(int status)
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

int dc_http_respond(struct mg_connection *conn, bool head, int status, const char *type,
                    const char *extra, const void *body, size_t size)
{
    dc_http_t *self = mg_get_user_data(mg_get_context(conn));
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s"
              "Connection: close\r\nCache-Control: no-cache\r\n\r\n",
              status, s_status_text(status), type, size, self->headers, extra ? extra : "");
    if (!head && size > 0)
        mg_write(conn, body, size);
    return status;
}

static bool s_head(struct mg_connection *conn)
{
    const char *method = mg_get_request_info(conn)->request_method;
    return method && streq(method, "HEAD");
}

static int s_text(struct mg_connection *conn, int status, const char *type, const char *body)
{
    return dc_http_respond(conn, s_head(conn), status, type, NULL, body, strlen(body));
}

static int s_healthz(struct mg_connection *conn, void *arg)
{
    (void)arg;
    return s_text(conn, 200, "text/plain", "ok\n");
}

static int s_readyz(struct mg_connection *conn, void *arg)
{
    dc_http_t *self = arg;
    char body[160];
    pthread_mutex_lock(&self->lock);
    bool ready = self->ready;
    snprintf(body, sizeof body, "%s\n", ready ? "ready" : self->reason);
    pthread_mutex_unlock(&self->lock);
    return s_text(conn, ready ? 200 : 503, "text/plain", body);
}

static int s_metrics(struct mg_connection *conn, void *arg)
{
    dc_http_t *self = arg;
    pthread_mutex_lock(&self->lock);
    char *copy = strdup(self->metrics ? self->metrics : "");
    pthread_mutex_unlock(&self->lock);
    assert(copy);
    s_text(conn, 200, "text/plain; version=0.0.4", copy);
    free(copy);
    return 200;
}

static int s_log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    zsys_warning("http: %s", message);
    return 1;
}

/*  civetweb calls these in each of its threads as it starts and ends. */
static void *s_thread_start(const struct mg_context *ctx, int thread_type)
{
    dc_http_t *self = mg_get_user_data(ctx);
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

static void s_thread_end(const struct mg_context *ctx, int thread_type, void *slot)
{
    (void)thread_type;
    dc_http_t *self = mg_get_user_data(ctx);
    pthread_mutex_lock(&self->threads_lock);
    if (slot)
        self->alive[(intptr_t)slot - 1] = false;
    pthread_mutex_unlock(&self->threads_lock);
}

static void s_wake_handler(int signal_number)
{
    (void)signal_number;
}

static void s_free(dc_http_t *self)
{
    pthread_mutex_destroy(&self->lock);
    pthread_mutex_destroy(&self->threads_lock);
    free(self->threads);
    free(self->alive);
    free(self->types);
    free(self->headers);
    free(self->metrics);
    free(self);
}

dc_http_t *dc_http_new_config(const dc_http_config_t *config)
{
    dc_http_t *self = calloc(1, sizeof *self);
    assert(self);
    pthread_mutex_init(&self->lock, NULL);
    pthread_mutex_init(&self->threads_lock, NULL);
    snprintf(self->reason, sizeof self->reason, "starting");
    self->headers = strdup(config->headers ? config->headers : "");
    int threads = config->threads > 0 ? config->threads : 4;
    self->thread_max = (size_t)threads + 8; /* workers, master, timer */
    self->threads = calloc(self->thread_max, sizeof *self->threads);
    self->alive = calloc(self->thread_max, sizeof *self->alive);
    self->types = calloc(self->thread_max, sizeof *self->types);
    assert(self->headers && self->threads && self->alive && self->types);
    struct sigaction wake = {.sa_handler = s_wake_handler};
    sigemptyset(&wake.sa_mask);
    sigaction(DC_HTTP_WAKE_SIGNAL, &wake, NULL);

    char threads_text[16], timeout[16], backlog[16];
    snprintf(threads_text, sizeof threads_text, "%d", threads);
    snprintf(timeout, sizeof timeout, "%d",
             config->request_timeout_ms > 0 ? config->request_timeout_ms : 5000);
    snprintf(backlog, sizeof backlog, "%d", config->backlog);
    /* keep-alive off: one thread per connection, no idle keep-alive holders; the
       request timeout frees the thread of a connection that sends no request in time,
       or takes nothing for that long */
    const char *options[16] = {"listening_ports",    config->listen, "num_threads", threads_text,
                               "enable_keep_alive",  "no",           "tcp_nodelay", "1",
                               "request_timeout_ms", timeout};
    size_t count = 10;
    if (config->backlog > 0) {
        options[count++] = "listen_backlog";
        options[count++] = backlog;
        options[count++] = "connection_queue";
        options[count++] = backlog;
    }
    struct mg_callbacks callbacks = {
        .log_message = s_log_message, .init_thread = s_thread_start, .exit_thread = s_thread_end};
    mg_init_library(0);
    self->ctx = mg_start(&callbacks, self, options);
    if (!self->ctx) {
        zsys_error("http: cannot listen on '%s' (port in use or bad address; see --http)",
                   config->listen);
        dc_http_destroy(&self);
        return NULL;
    }
    if (config->handler)
        mg_set_request_handler(self->ctx, "/", config->handler, config->arg);
    else {
        mg_set_request_handler(self->ctx, "/healthz$", s_healthz, self);
        mg_set_request_handler(self->ctx, "/readyz$", s_readyz, self);
        mg_set_request_handler(self->ctx, "/metrics$", s_metrics, self);
    }
    struct mg_server_port ports[4];
    memset(ports, 0, sizeof ports);
    if (mg_get_server_ports(self->ctx, 4, ports) > 0)
        self->port = ports[0].port;
    return self;
}

dc_http_t *dc_http_new(const char *listen)
{
    dc_http_t *self = dc_http_new_config(&(dc_http_config_t){.listen = listen});
    if (self)
        zsys_info("http: /healthz /readyz /metrics on %s", listen);
    return self;
}

int dc_http_port(dc_http_t *self)
{
    return self->port;
}

/*  While mg_stop runs: interrupts the master every DC_HTTP_WAKE_MS and the workers
    still alive every DC_HTTP_WAKE_WORKERS rounds (idle ones leave on mg_stop's own
    wake-up; signalling a thousand of them every round would only add context
    switches to a loaded machine). */
static void *s_waker(void *arg)
{
    dc_http_t *self = arg;
    for (unsigned round = 0; !atomic_load(&self->stopped); round++) {
        pthread_mutex_lock(&self->threads_lock);
        for (size_t i = 0; i < self->thread_count; i++)
            if (self->alive[i] && (self->types[i] == 0 || round % DC_HTTP_WAKE_WORKERS == 2))
                pthread_kill(self->threads[i], DC_HTTP_WAKE_SIGNAL);
        pthread_mutex_unlock(&self->threads_lock);
        nanosleep(&(struct timespec){0, DC_HTTP_WAKE_MS * 1000000L}, NULL);
    }
    return NULL;
}

void dc_http_destroy(dc_http_t **self_p)
{
    if (self_p && *self_p) {
        dc_http_t *self = *self_p;
        if (self->ctx) {
            pthread_t waker;
            bool waking = pthread_create(&waker, NULL, s_waker, self) == 0;
            mg_stop(self->ctx);
            atomic_store(&self->stopped, true);
            if (waking)
                pthread_join(waker, NULL);
        }
        mg_exit_library();
        s_free(self);
        *self_p = NULL;
    }
}

void dc_http_set_ready(dc_http_t *self, bool ready, const char *reason)
{
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->ready = ready;
    snprintf(self->reason, sizeof self->reason, "%s", reason ? reason : "not ready");
    pthread_mutex_unlock(&self->lock);
}

void dc_http_set_metrics(dc_http_t *self, char **text_p)
{
    if (!self) {
        free(*text_p);
        *text_p = NULL;
        return;
    }
    pthread_mutex_lock(&self->lock);
    free(self->metrics);
    self->metrics = *text_p;
    *text_p = NULL;
    pthread_mutex_unlock(&self->lock);
}

int dc_http_get(int port, const char *path, char *body, size_t size)
{
    char err[128] = "";
    struct mg_connection *c =
        mg_download("127.0.0.1", port, 0, err, sizeof err, "GET %s HTTP/1.0\r\n\r\n", path);
    if (!c)
        return -1;
    int status = mg_get_response_info(c)->status_code;
    size_t got = 0;
    int n;
    while (got < size - 1 && (n = mg_read(c, body + got, size - 1 - got)) > 0)
        got += (size_t)n;
    body[got] = 0;
    mg_close_connection(c);
    return status;
}

/*  A connection that sends half a request and waits: it holds a civetweb thread in
    its poll() until stopping interrupts it. Returns the socket. */
static int s_half_request(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    DC_CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    DC_CHECK(write(fd, "GET /hea", 8) == 8);
    return fd;
}

/*  Answers with the path it was asked for. */
static int s_test_handler(struct mg_connection *conn, void *arg)
{
    (void)arg;
    const char *path = mg_get_request_info(conn)->local_uri;
    return dc_http_respond(conn, false, 200, "text/plain", "X-Test: 1\r\n", path, strlen(path));
}

void dc_http_test(bool verbose)
{
    if (verbose)
        printf(" * dc_http: ");
    /* the probe form */
    dc_http_t *http = dc_http_new("127.0.0.1:0");
    DC_CHECK(http && dc_http_port(http) > 0);
    int port = dc_http_port(http);
    char body[256];
    DC_CHECK(dc_http_get(port, "/healthz", body, sizeof body) == 200);
    DC_CHECK(dc_http_get(port, "/readyz", body, sizeof body) == 503);
    dc_http_set_ready(http, true, NULL);
    DC_CHECK(dc_http_get(port, "/readyz", body, sizeof body) == 200);
    dc_http_set_ready(http, false, "shutting down");
    DC_CHECK(dc_http_get(port, "/readyz", body, sizeof body) == 503 &&
             strstr(body, "shutting down"));
    char *text = strdup("dc_test_total 7\n");
    dc_http_set_metrics(http, &text);
    DC_CHECK(text == NULL);
    DC_CHECK(dc_http_get(port, "/metrics", body, sizeof body) == 200 &&
             strstr(body, "dc_test_total 7"));
    DC_CHECK(dc_http_get(port, "/nope", body, sizeof body) == 404);
    /* a second listener on a port in use: refused */
    char taken[32];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", port);
    DC_CHECK(dc_http_new(taken) == NULL);
    /* stopping takes well under civetweb's 2 s poll slice, a half-sent request open */
    int fd = s_half_request(port);
    int64_t start = zclock_mono();
    dc_http_destroy(&http);
    DC_CHECK(zclock_mono() - start < 1000);
    close(fd);
    dc_http_destroy(&http);

    /* the handler form: every path to the handler, the server's headers on each */
    dc_http_config_t config = {.listen = "127.0.0.1:0",
                               .threads = 2,
                               .request_timeout_ms = 1000,
                               .backlog = 16,
                               .headers = "X-Server: dc\r\n",
                               .handler = s_test_handler};
    http = dc_http_new_config(&config);
    DC_CHECK(http);
    port = dc_http_port(http);
    char err[128];
    struct mg_connection *c =
        mg_download("127.0.0.1", port, 0, err, sizeof err, "GET /any/path HTTP/1.0\r\n\r\n");
    DC_CHECK(c && mg_get_response_info(c)->status_code == 200);
    const struct mg_response_info *info = mg_get_response_info(c);
    bool server = false, extra = false;
    for (int i = 0; i < info->num_headers; i++) {
        server |= streq(info->http_headers[i].name, "X-Server");
        extra |= streq(info->http_headers[i].name, "X-Test");
    }
    DC_CHECK(server && extra);
    int n = mg_read(c, body, sizeof body - 1);
    DC_CHECK(n == 9 && memcmp(body, "/any/path", 9) == 0);
    mg_close_connection(c);
    fd = s_half_request(port);
    start = zclock_mono();
    dc_http_destroy(&http);
    DC_CHECK(zclock_mono() - start < 1000);
    close(fd);
    if (verbose)
        printf("OK\n");
}
