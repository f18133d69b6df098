/*  dc_client: an MDP/0.1 client that always gets an answer (the Lazy Pirate pattern):
    no reply within the timeout means the broker is gone, so the socket is replaced and
    the request sent again; a 503 (queue full, nobody free) or 504 (the slot holding it
    passed its deadline) is retried after a pause.
    Replies to an abandoned socket die with it, so a late reply is never mistaken for the
    answer to a later request.
    A call is driven step by step by the caller's own wait (dc_client_send /
    dc_client_step: each of the worker's lanes), or blocks the caller (dc_client_call,
    the same steps in a loop of its own: self-tests). */
#ifndef DC_CLIENT_H_INCLUDED
#define DC_CLIENT_H_INCLUDED

#include "dc_curve.h"
#include "dc_drops.h"

#include <czmq.h>

typedef struct _dc_client_t dc_client_t;

typedef struct {
    uint64_t calls, timeouts, unavailable, reconnects;
} dc_client_counters_t;

/*  broker: ">tcp://127.0.0.1:5555"; no reply within timeout_ms: reconnect and send
    again; curve may be NULL (plain TCP). */
dc_client_t *dc_client_new(const char *broker, int timeout_ms, dc_curve_t *curve);
void dc_client_destroy(dc_client_t **self_p);

/*  From now on replies the client refuses are counted and logged by drops (not owned:
    the owner's, e.g. the worker's, so they show in its dc_worker_dropped_total as
    message "reply"); NULL: the client's own (role "client"), the default. */
void dc_client_set_drops(dc_client_t *self, dc_drops_t *drops);

/*  A call without blocking (a worker keeping several calls in flight, one client each):
    dc_client_send starts a call (the request stays the caller's and must live until the
    call is complete: it is sent again from it); then, whenever
    dc_client_socket is readable or dc_client_wake_ms (monotonic ms; INT64_MAX when no
    call is in progress) has passed, dc_client_step reads what arrived and does what is
    due (resend after a 503/504 pause; after the timeout, reconnect and resend). It
    returns the reply body (status first, never 503 or 504) once the call is complete,
    else NULL. The socket changes when the client reconnects: take it again after each
    step. Replies that arrive while no call waits are counted as drops. */
void dc_client_send(dc_client_t *self, const char *service, zmsg_t *request);
zmsg_t *dc_client_step(dc_client_t *self);
zsock_t *dc_client_socket(dc_client_t *self);
int64_t dc_client_wake_ms(dc_client_t *self);

/*  Calls service with request (not consumed), blocking. Returns the reply body, status
    first, with a status other than 503 and 504; NULL only when interrupted (SIGINT/SIGTERM). */
zmsg_t *dc_client_call(dc_client_t *self, const char *service, zmsg_t *request);
/*  True once the last call got an answer without timing out. */
bool dc_client_connected(dc_client_t *self);
const dc_client_counters_t *dc_client_counters(dc_client_t *self);

void dc_client_test(bool verbose);

#endif
