/*  dc_stats: the writers' side of the stats schema (see the header). */
#include "dc_stats.h"
#include "dc_check.h"

#include <inttypes.h>

void dc_stats_add(zmsg_t *fields, const char *name, uint64_t value)
{
    zmsg_addstr(fields, name);
    zmsg_addstrf(fields, "%" PRIu64, value);
}

void dc_stats_add_latency(zmsg_t *fields, const char *stem, uint64_t us)
{
    /* DC_STATS_MS(stem) and DC_STATS_US(stem), for a stem known only at run time */
    zmsg_addstrf(fields, "%s_ms", stem);
    zmsg_addstrf(fields, "%" PRIu64, us / 1000);
    zmsg_addstrf(fields, "%s_us", stem);
    zmsg_addstrf(fields, "%" PRIu64, us);
}

#define S_NAME(name) name,
#define S_LATENCY(stem) DC_STATS_MS(stem), DC_STATS_US(stem),

/*  True when no field of a hash is listed twice. */
static bool s_distinct(const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (streq(names[i], names[j]))
                return false;
    return true;
}

void dc_stats_test(bool verbose)
{
    if (verbose)
        printf(" * dc_stats: ");
    zmsg_t *f = zmsg_new();
    dc_stats_add(f, DC_STATS_SVC_SLOTS, 20);
    dc_stats_add_latency(f, DC_STATS_SVC_WAIT_P99, 2500);
    DC_CHECK(zmsg_size(f) == 6);
    const char *expect[] = {"slots", "20", "wait_p99_ms", "2", "wait_p99_us", "2500"};
    size_t i = 0;
    for (zframe_t *frame = zmsg_first(f); frame; frame = zmsg_next(f), i++)
        DC_CHECK(zframe_streq(frame, expect[i]));
    zmsg_destroy(&f);

    const char *svc[] = {DC_STATS_SVC_FIELDS(S_NAME, S_LATENCY)};
    const char *broker[] = {DC_STATS_BROKER_FIELDS(S_NAME, S_LATENCY)};
    const char *disp[] = {DC_STATS_DISPATCHER_FIELDS(S_NAME, S_LATENCY)};
    const char *worker[] = {DC_STATS_WORKER_FIELDS(S_NAME, S_LATENCY)};
    const char *tracks[] = {DC_STATS_TRACKS_FIELDS(S_NAME, S_LATENCY)};
    DC_CHECK(s_distinct(svc, sizeof svc / sizeof *svc));
    DC_CHECK(s_distinct(broker, sizeof broker / sizeof *broker));
    DC_CHECK(s_distinct(disp, sizeof disp / sizeof *disp));
    DC_CHECK(s_distinct(worker, sizeof worker / sizeof *worker));
    DC_CHECK(s_distinct(tracks, sizeof tracks / sizeof *tracks));
    DC_CHECK(streq(DC_STATS_KEY_WORKER, "dc:stats:worker"));
    if (verbose)
        printf("OK\n");
}
