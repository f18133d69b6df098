/*  dc_http: the optional health and metrics listener every binary carries:
    /healthz (alive), /readyz (connected to what it needs; false once SIGTERM arrives)
    and /metrics (Prometheus text). The owner pushes state in; civetweb threads only read
    it under a lock, so no pipeline state is shared with them. */
#ifndef DC_HTTP_H_INCLUDED
#define DC_HTTP_H_INCLUDED

#include <stdbool.h>

typedef struct _dc_http_t dc_http_t;

/*  listen: "PORT" or "HOST:PORT". Returns NULL (and logs why) when it cannot listen. */
dc_http_t *dc_http_new(const char *listen);
void dc_http_destroy(dc_http_t **self_p);
void dc_http_set_ready(dc_http_t *self, bool ready, const char *reason);
/*  Replaces the metrics text; takes ownership of *text_p (malloc'd). */
void dc_http_set_metrics(dc_http_t *self, char **text_p);

void dc_http_test(bool verbose);

#endif
