/*  dc_broker: a Majordomo (7/MDP, MDP/0.1) broker with 8/MMI, one ROUTER for clients and
    7/MDP workers. Each 7/MDP worker connection is a slot (one request at a time) of an
    instance of a service (an rng or hasher process: rng has one slot, hasher many).
    Requests go to the least-recently-used idle slot of their service, or wait in a
    bounded queue. Unlike the Guide's mdbroker it requeues the request of a slot that
    dies, answers every request (503 when the queue is full or nobody served it in time,
    504 past its deadline), and publishes per-service stats (proto/dc_stats.h). A busy
    slot that never heartbeats while busy (the reference worker) is given until the
    request's deadline; a busy slot whose TCP connection closed is found within a
    second. */
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
    int request_timeout_ms;     /* a request unanswered that long after it came: 504 */
    int service_ttl_ms;         /* a service without slots and queue is forgotten then */
    dc_http_t *http;            /* may be NULL */
    dc_curve_t *curve;          /* NULL: plain TCP (tests only) */
    bool verbose;
} dc_broker_cfg_t;

#define DC_BROKER_LIVENESS 3
#define DC_BROKER_HEARTBEAT_MS 2500 /* the 7/MDP reference implementations' */
#define DC_BROKER_SERVICE_TTL_MS 10000
/*  A HEARTBEAT that arrives this soon after the broker sent the slot a request may
    have been sent before the slot saw it: it does not count as one sent while busy. */
#define DC_BROKER_CROSSING_MS 50
/*  A slot holding a request that long is probed (see dc_broker.c). */
#define DC_BROKER_PROBE_MS 250
#define DC_BROKER_STATUS_TIMEOUT 504 /* proto/services.md: the request passed its deadline */
#define DC_BROKER_SERVICES_MAX 32

typedef struct _dc_broker_t dc_broker_t;

dc_broker_t *dc_broker_new(const dc_broker_cfg_t *cfg);
void dc_broker_destroy(dc_broker_t **self_p);
/*  zactor body: args is a dc_broker_cfg_t; started as dc_app_actor_new describes
    (dc-broker's main runs it with dc_app_run_actor). Runs until "$TERM" on the pipe or
    SIGINT/SIGTERM. */
void dc_broker_actor(zsock_t *pipe, void *args);

/*  The instance a slot belongs to, from its routing id: what precedes the last '/' of a
    printable id (dc_service names its slots "<instance>/<slot>.<generation>"), else the
    whole id in hex (any other 7/MDP worker is an instance of its own). */
void dc_broker_instance_of(zframe_t *identity, char *out, size_t size);

void dc_broker_test(bool verbose);

#endif
