/*  dc_stats: the live stats the pipeline writes to Redis and the web UI reads, by name.
    Every key is a hash rewritten once a second with a DC_STATS_TTL_S expiry (a stage
    that stops reporting disappears); every value is a decimal integer string.

    Writers: the broker (dc:stats:<service> for each service, dc:stats:broker) and the
    dispatcher (dc:stats:dispatcher, dc:stats:worker, dc:stats:tracks). Readers:
    webui/dc_ui_redis.c fetches, webui/dc_ui_stats.c reads the fields.
    The writers and the reader spell no key or field as a string literal: they use these
    names, and the DC_STATS_*_FIELDS lists say which fields each hash holds. docs/runtime.md's stats
    table lists the same fields (a test checks it, and that a real pipeline writes
    every field listed here).

    Words: an instance is one process of a role; a slot is one 7/MDP worker connection
    of an rng or hasher instance (one request at a time); the workers are the miners.

    A latency is written twice, in milliseconds and in microseconds (raw mode takes well
    under a millisecond): DC_STATS_MS(stem) and DC_STATS_US(stem) name the two fields. */
#ifndef DC_STATS_H_INCLUDED
#define DC_STATS_H_INCLUDED

#include <czmq.h>

#define DC_STATS_TTL_S 10

/*  Keys. A service's key is DC_STATS_KEY_PREFIX followed by its name (dc:stats:rng). */
#define DC_STATS_KEY_PREFIX "dc:stats:"
#define DC_STATS_KEY_BROKER DC_STATS_KEY_PREFIX "broker"
#define DC_STATS_KEY_DISPATCHER DC_STATS_KEY_PREFIX "dispatcher"
#define DC_STATS_KEY_WORKER DC_STATS_KEY_PREFIX "worker"
#define DC_STATS_KEY_TRACKS DC_STATS_KEY_PREFIX "tracks"

#define DC_STATS_MS(stem) stem "_ms"
#define DC_STATS_US(stem) stem "_us"

/*  In every hash: wall-clock milliseconds since the epoch when the writer wrote it. */
#define DC_STATS_TS_MS "ts_ms"

/*  dc:stats:<service> (rng, hasher, any service with slots), by the broker. A service
    that has had no slots and an empty queue for 10 s is no longer written. */
#define DC_STATS_SVC_SLOTS "slots"               /* slots registered now */
#define DC_STATS_SVC_INSTANCES "instances"       /* instances with a slot registered now */
#define DC_STATS_SVC_IDLE "idle"                 /* slots waiting for a request now */
#define DC_STATS_SVC_BUSY_PCT "busy_pct"         /* % of slot time spent on requests, last 1 s */
#define DC_STATS_SVC_DEMAND_PCT "demand_pct"     /* % of a slot: served + queued, last 1 s */
#define DC_STATS_SVC_QUEUE "queue"               /* requests waiting for a slot now */
#define DC_STATS_SVC_QUEUE_MAX "queue_max"       /* deepest queue over the last 1 s */
#define DC_STATS_SVC_SERVED "served"             /* requests answered by a slot, total */
#define DC_STATS_SVC_SERVED_PER_S "served_per_s" /* requests answered per s, last 1 s */
#define DC_STATS_SVC_ERRORS "errors"             /* error replies (503, 504) sent, total */
#define DC_STATS_SVC_WAIT_P50 "wait_p50"         /* queue wait, median of the last 10 s */
#define DC_STATS_SVC_WAIT_P99 "wait_p99"         /* queue wait, 99th percentile */
#define DC_STATS_SVC_SERVICE_P50 "svc_p50"       /* time a slot spent on a request, median */
#define DC_STATS_SVC_SERVICE_P99 "svc_p99"       /* the same, 99th percentile */

/*  dc:stats:broker, by the broker: counters since it started, and its CPU. */
#define DC_STATS_BROKER_CPU_PCT "cpu_pct"   /* % of one core over the last 1 s (can pass 100) */
#define DC_STATS_BROKER_REQUESTS "requests" /* client requests received */
#define DC_STATS_BROKER_REPLIES "replies"   /* replies sent to clients */
#define DC_STATS_BROKER_DROPS "drops"       /* malformed or unexpected messages dropped */
#define DC_STATS_BROKER_REQUEUED "requeued" /* requests requeued when their slot left */
#define DC_STATS_BROKER_EXPIRED_SLOTS "expired_slots"       /* slots silent past 3 heartbeats */
#define DC_STATS_BROKER_UNROUTABLE "unroutable"             /* messages the ROUTER could not send */
#define DC_STATS_BROKER_LOST_SLOTS "lost_slots"             /* slots whose connection was closed */
#define DC_STATS_BROKER_REQUEST_TIMEOUTS "request_timeouts" /* requests answered 504 */
#define DC_STATS_BROKER_LATE_REPLIES "late_replies" /* replies from forgotten slots, dropped */
#define DC_STATS_BROKER_AUTH_REFUSED "auth_refused" /* CURVE handshakes refused */

