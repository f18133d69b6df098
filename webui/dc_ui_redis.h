/*  dc_ui_redis: the webui's two Redis queries on one dc_rconn connection (password,
    timeouts, reconnection with back-off), behind a mutex for the HTTP threads. A
    failed call drops the connection; a later call dials again, so the webui recovers
    by itself when Redis comes back.
    Two queries, each one pipelined round trip:
    - dc_ui_redis_read(): totals, every dc:stats:* hash and the dispatcher's
      dc:series list (the poller's read);
    - dc_ui_redis_totals(): HLEN wallet and GET hashes (the original's /json). */
#ifndef DC_UI_REDIS_H
#define DC_UI_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include "dc_ui_series.h"
#include "dc_ui_stats.h"

//  The dispatcher's once-a-second "TS_MS:HASHES" samples (docs/runtime.md).
#define DC_UI_SERIES_KEY "dc:series"

typedef struct _dc_ui_redis_t dc_ui_redis_t;

//  A client for "HOST:PORT" (dc_opts_hostport's syntax) with the AUTH password (NULL
//  or "": none); does not connect yet. NULL when the address does not parse. Every
//  call gives up after timeout_ms; after a failure the connection is dialled again
//  with dc_rconn's back-off (250 ms doubling to 2 s).
dc_ui_redis_t *dc_ui_redis_new(const char *address, const char *password, int timeout_ms);

//  Close and free; NULL the caller's pointer; safe on NULL.
void dc_ui_redis_destroy(dc_ui_redis_t **self_p);

//  Read totals and stage stats into view (hashes, coins, stages, redis_ok,
//  error; leaves the other fields alone) and the newest entries of
//  dc:series, as many as `series` holds, into `series` (cleared first;
//  entries that do not parse are skipped). Returns 0, or -1 with
//  view->error (then `series` is left alone).
int dc_ui_redis_read(dc_ui_redis_t *self, dc_ui_view_t *view, dc_ui_series_t *series);

//  HLEN wallet and GET hashes. `hashes` receives the raw string value, or ""
//  when the key does not exist. Returns 0, or -1 with the reason in `error`.
int dc_ui_redis_totals(dc_ui_redis_t *self, long long *coins, char *hashes, size_t hashes_size,
                       char *error, size_t error_size);

//  Self-test (Redis down; the poller's self-test and the integration tests use a
//  real server).
void dc_ui_redis_test(bool verbose);

#endif
