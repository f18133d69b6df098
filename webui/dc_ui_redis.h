/*  dc_ui_redis: one hiredis connection with a mutex, a timeout on every call
    and lazy reconnection. A failed call drops the connection; the next call
    dials again, so the webui recovers by itself when Redis comes back.
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

//  Parse "HOST:PORT", "[V6]:PORT" or "HOST" (port 6379). Returns 0 or -1.
int dc_ui_redis_parse_address(const char *address, char *host, size_t host_size, int *port);

//  Create a client for "HOST:PORT" (does not connect yet); NULL when the
//  address does not parse. Every call gives up after timeout_ms.
dc_ui_redis_t *dc_ui_redis_new(const char *address, int timeout_ms);

//  Redis AUTH password for every (re)connection; NULL or "" for none.
void dc_ui_redis_set_password(dc_ui_redis_t *self, const char *password);

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

//  Self-test (parsing only: the integration tests use a real server).
void dc_ui_redis_test(bool verbose);

#endif
