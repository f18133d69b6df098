/*  dc_drops: the one drop rule. A receiver that refuses a message (a decoder said no,
    a reply for nothing, a handshake refused) calls dc_drops_add and carries on:
    - every drop is counted per message kind and reason, and /metrics shows the counts
      as dc_ROLE_dropped_total{message="...",reason="..."} (dc_drops_metrics);
    - the first drop of each kind and reason is logged at once; after that, at most one
      line per kind and reason every 10 s, saying how many came since the last line.
      A flood of garbage cannot flood the log, and a new kind of garbage always shows.
    Reasons are short constant texts (the decoders' reasons), so the label set is
    bounded: once 63 pairs of kind and reason are in the table, every new pair counts
    (and is rate-limited) as message "other", reason "other"; its log lines still name
    what was dropped.
    One owner (the role's loop or actor); not thread-safe. */
#ifndef DC_DROPS_H_INCLUDED
#define DC_DROPS_H_INCLUDED

#include "dc_buf.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct _dc_drops_t dc_drops_t;

/*  Drops of `role` ("broker", "worker", ...: the log lines' prefix and the metric's
    middle name). */
dc_drops_t *dc_drops_new(const char *role);
void dc_drops_destroy(dc_drops_t **self_p);
/*  The shortest time between two log lines of one kind and reason (default 10 s). */
void dc_drops_set_interval(dc_drops_t *self, int interval_ms);

/*  Counts one dropped `message` ("job", "READY", "reply", ...) for `reason`, and logs
    by the rule; detail (e.g. the sender), when not NULL, goes into the log line only. */
void dc_drops_add(dc_drops_t *self, const char *message, const char *reason, const char *detail);
/*  Every drop counted so far. */
uint64_t dc_drops_total(dc_drops_t *self);
/*  Appends the family dc_ROLE_dropped_total (HELP, TYPE, one sample per kind and
    reason; none before the first drop); labels (e.g. `service="rng"`, or NULL) come
    first in every sample. */
void dc_drops_metrics(dc_drops_t *self, const char *labels, dc_buf_t *out);

void dc_drops_test(bool verbose);

#endif
