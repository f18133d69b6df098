/*  dc_drops: see the header. One small table of kinds and reasons, in first-seen
    order so /metrics lists them stably. */
#include "dc_drops.h"
#include "dc_check.h"
#include "dc_figures.h"

#include <assert.h>
#include <czmq.h>
#include <inttypes.h>

#define DC_DROPS_INTERVAL_MS 10000
#define DC_DROPS_KINDS_MAX 64

typedef struct {
    char *message, *reason;
    uint64_t count;
    uint64_t logged;   /* count when the last line was logged */
    int64_t logged_at; /* zclock_mono of that line */
} s_kind_t;

struct _dc_drops_t {
    char *role;
    int interval_ms;
    s_kind_t kinds[DC_DROPS_KINDS_MAX];
    size_t count;
    uint64_t total;
};

dc_drops_t *dc_drops_new(const char *role)
{
    dc_drops_t *self = calloc(1, sizeof *self);
    assert(self);
    self->role = strdup(role);
    assert(self->role);
    self->interval_ms = DC_DROPS_INTERVAL_MS;
    return self;
}

void dc_drops_destroy(dc_drops_t **self_p)
{
    if (self_p && *self_p) {
        dc_drops_t *self = *self_p;
        for (size_t i = 0; i < self->count; i++) {
            free(self->kinds[i].message);
            free(self->kinds[i].reason);
        }
        free(self->role);
        free(self);
        *self_p = NULL;
    }
}

void dc_drops_set_interval(dc_drops_t *self, int interval_ms)
{
    self->interval_ms = interval_ms;
}

/*  The entry of message and reason, made on first sight; the last entry of the table is
    message "other", reason "other", for every pair that finds the table full. */
static s_kind_t *s_kind(dc_drops_t *self, const char *message, const char *reason)
{
    for (size_t i = 0; i < self->count; i++)
        if (streq(self->kinds[i].message, message) && streq(self->kinds[i].reason, reason))
            return &self->kinds[i];
    if (self->count >= DC_DROPS_KINDS_MAX - 1 &&
        !(streq(message, "other") && streq(reason, "other")))
        return s_kind(self, "other", "other");
    assert(self->count < DC_DROPS_KINDS_MAX);
    s_kind_t *kind = &self->kinds[self->count++];
    kind->message = strdup(message);
    kind->reason = strdup(reason);
    assert(kind->message && kind->reason);
    return kind;
}

void dc_drops_add(dc_drops_t *self, const char *message, const char *reason, const char *detail)
{
    message = message ? message : "message";
    reason = reason ? reason : "?";
    s_kind_t *kind = s_kind(self, message, reason);
    kind->count++;
    self->total++;
    int64_t now = zclock_mono();
    if (kind->count > 1 && now - kind->logged_at < self->interval_ms)
        return;
    uint64_t since = kind->count - kind->logged;
    if (kind->count == 1)
        zsys_warning("%s: dropped a %s%s%s: %s (the first; then at most one line per %d s)",
                     self->role, message, detail ? " from " : "", detail ? detail : "", reason,
                     self->interval_ms / 1000);
    else
        zsys_warning("%s: dropped a %s%s%s: %s (%" PRIu64 " since the last line, %" PRIu64
                     " in all)",
                     self->role, message, detail ? " from " : "", detail ? detail : "", reason,
                     since, kind->count);
    kind->logged = kind->count;
    kind->logged_at = now;
}

uint64_t dc_drops_total(dc_drops_t *self)
{
    return self->total;
}

void dc_drops_metrics(dc_drops_t *self, const char *labels, dc_buf_t *out)
{
    dc_buf_printf(out,
                  "# HELP dc_%s_dropped_total Messages refused and dropped, by kind and reason.\n"
                  "# TYPE dc_%s_dropped_total counter\n",
                  self->role, self->role);
    for (size_t i = 0; i < self->count; i++) {
        const s_kind_t *kind = &self->kinds[i];
        dc_buf_printf(out, "dc_%s_dropped_total{%s%s", self->role, labels ? labels : "",
                      labels ? "," : "");
        dc_figures_label(out, "message", kind->message);
        dc_buf_append(out, ",", 1);
        dc_figures_label(out, "reason", kind->reason);
        dc_buf_printf(out, "} %" PRIu64 "\n", kind->count);
    }
}

void dc_drops_test(bool verbose)
{
    if (verbose)
        printf(" * dc_drops: ");
    dc_drops_t *drops = dc_drops_new("test");
    dc_buf_t *out = dc_buf_new();
    dc_drops_metrics(drops, NULL, out);
    DC_CHECK(strstr(dc_buf_data(out), "# TYPE dc_test_dropped_total counter\n"));
    DC_CHECK(!strstr(dc_buf_data(out), "dc_test_dropped_total{"));
    dc_drops_set_interval(drops, 200);
    for (int i = 0; i < 1000; i++)
        dc_drops_add(drops, "job", "bad version", "peer");
    dc_drops_add(drops, "job", "a \"quoted\" reason", NULL);
    dc_drops_add(drops, "ACK", "bad version", NULL);
    DC_CHECK(dc_drops_total(drops) == 1002);
    /* the log: the first of a kind, then once per interval (checked by its state) */
    DC_CHECK(drops->kinds[0].logged == 1 && drops->kinds[1].logged == 1);
    zclock_sleep(250);
    dc_drops_add(drops, "job", "bad version", NULL);
    DC_CHECK(drops->kinds[0].logged == 1001);
    dc_buf_reset(out);
    dc_drops_metrics(drops, "service=\"rng\"", out);
    DC_CHECK(strstr(dc_buf_data(out), "dc_test_dropped_total{service=\"rng\",message=\"job\","
                                      "reason=\"bad version\"} 1001\n"));
    DC_CHECK(strstr(dc_buf_data(out), "{service=\"rng\",message=\"job\","
                                      "reason=\"a \\\"quoted\\\" reason\"} 1\n"));
    DC_CHECK(strstr(dc_buf_data(out), "message=\"ACK\",reason=\"bad version\"} 1\n"));
    /* the label set is bounded: past the table, new reasons count as "other" */
    char reason[32];
    for (int i = 0; i < 200; i++) {
        snprintf(reason, sizeof reason, "reason %d", i);
        dc_drops_add(drops, "job", reason, NULL);
    }
    DC_CHECK(drops->count == DC_DROPS_KINDS_MAX && dc_drops_total(drops) == 1203);
    dc_buf_reset(out);
    dc_drops_metrics(drops, NULL, out);
    DC_CHECK(strstr(dc_buf_data(out), "message=\"other\",reason=\"other\"} 140\n"));
    /* a new message on a full table as well: counted as other, not under another message */
    dc_drops_add(drops, "ACK", "yet another reason", NULL);
    DC_CHECK(drops->count == DC_DROPS_KINDS_MAX && dc_drops_total(drops) == 1204);
    dc_buf_reset(out);
    dc_drops_metrics(drops, NULL, out);
    DC_CHECK(strstr(dc_buf_data(out), "message=\"other\",reason=\"other\"} 141\n"));
    DC_CHECK(!strstr(dc_buf_data(out), "reason=\"yet another reason\""));
    dc_buf_destroy(&out);
    dc_drops_destroy(&drops);
    dc_drops_destroy(&drops);
    if (verbose)
        printf("OK\n");
}
