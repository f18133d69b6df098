/*  dc_ui_stats: judge and render a view. See dc_ui_stats.h for the rule.          */
#include "dc_ui_stats.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  How each stage's raw fields map onto the page's columns (NULL: no such
//  column for that stage). `one_instance` stages are single processes.
typedef struct {
    const char *name;
    const char *key;
    bool one_instance;
    const char *instances;
    const char *busy;
    const char *queue;
    const char *wait_p50;
    const char *wait_p99;
    const char *lat_p50;
    const char *lat_p99;
    const char *rate;
} s_columns_t;

static const s_columns_t s_columns[DC_UI_STAGE_COUNT] = {
    [DC_UI_STAGE_RNG] = {"rng", "dc:stats:rng", false, "workers", "busy_pct", "queue",
                         "wait_p50_ms", "wait_p99_ms", "svc_p50_ms", "svc_p99_ms", "served_per_s"},
    [DC_UI_STAGE_HASHER] = {"hasher", "dc:stats:hasher", false, "workers", "busy_pct", "queue",
                            "wait_p50_ms", "wait_p99_ms", "svc_p50_ms", "svc_p99_ms",
                            "served_per_s"},
    [DC_UI_STAGE_BROKER] = {"broker", "dc:stats:broker", true, NULL, NULL, NULL, NULL, NULL, NULL,
                            NULL, NULL},
    [DC_UI_STAGE_WORKER] = {"worker", "dc:stats:worker", false, "workers", NULL, NULL, NULL, NULL,
                            "loop_p50_ms", "loop_p99_ms", "jobs_per_s"},
    [DC_UI_STAGE_DISPATCHER] = {"dispatcher", "dc:stats:dispatcher", true, NULL, NULL, "in_flight",
                                NULL, NULL, NULL, NULL, "hashes_per_s"},
};

const char *dc_ui_stats_stage_name(dc_ui_stage_id_t stage)
{
    return stage < DC_UI_STAGE_COUNT ? s_columns[stage].name : "?";
}

const char *dc_ui_stats_stage_key(dc_ui_stage_id_t stage)
{
    return stage < DC_UI_STAGE_COUNT ? s_columns[stage].key : "?";
}

//  Strict decimal parse: the whole string must be a finite number.
static int s_parse_number(const char *text, double *value)
{
    if (!text || !*text)
        return -1;
    char *end = NULL;
    errno = 0;
    double parsed = strtod(text, &end);
    if (errno != 0 || *end != 0 || !isfinite(parsed))
        return -1;
    *value = parsed;
    return 0;
}

void dc_ui_stats_stage_parse(dc_ui_stage_t *stage, const char *const *pairs, size_t count)
{
    memset(stage, 0, sizeof *stage);
    stage->present = true;
    for (size_t i = 0; i + 1 < count && stage->count < DC_UI_STAGE_FIELDS_MAX; i += 2) {
        double value;
        if (!pairs[i] || strlen(pairs[i]) >= sizeof stage->fields[0].key ||
            s_parse_number(pairs[i + 1], &value) != 0)
            continue;
        dc_ui_field_t *field = &stage->fields[stage->count++];
        strcpy(field->key, pairs[i]);
        field->value = value;
    }
}

double dc_ui_stats_get(const dc_ui_stage_t *stage, const char *key, double fallback)
{
    if (!stage->present || !key)
        return fallback;
    for (size_t i = 0; i < stage->count; i++)
        if (strcmp(stage->fields[i].key, key) == 0)
            return stage->fields[i].value;
    return fallback;
}

bool dc_ui_stats_live(const dc_ui_view_t *view, dc_ui_stage_id_t stage)
{
    const dc_ui_stage_t *raw = &view->stages[stage];
    if (!raw->present)
        return false;
    double ts = dc_ui_stats_get(raw, "ts_ms", NAN);
    return isnan(ts) || (double)view->ts_ms - ts <= DC_UI_STAGE_STALE_MS;
}

