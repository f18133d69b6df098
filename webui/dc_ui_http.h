/*  dc_ui_http: the civetweb server. Routes (GET and HEAD only):
      /, /index.html, /app.js, /app.css, /chart.min.js, /favicon.ico
                 the embedded page
      /events    Server-Sent Events: retry, one history event for the chart,
                 then one snapshot per second with an id
      /json      the original's {"coins", "hashes", "now"} (live Redis read)
      /healthz, /readyz
                 200 when the last poll reached Redis, 503 with the reason
      /metrics   Prometheus text
    civetweb gives each connection a thread for its whole life, so an SSE
    viewer holds one: the pool is sized for the viewers promised, and viewers
    past (threads - reserve) get 503 so /healthz and /json keep answering. */
#ifndef DC_UI_HTTP_H
#define DC_UI_HTTP_H

#include <stdbool.h>

#include "dc_ui_hub.h"
#include "dc_ui_redis.h"

typedef struct _dc_ui_http_t dc_ui_http_t;

typedef struct {
    const char *listen;   //  civetweb listening_ports: "8000", "127.0.0.1:0", "8000,9100"
    int threads;          //  civetweb worker threads
    bool verbose;         //  log every request
    const char *instance; //  names this replica in /json's X-Dc-Instance header; NULL: none
} dc_ui_http_config_t;

//  Start serving (dc_http_new_config); NULL (after logging why) when civetweb
//  cannot start, e.g. the port is taken. dc_http installs a no-op SIGUSR2
//  handler: stopping uses that signal to cut civetweb's 2 s poll() slices short.
dc_ui_http_t *dc_ui_http_new(const dc_ui_http_config_t *config, dc_ui_hub_t *hub,
                             dc_ui_redis_t *redis);

//  Stop the hub (so SSE streams end), stop civetweb, free, NULL the caller's
//  pointer; safe on NULL.
void dc_ui_http_destroy(dc_ui_http_t **self_p);

//  The first port actually listened on (useful with port 0).
int dc_ui_http_port(dc_ui_http_t *self);

//  Self-test: serve on an ephemeral loopback port and ask it things.
void dc_ui_http_test(bool verbose);

#endif
