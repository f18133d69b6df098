/*  dc_http: the one civetweb wrapper. Two forms:
    - the probe listener every binary carries (dc_http_new, --http): /healthz (alive),
      /readyz (connected to what it needs; false once SIGTERM arrives) and /metrics
      (Prometheus text). The owner pushes state in; civetweb threads only read it
      under a lock, so no pipeline state is shared with them;
    - a server with the caller's handler for every path (dc_http_new_config: the web
      UI), sized for many long-lived connections.
    Both answer with whole responses (Content-Length, "Connection: close", keep-alive
    off) and stop within a second: civetweb's threads poll in 2 s slices before they
    look at the stop flag, so while mg_stop runs every civetweb thread still alive is
    interrupted with SIGUSR2 (a no-op handler installed here: poll() returns EINTR). */
#ifndef DC_HTTP_H_INCLUDED
#define DC_HTTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

struct mg_connection;
typedef struct _dc_http_t dc_http_t;

/*  Serves one request; returns the HTTP status it sent. */
typedef int(dc_http_handler_fn)(struct mg_connection *conn, void *arg);

typedef struct {
    const char *listen;          /* civetweb listening_ports: "PORT", "HOST:PORT", "8000,9100" */
    int threads;                 /* worker threads, one per open connection (0: 4) */
    int request_timeout_ms;      /* per read and per stalled write (0: 5000) */
    int backlog;                 /* listen backlog and connection queue (0: civetweb's) */
    const char *headers;         /* header lines ("Name: v\r\n") on every response, or NULL */
    dc_http_handler_fn *handler; /* serves every path; NULL: /healthz /readyz /metrics */
    void *arg;                   /* for handler */
} dc_http_config_t;

/*  The probe listener on listen ("PORT" or "HOST:PORT"). Returns NULL (and logs why)
    when it cannot listen. */
dc_http_t *dc_http_new(const char *listen);
/*  A server as config says. Returns NULL (and logs why) when it cannot listen. */
dc_http_t *dc_http_new_config(const dc_http_config_t *config);
/*  Stops serving (under a second, whatever the connections do) and frees. */
void dc_http_destroy(dc_http_t **self_p);
/*  The first port listened on (useful with port 0). */
int dc_http_port(dc_http_t *self);

void dc_http_set_ready(dc_http_t *self, bool ready, const char *reason);
/*  Replaces the metrics text; takes ownership of *text_p (malloc'd). */
void dc_http_set_metrics(dc_http_t *self, char **text_p);

/*  Writes a whole response: status line, Content-Type, Content-Length, the server's
    headers, extra (more header lines, or NULL), "Cache-Control: no-cache", then body
    unless head (a HEAD request). Returns status. */
int dc_http_respond(struct mg_connection *conn, bool head, int status, const char *type,
                    const char *extra, const void *body, size_t size);

/*  Fetches path from 127.0.0.1:port with civetweb's client, for self-tests: the body
    (at most size - 1 bytes, NUL-terminated) in body; returns the status code, or -1
    when it cannot connect. */
int dc_http_get(int port, const char *path, char *body, size_t size);

void dc_http_test(bool verbose);

#endif