//  "850 ms" or "4.2 s".
static void s_duration(char *out, size_t size, double ms)
{
    if (isnan(ms))
        snprintf(out, size, "unknown");
    else if (ms < 1000)
        snprintf(out, size, "%.0f ms", ms);
    else
        snprintf(out, size, "%.1f s", ms / 1000);
}

static const char *s_plural(double n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

//  Is this service the limit? Saturated: busy >= 90 %, or no instances while
//  requests wait.
static bool s_saturated(const dc_ui_view_t *view, dc_ui_stage_id_t id)
{
    if (!dc_ui_stats_live(view, id))
        return false;
    const dc_ui_stage_t *stage = &view->stages[id];
    double instances = dc_ui_stats_get(stage, "workers", NAN);
    double queue = dc_ui_stats_get(stage, "queue", 0);
    if (!isnan(instances) && instances < 1)
        return queue > 0;
    return dc_ui_stats_get(stage, "busy_pct", 0) >= 90;
}

//  Of two saturated services, the one with more queued (then longer p99 wait).
static bool s_worse(const dc_ui_view_t *view, dc_ui_stage_id_t a, dc_ui_stage_id_t b)
{
    double queue_a = dc_ui_stats_get(&view->stages[a], "queue", 0);
    double queue_b = dc_ui_stats_get(&view->stages[b], "queue", 0);
    if (queue_a != queue_b)
        return queue_a > queue_b;
    return dc_ui_stats_get(&view->stages[a], "wait_p99_ms", 0) >
           dc_ui_stats_get(&view->stages[b], "wait_p99_ms", 0);
}

static void s_judge_service(dc_ui_view_t *view, dc_ui_stage_id_t id)
{
    const dc_ui_stage_t *stage = &view->stages[id];
    const char *name = dc_ui_stats_stage_name(id);
    double instances = dc_ui_stats_get(stage, "workers", NAN);
    double queue = dc_ui_stats_get(stage, "queue", 0);
    char wait[32];
    s_duration(wait, sizeof wait, dc_ui_stats_get(stage, "wait_p99_ms", NAN));
    snprintf(view->bottleneck, sizeof view->bottleneck, "%s", name);
    if (!isnan(instances) && instances < 1) {
        snprintf(view->verdict, sizeof view->verdict,
                 "%s has no instances and %.0f %s waiting: start %s.", name, queue,
                 s_plural(queue, "request is", "requests are"), name);
        return;
    }
    double workers = dc_ui_stats_live(view, DC_UI_STAGE_WORKER)
                         ? dc_ui_stats_get(&view->stages[DC_UI_STAGE_WORKER], "workers", NAN)
                         : NAN;
    char shared[64] = "";
    if (!isnan(workers))
        snprintf(shared, sizeof shared, " (%.0f %s share it)", workers,
                 s_plural(workers, "worker", "workers"));
    snprintf(view->verdict, sizeof view->verdict,
             "%s is the bottleneck: %.0f %s, %.0f%% busy, %.0f %s queued, p99 wait %s. "
             "Scale %s next%s; more workers will not help.",
             name, instances, s_plural(instances, "instance", "instances"),
             dc_ui_stats_get(stage, "busy_pct", 0), queue, s_plural(queue, "request", "requests"),
             wait, name, shared);
}

static void s_judge_workers(dc_ui_view_t *view)
{
    double workers = dc_ui_stats_get(&view->stages[DC_UI_STAGE_WORKER], "workers", 0);
    snprintf(view->bottleneck, sizeof view->bottleneck, "worker");
    if (workers < 1) {
        snprintf(view->verdict, sizeof view->verdict, "No workers are running: start workers.");
        return;
    }
    char services[96] = "";
    size_t used = 0;
    for (dc_ui_stage_id_t id = DC_UI_STAGE_RNG; id <= DC_UI_STAGE_HASHER; id++) {
        if (!dc_ui_stats_live(view, id))
            continue;
        int n =
            snprintf(services + used, sizeof services - used, "%s %s %.0f%% busy", used ? "," : ";",
                     dc_ui_stats_stage_name(id), dc_ui_stats_get(&view->stages[id], "busy_pct", 0));
        if (n > 0 && (size_t)n < sizeof services - used)
            used += (size_t)n;
    }
    snprintf(view->verdict, sizeof view->verdict,
             "The workers are the limit: %.0f %s%s, no service saturated. Add workers next.",
             workers, s_plural(workers, "worker", "workers"), services);
}

void dc_ui_stats_judge(dc_ui_view_t *view)
{
    view->bottleneck[0] = 0;
    if (!view->redis_ok) {
        snprintf(view->verdict, sizeof view->verdict, "Redis unreachable (%s): retrying.",
                 view->error[0] ? view->error : "unknown error");
        return;
    }
    dc_ui_stage_id_t worst = DC_UI_STAGE_COUNT;
    for (dc_ui_stage_id_t id = DC_UI_STAGE_RNG; id <= DC_UI_STAGE_HASHER; id++)
        if (s_saturated(view, id) && (worst == DC_UI_STAGE_COUNT || s_worse(view, id, worst)))
            worst = id;
    if (worst != DC_UI_STAGE_COUNT)
        s_judge_service(view, worst);
    else if (dc_ui_stats_live(view, DC_UI_STAGE_WORKER))
        s_judge_workers(view);
    else if (dc_ui_stats_live(view, DC_UI_STAGE_RNG) || dc_ui_stats_live(view, DC_UI_STAGE_HASHER))
        snprintf(view->verdict, sizeof view->verdict,
                 "No worker stats (is the dispatcher running?); rng and hasher are not "
                 "saturated.");
    else
        snprintf(view->verdict, sizeof view->verdict,
                 "No pipeline stats in Redis yet: start the broker, dispatcher and workers.");
}

//  `"key":value` for a column, null when the stage lacks it.
static int s_json_column(dc_ui_buf_t *out, const char *name, const dc_ui_stage_t *stage,
                         const char *key)
{
    int rc = dc_ui_buf_printf(out, ",\"%s\":", name);
    return rc == 0 ? dc_ui_buf_json_number(out, dc_ui_stats_get(stage, key, NAN)) : rc;
}

//  The stage's note: counters that have no column of their own.
static void s_note(const dc_ui_view_t *view, dc_ui_stage_id_t id, char *note, size_t size)
{
    const dc_ui_stage_t *s = &view->stages[id];
    note[0] = 0;
    if (!s->present)
        return;
    if (id == DC_UI_STAGE_BROKER)
        snprintf(note, size, "%.0f requests, %.0f drops, %.0f requeued, %.0f dead workers",
                 dc_ui_stats_get(s, "requests", 0), dc_ui_stats_get(s, "drops", 0),
                 dc_ui_stats_get(s, "requeued", 0), dc_ui_stats_get(s, "expired_workers", 0));
    else if (id == DC_UI_STAGE_DISPATCHER)
        snprintf(note, size, "queue = jobs in flight (window %.0f, batch %.0f), %.0f reissued",
                 dc_ui_stats_get(s, "window", 0), dc_ui_stats_get(s, "batch", 1),
                 dc_ui_stats_get(s, "reissued", 0));
    else if (id == DC_UI_STAGE_WORKER)
        snprintf(note, size, "latency = one loop; rng p50 %.0f ms, hasher p50 %.0f ms",
                 dc_ui_stats_get(s, "rng_p50_ms", 0), dc_ui_stats_get(s, "hasher_p50_ms", 0));
    else
        snprintf(note, size, "latency = service time; %.0f errors",
                 dc_ui_stats_get(s, "errors", 0));
}

static int s_json_stage(const dc_ui_view_t *view, dc_ui_stage_id_t id, dc_ui_buf_t *out)
{
    const s_columns_t *col = &s_columns[id];
    const dc_ui_stage_t *stage = &view->stages[id];
    double instances = col->one_instance ? (stage->present ? 1 : NAN)
                                         : dc_ui_stats_get(stage, col->instances, NAN);
    char note[160];
    s_note(view, id, note, sizeof note);
    int rc = dc_ui_buf_printf(
        out, "{\"name\":\"%s\",\"present\":%s,\"live\":%s,\"instances\":", col->name,
        stage->present ? "true" : "false", dc_ui_stats_live(view, id) ? "true" : "false");
    rc = rc ? rc : dc_ui_buf_json_number(out, instances);
    rc = rc ? rc : s_json_column(out, "busy_pct", stage, col->busy);
    rc = rc ? rc : s_json_column(out, "queue", stage, col->queue);
    rc = rc ? rc : s_json_column(out, "wait_p50_ms", stage, col->wait_p50);
    rc = rc ? rc : s_json_column(out, "wait_p99_ms", stage, col->wait_p99);
    rc = rc ? rc : s_json_column(out, "lat_p50_ms", stage, col->lat_p50);
    rc = rc ? rc : s_json_column(out, "lat_p99_ms", stage, col->lat_p99);
    rc = rc ? rc : s_json_column(out, "rate", stage, col->rate);
    rc = rc ? rc : dc_ui_buf_printf(out, ",\"note\":");
    rc = rc ? rc : dc_ui_buf_json_string(out, note);
    rc = rc ? rc : dc_ui_buf_printf(out, ",\"fields\":{");
    for (size_t i = 0; i < stage->count && rc == 0; i++) {
        rc = dc_ui_buf_printf(out, "%s", i ? "," : "");
        rc = rc ? rc : dc_ui_buf_json_string(out, stage->fields[i].key);
        rc = rc ? rc : dc_ui_buf_append(out, ":", 1);
        rc = rc ? rc : dc_ui_buf_json_number(out, stage->fields[i].value);
    }
    return rc ? rc : dc_ui_buf_append(out, "}}", 2);
}

int dc_ui_stats_json(const dc_ui_view_t *view, dc_ui_buf_t *out)
{
    int rc = dc_ui_buf_printf(out, "{\"ts_ms\":%lld,\"redis\":{\"ok\":%s,\"error\":",
                              (long long)view->ts_ms, view->redis_ok ? "true" : "false");
    rc = rc ? rc : dc_ui_buf_json_string(out, view->redis_ok ? NULL : view->error);
    rc = rc ? rc : dc_ui_buf_printf(out, "},\"hashes\":");
    rc = rc ? rc : dc_ui_buf_json_number(out, view->have_hashes ? (double)view->hashes : NAN);
    rc = rc ? rc : dc_ui_buf_printf(out, ",\"coins\":");
    rc = rc ? rc : dc_ui_buf_json_number(out, view->have_coins ? (double)view->coins : NAN);
    rc = rc ? rc : dc_ui_buf_printf(out, ",\"speed\":{\"hashes_per_s\":");
    rc = rc ? rc : dc_ui_buf_json_number(out, view->have_speed ? view->speed : NAN);
    rc = rc ? rc : dc_ui_buf_printf(out, ",\"window_s\":");
    rc = rc ? rc : dc_ui_buf_json_number(out, (double)view->window_ms / 1000);
    rc = rc ? rc : dc_ui_buf_printf(out, ",\"span_s\":");
    rc =
        rc ? rc : dc_ui_buf_json_number(out, view->have_speed ? (double)view->span_ms / 1000 : NAN);
    rc = rc ? rc : dc_ui_buf_printf(out, "},\"stages\":[");
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT && rc == 0; id++) {
        rc = id ? dc_ui_buf_append(out, ",", 1) : 0;
        rc = rc ? rc : s_json_stage(view, id, out);
    }
    rc = rc ? rc : dc_ui_buf_printf(out, "],\"bottleneck\":{\"stage\":");
    rc = rc ? rc : dc_ui_buf_json_string(out, view->bottleneck[0] ? view->bottleneck : NULL);
    rc = rc ? rc : dc_ui_buf_printf(out, ",\"text\":");
    rc = rc ? rc : dc_ui_buf_json_string(out, view->verdict);
    return rc ? rc : dc_ui_buf_append(out, "}}", 2);
}

