/*  dc_dispatcher: owns the books. It sends numbered jobs to workers that have credit
    (ROUTER, jobs port), takes their results (ROUTER, results port), counts each job
    exactly once, re-issues jobs whose result is late, and is the only writer of the
    counters to Redis. Invariant, published every second: issued = counted + in_flight. */
#ifndef DC_DISPATCHER_H_INCLUDED
#define DC_DISPATCHER_H_INCLUDED

#include "dc_curve.h"
#include "dc_http.h"

#include <czmq.h>

typedef struct {
    const char *jobs;           /* "@tcp://(any):5556" */
    const char *results;        /* "@tcp://(any):5557" */
    const char *redis;          /* "HOST:PORT" */
    const char *redis_password; /* AUTH, or NULL/"" */
    uint32_t batch;
    int job_timeout_ms;         /* late-job deadline at most (it follows the job latency) */
    int reissue_min_ms;         /* ... and at least */
    size_t window;              /* jobs in flight at most (each worker's credit below that) */
    uint64_t max_pending_coins; /* unwritten coins before new jobs pause */
    dc_http_t *http;
    dc_curve_t *curve; /* NULL: plain TCP */
    bool verbose;
} dc_dispatcher_cfg_t;

typedef struct _dc_dispatcher_t dc_dispatcher_t;

dc_dispatcher_t *dc_dispatcher_new(const dc_dispatcher_cfg_t *cfg);
void dc_dispatcher_destroy(dc_dispatcher_t **self_p);
/*  zactor body: args is a dc_dispatcher_cfg_t; started as dc_app_actor_new describes.
    Runs until "$TERM" on the pipe or SIGINT/SIGTERM; destroying the actor stops the
    dispatcher and writes its last counts. */
void dc_dispatcher_actor(zsock_t *pipe, void *args);

void dc_dispatcher_test(bool verbose);

#endif