/*  dc:stats:dispatcher, by the dispatcher: its books (jobs, results), totals unless said. */
#define DC_STATS_DISP_ISSUED "issued"                 /* jobs handed to workers */
#define DC_STATS_DISP_COUNTED "counted"               /* results counted */
#define DC_STATS_DISP_IN_FLIGHT "in_flight"           /* jobs awaiting their result now */
#define DC_STATS_DISP_OLDEST_MS "oldest_ms"           /* ms the oldest job in flight has waited */
#define DC_STATS_DISP_REISSUED "reissued"             /* jobs issued again past the deadline */
#define DC_STATS_DISP_DUPLICATES "duplicates"         /* results of a job counted already */
#define DC_STATS_DISP_STALE "stale"                   /* results of no job of this dispatcher */
#define DC_STATS_DISP_DROPS "drops"                   /* malformed messages dropped */
#define DC_STATS_DISP_HASHES "hashes"                 /* hashes counted */
#define DC_STATS_DISP_COINS "coins"                   /* coins counted */
#define DC_STATS_DISP_HASHES_PER_S "hashes_per_s"     /* hashes counted per s, last 1 s */
#define DC_STATS_DISP_BATCH "batch"                   /* hashes per job (--batch) */
#define DC_STATS_DISP_WINDOW "window"                 /* jobs in flight allowed (--window) */
#define DC_STATS_DISP_LATE_MS "late_ms"               /* the re-issue deadline now, ms */
#define DC_STATS_DISP_CONNECTIONS "connections"       /* workers' job connections known now */
#define DC_STATS_DISP_CHECKS "checks"                 /* results handed to a ledger check */
#define DC_STATS_DISP_RECOVERED_JOBS "recovered_jobs" /* counted by a check */
#define DC_STATS_DISP_RECOVERED_HASHES "recovered_hashes" /* their hashes */
#define DC_STATS_DISP_RECOVERED_COINS "recovered_coins"   /* their coins */
#define DC_STATS_DISP_REFUSED_CHECKS "refused_checks"     /* checks Redis refused */
#define DC_STATS_DISP_ACKED "acked"                       /* results acknowledged durable */
#define DC_STATS_DISP_UNACKED "unacked"                   /* accepted, awaiting durability now */
#define DC_STATS_DISP_BOOKS_LOST "books_lost"             /* times Redis lost the books under it */
#define DC_STATS_DISP_BOOKS_LOST_MS "books_lost_ms"       /* wall clock ms of the newest, 0: none */

/*  dc:stats:worker, by the dispatcher from the results it gets: the miners. */
#define DC_STATS_WORKER_WORKERS "workers"       /* workers with a result in the last 5 s */
#define DC_STATS_WORKER_JOBS_PER_S "jobs_per_s" /* results counted per s, last 1 s */
#define DC_STATS_WORKER_LOOP_P50 "loop_p50"     /* one job: pause, rng, hasher; median */
#define DC_STATS_WORKER_LOOP_P99 "loop_p99"     /* the same, 99th percentile */
#define DC_STATS_WORKER_RNG_P50 "rng_p50"       /* a job's rng call (retries included), median */
#define DC_STATS_WORKER_HASHER_P50 "hasher_p50" /* a job's hasher call, median */

/*  dc:stats:tracks, by the dispatcher: per release track T (the workers' --track, at most
    8), a field DC_STATS_TRACKS_HASHES T and one DC_STATS_TRACKS_RECENT T; then these. */
#define DC_STATS_TRACKS_HASHES "hashes."    /* + T: hashes counted for T's workers, total */
#define DC_STATS_TRACKS_RECENT "recent."    /* + T: of those, over the last window_s snapshots */
#define DC_STATS_TRACKS_WINDOW_S "window_s" /* snapshots (s) behind recent. */
#define DC_STATS_TRACKS_UNTRACKED_HASHES "untracked_hashes" /* hashes of tracks past the 8th */

/*  The fields of each hash: F(name) for a field, L(stem) for a latency written as
    DC_STATS_MS(stem) and DC_STATS_US(stem). */