//  A sample value: integers exactly, fractions to 9 significant digits.
static int s_sample(dc_ui_buf_t *out, double value)
{
    if (value == floor(value) && fabs(value) < 1e15)
        return dc_ui_buf_printf(out, "%.0f\n", value);
    return dc_ui_buf_printf(out, "%.9g\n", value);
}

//  One metric family: HELP, TYPE and, when known, the unlabelled sample.
static int s_metric(dc_ui_buf_t *out, const char *name, const char *type, const char *help,
                    bool known, double value)
{
    int rc = dc_ui_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (rc == 0 && known)
        rc = dc_ui_buf_printf(out, "%s ", name);
    if (rc == 0 && known)
        rc = s_sample(out, value);
    return rc;
}

//  A labelled per-stage gauge family over every live stage having `key`.
static int s_stage_family(dc_ui_buf_t *out, const dc_ui_view_t *view, const char *name,
                          const char *help, size_t column_offset, double scale,
                          const char *quantile)
{
    int rc = 0;
    if (!quantile || strcmp(quantile, "0.5") == 0)
        rc = dc_ui_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT && rc == 0; id++) {
        const char *key = *(const char *const *)((const char *)&s_columns[id] + column_offset);
        double value = dc_ui_stats_get(&view->stages[id], key, NAN);
        if (!dc_ui_stats_live(view, id) || isnan(value))
            continue;
        if (quantile)
            rc = dc_ui_buf_printf(out, "%s{stage=\"%s\",quantile=\"%s\"} ", name,
                                  s_columns[id].name, quantile);
        else
            rc = dc_ui_buf_printf(out, "%s{stage=\"%s\"} ", name, s_columns[id].name);
        rc = rc ? rc : s_sample(out, value * scale);
    }
    return rc;
}

