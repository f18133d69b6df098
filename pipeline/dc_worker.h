/*  dc_worker: the miner. Asks the dispatcher for jobs (credit: it holds at most `credit`
    at once), asks rng for random bytes and hasher for their SHA-256 through the broker,
    keeps the digests that start with '0' as coins, sends the result back. One job =
    `batch` loops, done with one rng and one hasher call. */
#ifndef DC_WORKER_H_INCLUDED
#define DC_WORKER_H_INCLUDED

#include "dc_curve.h"
#include "dc_http.h"

#include <czmq.h>

#define DC_WORKER_BYTES 32         /* random bytes per loop, as in the original */
#define DC_WORKER_IN_FLIGHT_MAX 32 /* jobs worked on at once, at most */
#define DC_WORKER_IN_FLIGHT_RAW 4  /* ... by default in raw mode (no pause per job) */

typedef struct {
    const char *broker;
    const char *jobs;    /* ">tcp://127.0.0.1:5556" */
    const char *results; /* ">tcp://127.0.0.1:5557" */
    const char *id;
    const char *track; /* release track named in READY ("stable", "canary"); NULL: stable */
    int credit;        /* jobs held at most (working on one, the others waiting), 1..64;
                          0: twice the lanes that take jobs (in_flight for one-hash jobs,
                          1 for batched ones) */
    int delay_ms;      /* pause per job, the original's sleep(0.1) */
    int in_flight;     /* one-hash jobs worked on at once, each with its own client; 0: 1.
                          Batched jobs (batch > 1) run one at a time */
    int timeout_ms;
    int resend_ms; /* a result not acknowledged by then is sent again; 0: 5 s */
    dc_http_t *http;
    dc_curve_t *curve; /* NULL: plain TCP */
    bool verbose;
} dc_worker_cfg_t;

typedef struct _dc_worker_t dc_worker_t;

dc_worker_t *dc_worker_new(const dc_worker_cfg_t *cfg);
void dc_worker_destroy(dc_worker_t **self_p);
/*  zactor body: args is a dc_worker_cfg_t; started as dc_app_actor_new describes. Works
    until SIGINT/SIGTERM or a message ("$TERM") on the pipe, also in the middle of a job:
    that job is not answered and the dispatcher re-issues it. */
void dc_worker_actor(zsock_t *pipe, void *args);

void dc_worker_test(bool verbose);

#endif
