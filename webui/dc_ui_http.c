/*  dc_ui_http: the webui's routes on the foundation's civetweb wrapper (dc_http:
    whole responses, keep-alive off, the stop under a second). Every request costs
    one short-lived thread, except /events which keeps its thread until the viewer
    leaves or the hub stops. */
#include "dc_ui_http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <civetweb.h>
#include <czmq.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dc_check.h"
#include "dc_figures.h"
#include "dc_http.h"
#include "dc_ui_assets.h"
#include "dc_ui_poller.h"

#define S_SSE_RETRY_MS 2000
#define S_SSE_PING_MS 5000
#define S_STALE_MS 5000
#define S_REQUEST_TIMEOUT_MS 1000
#define S_BACKLOG 1024 //  a thousand viewers may (re)connect at once

struct _dc_ui_http_t {
    dc_http_t *http;
    dc_ui_hub_t *hub;
    dc_ui_redis_t *redis;
    bool verbose;
    char instance_hdr[96]; //  "X-Dc-Instance: NAME\r\n", or ""
};

//  Sent with every response (dc_http adds "Connection: close"): the page is
//  CSP-strict (no inline script or style, nothing from another origin).
static const char s_common_headers[] =
    "X-Content-Type-Options: nosniff\r\n"
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Cross-Origin-Resource-Policy: same-origin\r\n";

static int s_text(struct mg_connection *conn, bool head, int status, const char *extra,
                  const char *text)
{
    return dc_http_respond(conn, head, status, "text/plain; charset=utf-8", extra, text,
                           strlen(text));
}

static int s_asset(struct mg_connection *conn, bool head, const dc_ui_asset_t *asset)
{
    const char *match = mg_get_header(conn, "If-None-Match");
    char etag[64];
    snprintf(etag, sizeof etag, "ETag: %s\r\n", asset->etag);
    if (match && strcmp(match, asset->etag) == 0)
        return dc_http_respond(conn, true, 304, asset->type, etag, NULL, 0);
    return dc_http_respond(conn, head, 200, asset->type, etag, asset->data, asset->size);
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
static bool s_send(struct mg_connection *conn, const dc_buf_t *buf)
{
    return mg_write(conn, dc_buf_data(buf), dc_buf_size(buf)) == (int)dc_buf_size(buf);
}

//  The stream's opening: retry, then the chart history when there is one.
//  Stores the history's sequence number (0: nothing published yet).
static bool s_stream_open(dc_ui_http_t *self, struct mg_connection *conn, uint64_t *seq_p)
{
    dc_buf_t *history = dc_buf_new();
    dc_buf_t *opening = dc_buf_new();
    *seq_p = dc_ui_hub_history(self->hub, history);
    dc_buf_printf(opening, "retry: %d\n\n", S_SSE_RETRY_MS);
    if (*seq_p)
        dc_buf_printf(opening, "event: history\ndata: %s\n\n", dc_buf_data(history));
    bool alive = s_send(conn, opening);
    dc_buf_destroy(&history);
    dc_buf_destroy(&opening);
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
              "Connection: close\r\nCache-Control: no-cache, no-store\r\n"
              "X-Accel-Buffering: no\r\n\r\n",
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
    dc_buf_t *body = dc_buf_new();
    int status = 200;
    if (dc_ui_redis_totals(self->redis, &coins, hashes, sizeof hashes, error, sizeof error) == 0) {
        int64_t now = dc_ui_poller_wall_ms();
        dc_buf_printf(body, "{\"coins\":%lld,\"hashes\":", coins);
        dc_buf_json_string(body, hashes[0] ? hashes : NULL);
        dc_buf_printf(body, ",\"now\":%lld.%03lld}", (long long)(now / 1000),
                      (long long)(now % 1000));
    } else {
        status = 503;
        dc_buf_printf(body, "{\"error\":");
        char reason[200];
        snprintf(reason, sizeof reason, "redis unreachable: %s", error);
        dc_buf_json_string(body, reason);
        dc_buf_printf(body, "}");
    }
    dc_http_respond(conn, head, status, "application/json; charset=utf-8", self->instance_hdr,
                    dc_buf_data(body), dc_buf_size(body));
    dc_buf_destroy(&body);
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
    dc_buf_t *body = dc_buf_new();
    dc_ui_stats_metrics(&view, dc_ui_poller_wall_ms(), dc_ui_hub_clients(self->hub), seq, body);
    const dc_figure_t figures[] = {
        //  publish to the last viewer's write, newest snapshot; the largest since start
        {NULL, "dc_webui_fanout_seconds", NULL, DC_FIGURE_SECONDS,
         fanout < 0 ? 0 : (double)fanout / 1e6},
        {NULL, "dc_webui_fanout_max_seconds", NULL, DC_FIGURE_SECONDS,
         fanout_max < 0 ? 0 : (double)fanout_max / 1e6},
    };
    dc_figures_metrics(figures, sizeof figures / sizeof *figures, 1, NULL, body);
    dc_http_respond(conn, head, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
                    dc_buf_data(body), dc_buf_size(body));
    dc_buf_destroy(&body);
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

dc_ui_http_t *dc_ui_http_new(const dc_ui_http_config_t *config, dc_ui_hub_t *hub,
                             dc_ui_redis_t *redis)
{
    dc_ui_http_t *self = calloc(1, sizeof *self);
    assert(self);
    self->hub = hub;
    self->redis = redis;
    self->verbose = config->verbose;
    if (config->instance && *config->instance)
        snprintf(self->instance_hdr, sizeof self->instance_hdr, "X-Dc-Instance: %s\r\n",
                 config->instance);
    dc_http_config_t http = {.listen = config->listen,
                             .threads = config->threads,
                             .request_timeout_ms = S_REQUEST_TIMEOUT_MS,
                             .backlog = S_BACKLOG,
                             .headers = s_common_headers,
                             .handler = s_handler,
                             .arg = self};
    self->http = dc_http_new_config(&http);
    if (!self->http) {
        free(self);
        return NULL;
    }
    return self;
}

void dc_ui_http_destroy(dc_ui_http_t **self_p)
{
    if (self_p && *self_p) {
        dc_ui_http_t *self = *self_p;
        dc_ui_hub_stop(self->hub); //  SSE streams end, their threads leave
        dc_http_destroy(&self->http);
        free(self);
        *self_p = NULL;
    }
}

int dc_ui_http_port(dc_ui_http_t *self)
{
    return dc_http_port(self->http);
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
    //  /metrics: the whole text as Prometheus reads it
    response = s_fetch(port, "GET /metrics HTTP/1.0\r\n\r\n", 65536, NULL);
    DC_CHECK(strstr(response, "HTTP/1.1 200") && strstr(response, "\r\n\r\n"));
    DC_CHECK(strstr(response, "\ndc_redis_up 1\n") &&
             strstr(response, "\ndc_webui_fanout_seconds "));
    DC_CHECK(dc_figures_check(strstr(response, "\r\n\r\n") + 4) == NULL);
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