#define S_COL(field) offsetof(s_columns_t, field)

int dc_ui_stats_metrics(const dc_ui_view_t *view, int64_t now_ms, size_t sse_clients,
                        uint64_t events, dc_ui_buf_t *out)
{
    int rc = s_metric(out, "dockercoins_hashes_total", "counter",
                      "Hashes computed so far (Redis key hashes).", view->have_hashes,
                      (double)view->hashes);
    rc = rc ? rc
            : s_metric(out, "dockercoins_coins_total", "counter",
                       "Coins found so far (HLEN wallet).", view->have_coins, (double)view->coins);
    rc = rc ? rc
            : s_metric(out, "dockercoins_speed_hashes_per_second", "gauge",
                       "Hashes per second averaged over the speed window.", view->have_speed,
                       view->speed);
    rc =
        rc ? rc
           : s_metric(out, "dockercoins_speed_window_seconds", "gauge",
                      "Averaging window of the speed gauge.", true, (double)view->window_ms / 1000);
    rc = rc ? rc
            : s_metric(out, "dockercoins_redis_up", "gauge",
                       "1 when the last Redis poll succeeded.", true, view->redis_ok ? 1 : 0);
    rc = rc ? rc
            : s_metric(out, "dockercoins_snapshot_age_seconds", "gauge",
                       "Age of the latest snapshot.", view->ts_ms > 0,
                       (double)(now_ms - view->ts_ms) / 1000);
    rc = rc ? rc
            : dc_ui_buf_printf(out, "# HELP dockercoins_stage_up 1 when the stage reports "
                                    "fresh stats.\n# TYPE dockercoins_stage_up gauge\n");
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT && rc == 0; id++)
        rc = dc_ui_buf_printf(out, "dockercoins_stage_up{stage=\"%s\"} %d\n", s_columns[id].name,
                              dc_ui_stats_live(view, id) ? 1 : 0);
    rc = rc ? rc
            : s_stage_family(out, view, "dockercoins_stage_instances", "Instances of the stage.",
                             S_COL(instances), 1, NULL);
    rc = rc ? rc
            : s_stage_family(out, view, "dockercoins_stage_busy_ratio",
                             "Fraction of time the stage's instances are busy.", S_COL(busy), 0.01,
                             NULL);
    rc =
        rc ? rc
           : s_stage_family(out, view, "dockercoins_stage_queue_depth",
                            "Requests queued (dispatcher: jobs in flight).", S_COL(queue), 1, NULL);
    rc = rc ? rc
            : s_stage_family(out, view, "dockercoins_stage_rate_per_second",
                             "Requests, jobs or hashes per second through the stage.", S_COL(rate),
                             1, NULL);
    rc = rc ? rc
            : s_stage_family(out, view, "dockercoins_stage_wait_seconds",
                             "Time requests wait in the broker queue.", S_COL(wait_p50), 0.001,
                             "0.5");
    rc = rc ? rc
            : s_stage_family(out, view, "dockercoins_stage_wait_seconds", NULL, S_COL(wait_p99),
                             0.001, "0.99");
    rc = rc ? rc
            : s_stage_family(out, view, "dockercoins_stage_latency_seconds",
                             "Service time (worker: one loop).", S_COL(lat_p50), 0.001, "0.5");
    rc = rc ? rc
            : s_stage_family(out, view, "dockercoins_stage_latency_seconds", NULL, S_COL(lat_p99),
                             0.001, "0.99");
    rc = rc ? rc
            : dc_ui_buf_printf(out, "# HELP dockercoins_bottleneck 1 for the stage that "
                                    "limits throughput.\n# TYPE dockercoins_bottleneck gauge\n");
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT && rc == 0; id++)
        rc = dc_ui_buf_printf(out, "dockercoins_bottleneck{stage=\"%s\"} %d\n", s_columns[id].name,
                              strcmp(view->bottleneck, s_columns[id].name) == 0 ? 1 : 0);
    rc = rc ? rc
            : s_metric(out, "dockercoins_webui_sse_clients", "gauge", "Open /events streams.", true,
                       (double)sse_clients);
    return rc ? rc
              : s_metric(out, "dockercoins_webui_events_total", "counter",
                         "Snapshots published to /events.", true, (double)events);
}

