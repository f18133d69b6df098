/*  dc_service: an MDP/0.1 worker (the rng and hasher processes). Strictly one request at
    a time (REP semantics), heartbeats both ways, and it reconnects by itself when the
    broker goes silent or tells it to (a restarted broker forgets its workers). */
#ifndef DC_SERVICE_H_INCLUDED
#define DC_SERVICE_H_INCLUDED

#include "dc_curve.h"
#include "dc_http.h"

#include <czmq.h>

/*  Turns a request body into a reply body (status first); never returns NULL. */
typedef zmsg_t *(dc_service_handler_fn)(zmsg_t *request, bool *error);

typedef struct {
    const char *broker;  /* ">tcp://127.0.0.1:5555" */
    const char *service; /* "rng" or "hasher" */
    int heartbeat_ms;
    int delay_ms; /* artificial time per request, the workshop's 100 ms */
    dc_service_handler_fn *handler;
    dc_http_t *http;
    dc_curve_t *curve; /* NULL: plain TCP */
    bool verbose;
} dc_service_cfg_t;

typedef struct _dc_service_t dc_service_t;

dc_service_t *dc_service_new(const dc_service_cfg_t *cfg);
void dc_service_destroy(dc_service_t **self_p);
/*  Serves until interrupted or "$TERM" on pipe (may be NULL). */
int dc_service_run(dc_service_t *self, zsock_t *pipe);
void dc_service_actor(zsock_t *pipe, void *args);

/*  The two handlers. */
zmsg_t *dc_service_rng(zmsg_t *request, bool *error);
zmsg_t *dc_service_hasher(zmsg_t *request, bool *error);

void dc_service_test(bool verbose);

#endif