#define DC_STATS_SVC_FIELDS(F, L)                                                                  \
    F(DC_STATS_SVC_SLOTS)                                                                          \
    F(DC_STATS_SVC_INSTANCES)                                                                      \
    F(DC_STATS_SVC_IDLE)                                                                           \
    F(DC_STATS_SVC_BUSY_PCT)                                                                       \
    F(DC_STATS_SVC_DEMAND_PCT)                                                                     \
    F(DC_STATS_SVC_QUEUE)                                                                          \
    F(DC_STATS_SVC_QUEUE_MAX)                                                                      \
    F(DC_STATS_SVC_SERVED)                                                                         \
    F(DC_STATS_SVC_SERVED_PER_S)                                                                   \
    F(DC_STATS_SVC_ERRORS)                                                                         \
    L(DC_STATS_SVC_WAIT_P50)                                                                       \
    L(DC_STATS_SVC_WAIT_P99)                                                                       \
    L(DC_STATS_SVC_SERVICE_P50)                                                                    \
    L(DC_STATS_SVC_SERVICE_P99)                                                                    \
    F(DC_STATS_TS_MS)

#define DC_STATS_BROKER_FIELDS(F, L)                                                               \
    F(DC_STATS_BROKER_CPU_PCT)                                                                     \
    F(DC_STATS_BROKER_REQUESTS)                                                                    \
    F(DC_STATS_BROKER_REPLIES)                                                                     \
    F(DC_STATS_BROKER_DROPS)                                                                       \
    F(DC_STATS_BROKER_REQUEUED)                                                                    \
    F(DC_STATS_BROKER_EXPIRED_SLOTS)                                                               \
    F(DC_STATS_BROKER_UNROUTABLE)                                                                  \
    F(DC_STATS_BROKER_LOST_SLOTS)                                                                  \
    F(DC_STATS_BROKER_REQUEST_TIMEOUTS)                                                            \
    F(DC_STATS_BROKER_LATE_REPLIES)                                                                \
    F(DC_STATS_BROKER_AUTH_REFUSED)                                                                \
    F(DC_STATS_TS_MS)

#define DC_STATS_DISPATCHER_FIELDS(F, L)                                                           \
    F(DC_STATS_DISP_ISSUED)                                                                        \
    F(DC_STATS_DISP_COUNTED)                                                                       \
    F(DC_STATS_DISP_IN_FLIGHT)                                                                     \
    F(DC_STATS_DISP_OLDEST_MS)                                                                     \
    F(DC_STATS_DISP_REISSUED)                                                                      \
    F(DC_STATS_DISP_DUPLICATES)                                                                    \
    F(DC_STATS_DISP_STALE)                                                                         \
    F(DC_STATS_DISP_DROPS)                                                                         \
    F(DC_STATS_DISP_HASHES)                                                                        \
    F(DC_STATS_DISP_COINS)                                                                         \
    F(DC_STATS_DISP_HASHES_PER_S)                                                                  \
    F(DC_STATS_DISP_BATCH)                                                                         \
    F(DC_STATS_DISP_WINDOW)                                                                        \
    F(DC_STATS_DISP_LATE_MS)                                                                       \
    F(DC_STATS_DISP_CONNECTIONS)                                                                   \
    F(DC_STATS_DISP_CHECKS)                                                                        \
    F(DC_STATS_DISP_RECOVERED_JOBS)                                                                \
    F(DC_STATS_DISP_RECOVERED_HASHES)                                                              \
    F(DC_STATS_DISP_RECOVERED_COINS)                                                               \
    F(DC_STATS_DISP_REFUSED_CHECKS)                                                                \
    F(DC_STATS_DISP_ACKED)                                                                         \
    F(DC_STATS_DISP_UNACKED)                                                                       \
    F(DC_STATS_DISP_BOOKS_LOST)                                                                    \
    F(DC_STATS_DISP_BOOKS_LOST_MS)                                                                 \
    F(DC_STATS_TS_MS)

#define DC_STATS_WORKER_FIELDS(F, L)                                                               \
    F(DC_STATS_WORKER_WORKERS)                                                                     \
    F(DC_STATS_WORKER_JOBS_PER_S)                                                                  \
    L(DC_STATS_WORKER_LOOP_P50)                                                                    \
    L(DC_STATS_WORKER_LOOP_P99)                                                                    \
    L(DC_STATS_WORKER_RNG_P50)                                                                     \
    L(DC_STATS_WORKER_HASHER_P50)                                                                  \
    F(DC_STATS_TS_MS)

/*  Besides its per-track fields. */
#define DC_STATS_TRACKS_FIELDS(F, L)                                                               \
    F(DC_STATS_TRACKS_WINDOW_S)                                                                    \
    F(DC_STATS_TRACKS_UNTRACKED_HASHES)                                                            \
    F(DC_STATS_TS_MS)

/*  Writers: appends one field (name, then the value in decimal) to a hash's fields. */
void dc_stats_add(zmsg_t *fields, const char *name, uint64_t value);
/*  Appends a latency given in microseconds: DC_STATS_MS(stem) and DC_STATS_US(stem). */
void dc_stats_add_latency(zmsg_t *fields, const char *stem, uint64_t us);

void dc_stats_test(bool verbose);

#endif