//  Test helper: set a stage from "key=value" strings.
static void s_set(dc_ui_view_t *view, dc_ui_stage_id_t id, const char *const *pairs, size_t count)
{
    dc_ui_stats_stage_parse(&view->stages[id], pairs, count);
}

void dc_ui_stats_test(bool verbose)
{
    if (verbose)
        printf(" * dc_ui_stats: ");
    dc_ui_view_t view;
    memset(&view, 0, sizeof view);
    view.ts_ms = 100000;
    view.redis_ok = true;
    view.window_ms = 10000;

    //  No stats at all
    dc_ui_stats_judge(&view);
    assert(view.bottleneck[0] == 0 && strstr(view.verdict, "No pipeline stats"));

    //  10 workers, one rng: rng saturated with a queue, hasher busy but idle queue
    const char *rng[] = {"workers",     "1",   "busy_pct", "100",   "queue", "9",
                         "wait_p99_ms", "900", "ts_ms",    "99500", "junk",  "abc"};
    const char *hasher[] = {"workers", "1", "busy_pct", "98", "queue", "0", "ts_ms", "99500"};
    const char *worker[] = {"workers", "10", "jobs_per_s", "10", "ts_ms", "99800"};
    s_set(&view, DC_UI_STAGE_RNG, rng, 12);
    s_set(&view, DC_UI_STAGE_HASHER, hasher, 8);
    s_set(&view, DC_UI_STAGE_WORKER, worker, 6);
    assert(view.stages[DC_UI_STAGE_RNG].count == 5); //  "junk" is not a number
    assert(dc_ui_stats_get(&view.stages[DC_UI_STAGE_RNG], "queue", -1) == 9);
    assert(dc_ui_stats_get(&view.stages[DC_UI_STAGE_RNG], "nope", -1) == -1);
    dc_ui_stats_judge(&view);
    assert(strcmp(view.bottleneck, "rng") == 0);
    assert(strstr(view.verdict, "Scale rng next (10 workers share it)"));
    assert(strstr(view.verdict, "p99 wait 900 ms"));

    //  Stale rng stats do not count: hasher then wins
    const char *rng_stale[] = {"workers", "1", "busy_pct", "100", "queue", "9", "ts_ms", "90000"};
    s_set(&view, DC_UI_STAGE_RNG, rng_stale, 8);
    dc_ui_stats_judge(&view);
    assert(strcmp(view.bottleneck, "hasher") == 0);

    //  Nothing saturated: workers
    const char *rng_idle[] = {"workers", "4", "busy_pct", "30", "queue", "0"};
    const char *hasher_idle[] = {"workers", "4", "busy_pct", "31", "queue", "0"};
    s_set(&view, DC_UI_STAGE_RNG, rng_idle, 6);
    s_set(&view, DC_UI_STAGE_HASHER, hasher_idle, 6);
    dc_ui_stats_judge(&view);
    assert(strcmp(view.bottleneck, "worker") == 0 && strstr(view.verdict, "Add workers"));

    //  A service with no instances and waiting requests
    const char *rng_gone[] = {"workers", "0", "busy_pct", "0", "queue", "3"};
    s_set(&view, DC_UI_STAGE_RNG, rng_gone, 6);
    dc_ui_stats_judge(&view);
    assert(strcmp(view.bottleneck, "rng") == 0 && strstr(view.verdict, "start rng"));

    //  Redis down
    view.redis_ok = false;
    snprintf(view.error, sizeof view.error, "Connection refused");
    dc_ui_stats_judge(&view);
    assert(view.bottleneck[0] == 0 && strstr(view.verdict, "Redis unreachable"));

    //  Rendering
    view.redis_ok = true;
    view.have_hashes = true;
    view.hashes = 1234;
    view.have_coins = true;
    view.coins = 5;
    view.have_speed = true;
    view.speed = 9.75;
    view.span_ms = 10000;
    dc_ui_stats_judge(&view);
    dc_ui_buf_t *buf = dc_ui_buf_new();
    assert(dc_ui_stats_json(&view, buf) == 0);
    assert(strstr(dc_ui_buf_data(buf), "\"hashes\":1234,\"coins\":5"));
    assert(strstr(dc_ui_buf_data(buf), "\"hashes_per_s\":9.750,\"window_s\":10"));
    assert(strstr(dc_ui_buf_data(buf), "\"bottleneck\":{\"stage\":\"rng\""));
    assert(!strchr(dc_ui_buf_data(buf), '\n'));
    dc_ui_buf_reset(buf);
    assert(dc_ui_stats_metrics(&view, 101000, 3, 7, buf) == 0);
    assert(strstr(dc_ui_buf_data(buf), "\ndockercoins_hashes_total 1234\n"));
    assert(strstr(dc_ui_buf_data(buf), "dockercoins_bottleneck{stage=\"rng\"} 1\n"));
    assert(strstr(dc_ui_buf_data(buf), "dockercoins_stage_queue_depth{stage=\"rng\"} 3\n"));
    assert(strstr(dc_ui_buf_data(buf), "dockercoins_webui_sse_clients 3\n"));
    dc_ui_buf_destroy(&buf);
    if (verbose)
        printf("OK\n");
}
