/*  dc_service: an rng or hasher instance (one process of the service), serving as
    7/MDP (MDP/0.1) workers; the bodies it reads and writes are proto/dc_svc's codec. An
    instance has one or more slots; each slot is a 7/MDP worker of its own to the broker
    (its own DEALER, READY, heartbeats) and holds at most one request at a time (REP
    semantics). rng runs one slot, hasher many (the original's hasher is threaded), so
    the broker counts slots and instances apart. Slots reconnect by themselves when the
    broker goes silent or tells them to (a restarted broker forgets its slots). */
#ifndef DC_SERVICE_H_INCLUDED
#define DC_SERVICE_H_INCLUDED

#include "dc_curve.h"
#include "dc_http.h"

#include <czmq.h>

/*  Turns a request body into a reply body (status first); never returns NULL. */
typedef zmsg_t *(dc_service_handler_fn)(zmsg_t *request, bool *error);

#define DC_SERVICE_SLOTS_MAX 256

typedef struct {
    const char *broker;  /* ">tcp://127.0.0.1:5555" */
    const char *service; /* "rng" or "hasher" */
    int slots;           /* requests served at once, 1..DC_SERVICE_SLOTS_MAX */
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
/*  zactor body: args is a dc_service_cfg_t; started as dc_app_actor_new describes
    (dc-rng's and dc-hasher's main runs it with dc_app_run_actor). Serves until "$TERM"
    on the pipe or SIGINT/SIGTERM. */
void dc_service_actor(zsock_t *pipe, void *args);

/*  The two handlers. */
zmsg_t *dc_service_rng(zmsg_t *request, bool *error);
zmsg_t *dc_service_hasher(zmsg_t *request, bool *error);

/*  The routing id a slot presents to the broker: "<instance>/<slot>.<generation>", where
    <instance> is "<host>-<pid>-<8 hex>" and is the same for every slot of an instance. */
void dc_service_slot_id(const char *instance, int slot, int generation, char *out, size_t size);

void dc_service_test(bool verbose);

#endif
