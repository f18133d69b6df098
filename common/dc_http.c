/*  dc_http: a few fixed routes on civetweb. Keep-alive is off and threads are few: this
    is for probes and a Prometheus scraper, not for browsers. */
#include "dc_http.h"
#include "dc_check.h"

#include <assert.h>
#include <civetweb.h>
#include <czmq.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct _dc_http_t {
    struct mg_context *ctx;
    pthread_mutex_t lock;
    bool ready;
    char reason[128];
    char *metrics;
    int port;
    atomic_bool stopped;
};

static int s_reply(struct mg_connection *conn, int status, const char *type, const char *body)
{
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s",
              status, status == 200 ? "OK" : "Service Unavailable", type, strlen(body), body);
    return status;
}

static int s_healthz(struct mg_connection *conn, void *arg)
{
    (void)arg;
    return s_reply(conn, 200, "text/plain", "ok\n");
}

static int s_readyz(struct mg_connection *conn, void *arg)
{
    dc_http_t *self = arg;
    char body[160];
    pthread_mutex_lock(&self->lock);
    bool ready = self->ready;
    snprintf(body, sizeof body, "%s\n", ready ? "ready" : self->reason);
    pthread_mutex_unlock(&self->lock);
    return s_reply(conn, ready ? 200 : 503, "text/plain", body);
}

static int s_metrics(struct mg_connection *conn, void *arg)
{
    dc_http_t *self = arg;
    pthread_mutex_lock(&self->lock);
    char *copy = strdup(self->metrics ? self->metrics : "");
    pthread_mutex_unlock(&self->lock);
    s_reply(conn, 200, "text/plain; version=0.0.4", copy);
    free(copy);
    return 200;
}

static int s_log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    zsys_warning("http: %s", message);
    return 1;
}

dc_http_t *dc_http_new(const char *listen)
{
    dc_http_t *self = calloc(1, sizeof *self);
    assert(self);
    pthread_mutex_init(&self->lock, NULL);
    snprintf(self->reason, sizeof self->reason, "starting");
    const char *options[] = {
        "listening_ports",   listen, "num_threads", "4", "request_timeout_ms", "5000",
        "enable_keep_alive", "no",   NULL};
    struct mg_callbacks callbacks = {.log_message = s_log_message};
    mg_init_library(0);
    self->ctx = mg_start(&callbacks, self, options);
    if (!self->ctx) {
        zsys_error("http: cannot listen on '%s' (port in use or bad address; see --http)", listen);
        dc_http_destroy(&self);
        return NULL;
    }
    mg_set_request_handler(self->ctx, "/healthz$", s_healthz, self);
    mg_set_request_handler(self->ctx, "/readyz$", s_readyz, self);
    mg_set_request_handler(self->ctx, "/metrics$", s_metrics, self);
    zsys_info("http: /healthz /readyz /metrics on %s", listen);
    return self;
}

/*  civetweb's master thread polls its listening socket for up to 2 s before it looks at
    the stop flag (civetweb issue #1163); a connection to ourselves wakes it at once, so
    shutdown stays well under a second. */
static void *s_poke(void *arg)
{
    dc_http_t *self = arg;
    while (!atomic_load(&self->stopped)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)self->port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (fd >= 0) {
            connect(fd, (struct sockaddr *)&addr, sizeof addr);
            close(fd);
        }
        usleep(20000);
    }
    return NULL;
}

static void s_stop(dc_http_t *self)
{
    struct mg_server_port ports[1];
    pthread_t poker;
    bool poking = false;
    if (mg_get_server_ports(self->ctx, 1, ports) == 1) {
        self->port = ports[0].port;
        poking = pthread_create(&poker, NULL, s_poke, self) == 0;
    }
    mg_stop(self->ctx);
    atomic_store(&self->stopped, true);
    if (poking)
        pthread_join(poker, NULL);
}

void dc_http_destroy(dc_http_t **self_p)
{
    if (self_p && *self_p) {
        dc_http_t *self = *self_p;
        if (self->ctx)
            s_stop(self);
        mg_exit_library();
        pthread_mutex_destroy(&self->lock);
        free(self->metrics);
        free(self);
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

/*  Fetches path from 127.0.0.1:port with a raw socket; returns the status code. */
static int s_get(int port, const char *path, char *body, size_t size)
{
    char err[128] = "";
    struct mg_connection *c =
        mg_download("127.0.0.1", port, 0, err, sizeof err, "GET %s HTTP/1.0\r\n\r\n", path);
    if (!c)
        return -1;
    int status = mg_get_response_info(c)->status_code;
    int n = mg_read(c, body, size - 1);
    body[n > 0 ? n : 0] = 0;
    mg_close_connection(c);
    return status;
}

void dc_http_test(bool verbose)
{
    if (verbose)
        printf(" * dc_http: ");
    int port = 0;
    dc_http_t *http = NULL;
    for (int p = 29100; p < 29200 && !http; p++) {
        char listen[32];
        snprintf(listen, sizeof listen, "127.0.0.1:%d", p);
        http = dc_http_new(listen);
        port = p;
    }
    DC_CHECK(http);
    char body[256];
    DC_CHECK(s_get(port, "/healthz", body, sizeof body) == 200);
    DC_CHECK(s_get(port, "/readyz", body, sizeof body) == 503);
    dc_http_set_ready(http, true, NULL);
    DC_CHECK(s_get(port, "/readyz", body, sizeof body) == 200);
    dc_http_set_ready(http, false, "shutting down");
    DC_CHECK(s_get(port, "/readyz", body, sizeof body) == 503 && strstr(body, "shutting down"));
    char *text = strdup("dc_test_total 7\n");
    dc_http_set_metrics(http, &text);
    DC_CHECK(text == NULL);
    DC_CHECK(s_get(port, "/metrics", body, sizeof body) == 200 && strstr(body, "dc_test_total 7"));
    DC_CHECK(s_get(port, "/nope", body, sizeof body) == 404);
    dc_http_destroy(&http);
    dc_http_destroy(&http);
    if (verbose)
        printf("OK\n");
}
