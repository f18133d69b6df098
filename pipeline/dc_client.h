/*  dc_client: an MDP/0.1 client that always gets an answer (the Lazy Pirate pattern):
    no reply within the timeout means the broker is gone, so the socket is replaced and
    the request sent again; a 503 (queue full, nobody free) or 504 (the worker holding it
    passed its deadline) is retried after a pause.
    Replies to an abandoned socket die with it, so a late reply is never mistaken for the
    answer to a later request. */
#ifndef DC_CLIENT_H_INCLUDED
#define DC_CLIENT_H_INCLUDED

#include "dc_curve.h"

#include <czmq.h>

typedef struct _dc_client_t dc_client_t;

typedef struct {
    uint64_t calls, timeouts, unavailable, reconnects;
} dc_client_counters_t;

/*  curve may be NULL (plain TCP). */
dc_client_t *dc_client_new(const char *broker, int timeout_ms, dc_curve_t *curve);
void dc_client_destroy(dc_client_t **self_p);

/*  Calls service with request (not consumed). Returns the reply body, status first, with
    a status other than 503 and 504; NULL only when interrupted. */
zmsg_t *dc_client_call(dc_client_t *self, const char *service, zmsg_t *request);
/*  True once the last call got an answer without timing out. */
bool dc_client_connected(dc_client_t *self);
const dc_client_counters_t *dc_client_counters(dc_client_t *self);

#endif
