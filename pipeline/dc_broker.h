/*  dc_broker: a Majordomo (7/MDP, MDP/0.1) broker with 8/MMI, one ROUTER for clients and
    workers. Requests go to the least-recently-used idle worker of their service, or wait
    in a bounded queue. Unlike the Guide's mdbroker it requeues the request of a worker
    that dies, answers every request (503 when the queue is full or nobody served it in
    time), and publishes per-service stats. */
#ifndef DC_BROKER_H_INCLUDED
#define DC_BROKER_H_INCLUDED

#include "dc_curve.h"
#include "dc_http.h"

#include <czmq.h>

typedef struct {
    const char *endpoint;       /* "@tcp://(any):5555" */
    const char *redis;          /* "HOST:PORT", or NULL/"" for no stats in Redis */
    const char *redis_password; /* AUTH, or NULL/"" */
    int heartbeat_ms;           /* a peer is dead after DC_BROKER_LIVENESS silent intervals */
    size_t max_queue;           /* queued requests per service */
    int max_wait_ms;            /* a request queued that long is answered 503 */
    dc_http_t *http;            /* may be NULL */
    dc_curve_t *curve;          /* NULL: plain TCP (tests only) */
    bool verbose;
} dc_broker_cfg_t;

#define DC_BROKER_LIVENESS 3
#define DC_BROKER_SERVICES_MAX 32

typedef struct _dc_broker_t dc_broker_t;

dc_broker_t *dc_broker_new(const dc_broker_cfg_t *cfg);
void dc_broker_destroy(dc_broker_t **self_p);
/*  Runs until interrupted (SIGINT/SIGTERM) or, if pipe is not NULL, "$TERM" on it. */
int dc_broker_run(dc_broker_t *self, zsock_t *pipe);

/*  zactor body: args is a dc_broker_cfg_t. */
void dc_broker_actor(zsock_t *pipe, void *args);

/*  The process a worker belongs to, from its routing id: what precedes the last '/' of a
    printable id (dc_service names its slots "<process>/<slot>.<generation>"), else the
    whole id in hex (any other 7/MDP worker is a process of its own). */
void dc_broker_process_of(zframe_t *identity, char *out, size_t size);

void dc_broker_test(bool verbose);

#endif
