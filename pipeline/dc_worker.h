/*  dc_worker: the miner. Asks the dispatcher for jobs (credit: it holds at most `credit`
    at once), asks rng for random bytes and hasher for their SHA-256 through the broker,
    keeps the digests that start with '0' as coins, sends the result back. One job =
    `batch` loops, done with one rng and one hasher call. */
#ifndef DC_WORKER_H_INCLUDED
#define DC_WORKER_H_INCLUDED

#include "dc_curve.h"
#include "dc_http.h"

#include <czmq.h>

#define DC_WORKER_BYTES 32 /* random bytes per loop, as in the original */

typedef struct {
    const char *broker;
    const char *jobs;    /* ">tcp://127.0.0.1:5556" */
    const char *results; /* ">tcp://127.0.0.1:5557" */
    const char *id;
    const char *track; /* release track named in READY ("stable", "canary"); NULL: stable */
    int credit;        /* jobs held at most (working on one, the others waiting), 1..64 */
    int delay_ms;      /* pause per job, the original's sleep(0.1) */
    int timeout_ms;
    dc_http_t *http;
    dc_curve_t *curve; /* NULL: plain TCP */
    bool verbose;
} dc_worker_cfg_t;

typedef struct _dc_worker_t dc_worker_t;

dc_worker_t *dc_worker_new(const dc_worker_cfg_t *cfg);
void dc_worker_destroy(dc_worker_t **self_p);
/*  Works until interrupted. */
int dc_worker_run(dc_worker_t *self);

#endif
