/*  dc_ui_stats: judge and render a view. See dc_ui_stats.h for the rule.          */
#include "dc_ui_stats.h"
#include "dc_check.h"
#include "dc_figures.h"
#include "dc_stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The page's columns. Latency columns name the `_ms` field; a field of the
//  same name ending in `_us` is preferred when the stage writes one (raw
//  mode: well under a millisecond).
typedef enum {
    S_COL_INSTANCES,
    S_COL_BUSY,
    S_COL_QUEUE,
    S_COL_WAIT_P50,
    S_COL_WAIT_P99,
    S_COL_LAT_P50,
    S_COL_LAT_P99,
    S_COL_COUNT
} s_column_t;

//  How each stage's raw fields map onto the columns (NULL: no such column
//  for that stage). `one_instance` stages are single processes. `counter`
//  (in the stats of `counter_stage`) gives the stage's rate. `schema` lists
//  every field the writer puts in the hash (proto/dc_stats.h).
typedef struct {
    const char *name;
    const char *key;
    bool one_instance;
    const char *field[S_COL_COUNT];
    const char *counter;
    dc_ui_stage_id_t counter_stage;
    const char *const *schema;
    size_t schema_count;
} s_columns_t;

#define S_NAME(name) name,
#define S_LATENCY(stem) DC_STATS_MS(stem), DC_STATS_US(stem),
#define S_SCHEMA(list) list, sizeof list / sizeof *list

static const char *const s_svc_schema[] = {DC_STATS_SVC_FIELDS(S_NAME, S_LATENCY)};
static const char *const s_broker_schema[] = {DC_STATS_BROKER_FIELDS(S_NAME, S_LATENCY)};
static const char *const s_worker_schema[] = {DC_STATS_WORKER_FIELDS(S_NAME, S_LATENCY)};
static const char *const s_disp_schema[] = {DC_STATS_DISPATCHER_FIELDS(S_NAME, S_LATENCY)};

#define S_SERVICE_COLUMNS                                                                          \
    {                                                                                              \
        DC_STATS_SVC_INSTANCES, DC_STATS_SVC_BUSY_PCT, DC_STATS_SVC_QUEUE,                         \
            DC_STATS_MS(DC_STATS_SVC_WAIT_P50), DC_STATS_MS(DC_STATS_SVC_WAIT_P99),                \
            DC_STATS_MS(DC_STATS_SVC_SERVICE_P50), DC_STATS_MS(DC_STATS_SVC_SERVICE_P99)           \
    }

static const s_columns_t s_columns[DC_UI_STAGE_COUNT] = {
    [DC_UI_STAGE_RNG] = {"rng", DC_STATS_KEY_PREFIX "rng", false, S_SERVICE_COLUMNS,
                         DC_STATS_SVC_SERVED, DC_UI_STAGE_RNG, S_SCHEMA(s_svc_schema)},
    [DC_UI_STAGE_HASHER] = {"hasher", DC_STATS_KEY_PREFIX "hasher", false, S_SERVICE_COLUMNS,
                            DC_STATS_SVC_SERVED, DC_UI_STAGE_HASHER, S_SCHEMA(s_svc_schema)},
    [DC_UI_STAGE_BROKER] = {"broker",
                            DC_STATS_KEY_BROKER,
                            true,
                            {NULL, DC_STATS_BROKER_CPU_PCT, NULL, NULL, NULL, NULL, NULL},
                            DC_STATS_BROKER_REQUESTS,
                            DC_UI_STAGE_BROKER,
                            S_SCHEMA(s_broker_schema)},
    [DC_UI_STAGE_WORKER] = {"worker",
                            DC_STATS_KEY_WORKER,
                            false,
                            {DC_STATS_WORKER_WORKERS, NULL, NULL, NULL, NULL,
                             DC_STATS_MS(DC_STATS_WORKER_LOOP_P50),
                             DC_STATS_MS(DC_STATS_WORKER_LOOP_P99)},
                            DC_STATS_DISP_COUNTED,
                            DC_UI_STAGE_DISPATCHER,
                            S_SCHEMA(s_worker_schema)},
    [DC_UI_STAGE_DISPATCHER] = {"dispatcher",
                                DC_STATS_KEY_DISPATCHER,
                                true,
                                {NULL, NULL, DC_STATS_DISP_IN_FLIGHT, NULL, NULL, NULL, NULL},
                                DC_STATS_DISP_HASHES,
                                DC_UI_STAGE_DISPATCHER,
                                S_SCHEMA(s_disp_schema)},
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

bool dc_ui_stats_has(const dc_ui_stage_t *stage, const char *key)
{
    return !isnan(dc_ui_stats_get(stage, key, NAN));
}

size_t dc_ui_stats_missing(dc_ui_stage_id_t stage_id, const dc_ui_stage_t *stage,
                           const char **missing, size_t max)
{
    size_t count = 0;
    if (stage_id >= DC_UI_STAGE_COUNT || !stage->present)
        return 0;
    for (size_t i = 0; i < s_columns[stage_id].schema_count; i++)
        if (!dc_ui_stats_has(stage, s_columns[stage_id].schema[i]) && count < max)
            missing[count++] = s_columns[stage_id].schema[i];
    return count;
}

bool dc_ui_stats_live(const dc_ui_view_t *view, dc_ui_stage_id_t stage)
{
    const dc_ui_stage_t *raw = &view->stages[stage];
    if (!raw->present)
        return false;
    double ts = dc_ui_stats_get(raw, DC_STATS_TS_MS, NAN);
    return isnan(ts) || (double)view->ts_ms - ts <= DC_UI_STAGE_STALE_MS;
}

const char *dc_ui_stats_counter(dc_ui_stage_id_t stage, dc_ui_stage_id_t *source)
{
    if (stage >= DC_UI_STAGE_COUNT)
        return NULL;
    *source = s_columns[stage].counter_stage;
    return s_columns[stage].counter;
}

bool dc_ui_stats_data_fresh(const dc_ui_view_t *view)
{
    return view->have_data && view->data_age_ms <= DC_UI_DATA_STALE_MS;
}

//  A latency field in ms: its `_us` twin / 1000 when the stage writes one.
static double s_latency(const dc_ui_stage_t *stage, const char *ms_key, bool *us)
{
    char us_key[sizeof stage->fields[0].key];
    size_t length = ms_key ? strlen(ms_key) : 0;
    if (us)
        *us = false;
    if (length > 3 && length < sizeof us_key && strcmp(ms_key + length - 3, "_ms") == 0) {
        memcpy(us_key, ms_key, length + 1);
        us_key[length - 2] = 'u';
        double value = dc_ui_stats_get(stage, us_key, NAN);
        if (!isnan(value)) {
            if (us)
                *us = true;
            return value / 1000;
        }
    }
    return dc_ui_stats_get(stage, ms_key, NAN);
}

//  One column's value for a stage, NAN when the stage has none. Instances
//  are the rng/hasher processes (a hasher instance serves many requests at
//  once, each in a slot), the workers, or the one broker or dispatcher.
static double s_column(const dc_ui_view_t *view, dc_ui_stage_id_t id, s_column_t column)
{
    const s_columns_t *col = &s_columns[id];
    const dc_ui_stage_t *stage = &view->stages[id];
    if (column == S_COL_INSTANCES && col->one_instance)
        return stage->present ? 1 : NAN;
    if (column >= S_COL_WAIT_P50)
        return s_latency(stage, col->field[column], NULL);
    return dc_ui_stats_get(stage, col->field[column], NAN);
}

//  "850 ms", "4.2 s" or "120 µs".
static void s_duration(char *out, size_t size, double ms)
{
    if (isnan(ms))
        snprintf(out, size, "unknown");
    else if (ms < 1 && ms > 0)
        snprintf(out, size, "%.0f µs", ms * 1000);
    else if (ms < 1000)
        snprintf(out, size, "%.0f ms", ms);
    else
        snprintf(out, size, "%.1f s", ms / 1000);
}

//  A count for a sentence: rounded, bounded (so is the text), NAN as 0.
static long long s_int(double value)
{
    if (isnan(value))
        return 0;
    return (long long)round(fmax(-1e15, fmin(1e15, value)));
}

static const char *s_plural(double n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

//  "1 instance, 20 slots".
static void s_instances(const dc_ui_stage_t *stage, char *out, size_t size)
{
    double slots = dc_ui_stats_get(stage, DC_STATS_SVC_SLOTS, 0);
    double instances = dc_ui_stats_get(stage, DC_STATS_SVC_INSTANCES, 0);
    snprintf(out, size, "%lld %s, %lld %s", s_int(instances),
             s_plural(instances, "instance", "instances"), s_int(slots),
             s_plural(slots, "slot", "slots"));
}

//  Is this service saturated? Busy >= 90 % (80 % for the stage already
//  named: hysteresis), or no slots while requests wait.
static bool s_saturated(const dc_ui_view_t *view, dc_ui_stage_id_t id, dc_ui_stage_id_t current)
{
    if (!dc_ui_stats_live(view, id))
        return false;
    const dc_ui_stage_t *stage = &view->stages[id];
    double slots = dc_ui_stats_get(stage, DC_STATS_SVC_SLOTS, NAN);
    double queue = dc_ui_stats_get(stage, DC_STATS_SVC_QUEUE, 0);
    if (!isnan(slots) && slots < 1)
        return queue > 0;
    return dc_ui_stats_get(stage, DC_STATS_SVC_BUSY_PCT, 0) >= (id == current ? 80 : 90);
}

//  The broker's own process is the limit: >= 85 % of a core (75 % while named).
static bool s_broker_bound(const dc_ui_view_t *view, dc_ui_stage_id_t current)
{
    return dc_ui_stats_live(view, DC_UI_STAGE_BROKER) &&
           dc_ui_stats_get(&view->stages[DC_UI_STAGE_BROKER], DC_STATS_BROKER_CPU_PCT, 0) >=
               (current == DC_UI_STAGE_BROKER ? 75 : 85);
}

//  Of two saturated services, the one with more queued (then longer p99 wait).
static bool s_worse(const dc_ui_view_t *view, dc_ui_stage_id_t a, dc_ui_stage_id_t b)
{
    double queue_a = dc_ui_stats_get(&view->stages[a], DC_STATS_SVC_QUEUE, 0);
    double queue_b = dc_ui_stats_get(&view->stages[b], DC_STATS_SVC_QUEUE, 0);
    if (queue_a != queue_b)
        return queue_a > queue_b;
    return s_latency(&view->stages[a], DC_STATS_MS(DC_STATS_SVC_WAIT_P99), NULL) >
           s_latency(&view->stages[b], DC_STATS_MS(DC_STATS_SVC_WAIT_P99), NULL);
}

//  The stage that limits this view, or DC_UI_STAGE_COUNT when none can be
//  named (no stats). `current` is the stage named so far (hysteresis).
static dc_ui_stage_id_t s_candidate(const dc_ui_view_t *view, dc_ui_stage_id_t current)
{
    dc_ui_stage_id_t worst = DC_UI_STAGE_COUNT;
    for (dc_ui_stage_id_t id = DC_UI_STAGE_RNG; id <= DC_UI_STAGE_HASHER; id++)
        if (s_saturated(view, id, current) &&
            (worst == DC_UI_STAGE_COUNT || s_worse(view, id, worst)))
            worst = id;
    if (worst != DC_UI_STAGE_COUNT)
        return worst;
    if (s_broker_bound(view, current))
        return DC_UI_STAGE_BROKER;
    if (dc_ui_stats_live(view, DC_UI_STAGE_WORKER))
        return DC_UI_STAGE_WORKER;
    return DC_UI_STAGE_COUNT;
}

//  "1 process, 1 slot, 100% busy, 8 requests queued, p99 wait 800 ms"
static void s_service_state(const dc_ui_view_t *view, dc_ui_stage_id_t id, char *out, size_t size)
{
    const dc_ui_stage_t *stage = &view->stages[id];
    double queue = dc_ui_stats_get(stage, DC_STATS_SVC_QUEUE, 0);
    char instances[64];
    char wait[32];
    s_instances(stage, instances, sizeof instances);
    s_duration(wait, sizeof wait, s_latency(stage, DC_STATS_MS(DC_STATS_SVC_WAIT_P99), NULL));
    snprintf(out, size, "%s, %lld%% busy, %lld %s queued, p99 wait %s", instances,
             s_int(dc_ui_stats_get(stage, DC_STATS_SVC_BUSY_PCT, 0)), s_int(queue),
             s_plural(queue, "request", "requests"), wait);
}

static void s_judge_service(dc_ui_view_t *view, dc_ui_stage_id_t id)
{
    const dc_ui_stage_t *stage = &view->stages[id];
    const char *name = dc_ui_stats_stage_name(id);
    double slots = dc_ui_stats_get(stage, DC_STATS_SVC_SLOTS, NAN);
    double queue = dc_ui_stats_get(stage, DC_STATS_SVC_QUEUE, 0);
    if (!isnan(slots) && slots < 1) {
        snprintf(view->verdict, sizeof view->verdict,
                 "%s has no instances and %.0f %s waiting: start %s.", name, queue,
                 s_plural(queue, "request is", "requests are"), name);
        return;
    }
    char state[192];
    s_service_state(view, id, state, sizeof state);
    dc_ui_stage_id_t other = id == DC_UI_STAGE_RNG ? DC_UI_STAGE_HASHER : DC_UI_STAGE_RNG;
    if (s_saturated(view, other, DC_UI_STAGE_COUNT)) {
        char other_state[192];
        s_service_state(view, other, other_state, sizeof other_state);
        snprintf(view->verdict, sizeof view->verdict,
                 "%s and %s are both saturated: scale %s first, then %s. %s: %s; %s: %s.", name,
                 dc_ui_stats_stage_name(other), name, dc_ui_stats_stage_name(other), name, state,
                 dc_ui_stats_stage_name(other), other_state);
        return;
    }
    double workers =
        dc_ui_stats_live(view, DC_UI_STAGE_WORKER)
            ? dc_ui_stats_get(&view->stages[DC_UI_STAGE_WORKER], DC_STATS_WORKER_WORKERS, NAN)
            : NAN;
    char shared[64] = "";
    if (!isnan(workers) && workers >= 1)
        snprintf(shared, sizeof shared, " (%.0f %s share it)", workers,
                 s_plural(workers, "worker", "workers"));
    snprintf(view->verdict, sizeof view->verdict,
             "%s is the bottleneck: %s. Scale %s next%s; more workers will not help.", name, state,
             name, shared);
}

//  "; rng 33% busy, hasher 4% busy" for the live services.
static void s_services_busy(const dc_ui_view_t *view, char *out, size_t size)
{
    size_t used = 0;
    out[0] = 0;
    for (dc_ui_stage_id_t id = DC_UI_STAGE_RNG; id <= DC_UI_STAGE_HASHER; id++) {
        if (!dc_ui_stats_live(view, id))
            continue;
        int n = snprintf(out + used, size - used, "%s %s %.0f%% busy", used ? "," : ";",
                         dc_ui_stats_stage_name(id),
                         dc_ui_stats_get(&view->stages[id], DC_STATS_SVC_BUSY_PCT, 0));
        if (n > 0 && (size_t)n < size - used)
            used += (size_t)n;
    }
}

static void s_judge_broker(dc_ui_view_t *view)
{
    char services[96];
    s_services_busy(view, services, sizeof services);
    snprintf(view->verdict, sizeof view->verdict,
             "The broker is the limit: its process uses %.0f%% of a CPU core and no service is "
             "saturated%s. More workers, rng or hasher will not help; put more hashes in each "
             "job (--batch) so each one costs fewer broker hops.",
             dc_ui_stats_get(&view->stages[DC_UI_STAGE_BROKER], DC_STATS_BROKER_CPU_PCT, 0),
             services);
}

static void s_judge_workers(dc_ui_view_t *view)
{
    double workers = dc_ui_stats_get(&view->stages[DC_UI_STAGE_WORKER], DC_STATS_WORKER_WORKERS, 0);
    if (workers < 1) {
        snprintf(view->verdict, sizeof view->verdict, "No workers are running: start workers.");
        return;
    }
    char services[96];
    s_services_busy(view, services, sizeof services);
    snprintf(view->verdict, sizeof view->verdict,
             "The workers are the limit: %.0f %s, no service saturated%s. Add workers next.",
             workers, s_plural(workers, "worker", "workers"), services);
}

//  The verdict for a stage named the bottleneck (DC_UI_STAGE_COUNT: none).
static void s_render(dc_ui_view_t *view, dc_ui_stage_id_t id)
{
    if (id == DC_UI_STAGE_COUNT) {
        if (dc_ui_stats_live(view, DC_UI_STAGE_RNG) || dc_ui_stats_live(view, DC_UI_STAGE_HASHER))
            snprintf(view->verdict, sizeof view->verdict,
                     "No worker stats (is the dispatcher running?); rng and hasher are not "
                     "saturated.");
        else
            snprintf(view->verdict, sizeof view->verdict,
                     "No pipeline stats in Redis yet: start the broker, dispatcher and workers.");
        return;
    }
    snprintf(view->bottleneck, sizeof view->bottleneck, "%s", dc_ui_stats_stage_name(id));
    if (id == DC_UI_STAGE_BROKER)
        s_judge_broker(view);
    else if (id == DC_UI_STAGE_WORKER)
        s_judge_workers(view);
    else
        s_judge_service(view, id);
}

void dc_ui_judge_init(dc_ui_judge_t *judge)
{
    judge->current = DC_UI_STAGE_COUNT;
    judge->challenger = DC_UI_STAGE_COUNT;
    judge->challenger_since_ms = 0;
}

//  Hysteresis: the stage named changes at once when it can no longer be
//  named (no stats, gone stale), else only after another candidate has held
//  for DC_UI_JUDGE_HOLD_MS.
static dc_ui_stage_id_t s_steady(dc_ui_judge_t *judge, const dc_ui_view_t *view)
{
    dc_ui_stage_id_t candidate = s_candidate(view, judge->current);
    if (judge->current == DC_UI_STAGE_COUNT || candidate == DC_UI_STAGE_COUNT ||
        !dc_ui_stats_live(view, judge->current)) {
        judge->current = candidate;
        judge->challenger = DC_UI_STAGE_COUNT;
    } else if (candidate == judge->current)
        judge->challenger = DC_UI_STAGE_COUNT;
    else if (candidate != judge->challenger) {
        judge->challenger = candidate;
        judge->challenger_since_ms = view->ts_ms;
    } else if (view->ts_ms - judge->challenger_since_ms >= DC_UI_JUDGE_HOLD_MS) {
        judge->current = candidate;
        judge->challenger = DC_UI_STAGE_COUNT;
    }
    return judge->current;
}

void dc_ui_stats_judge(dc_ui_view_t *view, dc_ui_judge_t *judge)
{
    view->bottleneck[0] = 0;
    if (!view->redis_ok) {
        snprintf(view->verdict, sizeof view->verdict, "Redis unreachable (%s): retrying.",
                 view->error[0] ? view->error : "unknown error");
        return;
    }
    if (view->have_data && !dc_ui_stats_data_fresh(view)) {
        snprintf(view->verdict, sizeof view->verdict,
                 "Stopped: no counts from the dispatcher for %.0f s (the numbers shown are the "
                 "last ones). Is the dispatcher running?",
                 (double)view->data_age_ms / 1000);
        return;
    }
    dc_ui_judge_t alone;
    if (!judge) {
        dc_ui_judge_init(&alone);
        judge = &alone;
    }
    s_render(view, s_steady(judge, view));
}

//  `"key":value` for a column, null when the stage lacks it.
static void s_json_column(dc_buf_t *out, const char *name, const dc_ui_view_t *view,
                          dc_ui_stage_id_t id, s_column_t column)
{
    dc_buf_printf(out, ",\"%s\":", name);
    dc_buf_json_number(out, s_column(view, id, column));
}

//  The stage's note: counters that have no column of their own.
static void s_note(const dc_ui_view_t *view, dc_ui_stage_id_t id, char *note, size_t size)
{
    const dc_ui_stage_t *s = &view->stages[id];
    note[0] = 0;
    if (!s->present)
        return;
    if (id == DC_UI_STAGE_BROKER)
        snprintf(note, size, "busy = CPU; rate = requests; %.0f drops, %.0f requeued, %.0f dead",
                 dc_ui_stats_get(s, DC_STATS_BROKER_DROPS, 0),
                 dc_ui_stats_get(s, DC_STATS_BROKER_REQUEUED, 0),
                 dc_ui_stats_get(s, DC_STATS_BROKER_EXPIRED_SLOTS, 0));
    else if (id == DC_UI_STAGE_DISPATCHER)
        snprintf(note, size, "queue = jobs in flight (window %.0f, batch %.0f), %.0f reissued",
                 dc_ui_stats_get(s, DC_STATS_DISP_WINDOW, 0),
                 dc_ui_stats_get(s, DC_STATS_DISP_BATCH, 1),
                 dc_ui_stats_get(s, DC_STATS_DISP_REISSUED, 0));
    else if (id == DC_UI_STAGE_WORKER) {
        char rng[32], hasher[32];
        s_duration(rng, sizeof rng, s_latency(s, DC_STATS_MS(DC_STATS_WORKER_RNG_P50), NULL));
        s_duration(hasher, sizeof hasher,
                   s_latency(s, DC_STATS_MS(DC_STATS_WORKER_HASHER_P50), NULL));
        snprintf(note, size, "latency = one loop; rng p50 %s, hasher p50 %s", rng, hasher);
    } else
        snprintf(note, size, "latency = service time; %.0f errors",
                 dc_ui_stats_get(s, DC_STATS_SVC_ERRORS, 0));
}

static void s_json_stage(const dc_ui_view_t *view, dc_ui_stage_id_t id, dc_buf_t *out)
{
    const s_columns_t *col = &s_columns[id];
    const dc_ui_stage_t *stage = &view->stages[id];
    bool us = false;
    s_latency(stage, col->field[S_COL_LAT_P50] ? col->field[S_COL_LAT_P50] : "", &us);
    char note[200];
    s_note(view, id, note, sizeof note);
    dc_buf_printf(out, "{\"name\":\"%s\",\"present\":%s,\"live\":%s,\"instances\":", col->name,
                  stage->present ? "true" : "false", dc_ui_stats_live(view, id) ? "true" : "false");
    dc_buf_json_number(out, s_column(view, id, S_COL_INSTANCES));
    dc_buf_printf(out, ",\"slots\":");
    dc_buf_json_number(
        out, id <= DC_UI_STAGE_HASHER ? dc_ui_stats_get(stage, DC_STATS_SVC_SLOTS, NAN) : NAN);
    s_json_column(out, "busy_pct", view, id, S_COL_BUSY);
    s_json_column(out, "queue", view, id, S_COL_QUEUE);
    s_json_column(out, "wait_p50_ms", view, id, S_COL_WAIT_P50);
    s_json_column(out, "wait_p99_ms", view, id, S_COL_WAIT_P99);
    s_json_column(out, "lat_p50_ms", view, id, S_COL_LAT_P50);
    s_json_column(out, "lat_p99_ms", view, id, S_COL_LAT_P99);
    dc_buf_printf(out, ",\"lat_us\":%s,\"rate\":", us ? "true" : "false");
    dc_buf_json_number(out, view->have_rate[id] ? view->rate[id] : NAN);
    dc_buf_printf(out, ",\"note\":");
    dc_buf_json_string(out, note);
    dc_buf_printf(out, ",\"fields\":{");
    for (size_t i = 0; i < stage->count; i++) {
        dc_buf_printf(out, "%s", i ? "," : "");
        dc_buf_json_string(out, stage->fields[i].key);
        dc_buf_append(out, ":", 1);
        dc_buf_json_number(out, stage->fields[i].value);
    }
    dc_buf_printf(out, "},\"missing\":[");
    const char *missing[DC_UI_STAGE_FIELDS_MAX];
    size_t count = dc_ui_stats_missing(id, stage, missing, DC_UI_STAGE_FIELDS_MAX);
    for (size_t i = 0; i < count; i++) {
        dc_buf_printf(out, "%s", i ? "," : "");
        dc_buf_json_string(out, missing[i]);
    }
    dc_buf_append(out, "]}", 2);
}

//  "speed": the 10 s average, its span, the sample it ends at, and the
//  newest chart points.
static void s_json_speed(const dc_ui_view_t *view, dc_buf_t *out)
{
    dc_buf_printf(out, ",\"speed\":{\"hashes_per_s\":");
    dc_buf_json_number(out, view->have_speed ? view->speed : NAN);
    dc_buf_printf(out, ",\"window_s\":");
    dc_buf_json_number(out, (double)view->window_ms / 1000);
    dc_buf_printf(out, ",\"span_s\":");
    dc_buf_json_number(out, view->have_speed ? (double)view->span_ms / 1000 : NAN);
    dc_buf_printf(out, ",\"t_ms\":");
    dc_buf_json_number(out, view->have_speed ? (double)view->speed_t_ms : NAN);
    dc_buf_printf(out, ",\"recent\":[");
    for (size_t i = 0; i < view->recent_count && i < DC_UI_RECENT_MAX; i++) {
        dc_buf_printf(out, "%s[%lld,", i ? "," : "", (long long)view->recent_t[i]);
        dc_buf_json_number(out, view->recent_v[i]);
        dc_buf_append(out, "]", 1);
    }
    dc_buf_printf(out, "]},\"data\":{\"fresh\":%s,\"age_s\":",
                  dc_ui_stats_data_fresh(view) ? "true" : "false");
    dc_buf_json_number(out, view->have_data ? (double)view->data_age_ms / 1000 : NAN);
    dc_buf_printf(out, ",\"t_ms\":");
    dc_buf_json_number(out, view->have_data ? (double)view->data_t_ms : NAN);
    dc_buf_append(out, "}", 1);
}

//  Order: "stable" first, then by name.
static bool s_track_before(const dc_ui_track_t *a, const dc_ui_track_t *b)
{
    if (strcmp(b->name, "stable") == 0)
        return false;
    return strcmp(a->name, "stable") == 0 || strcmp(a->name, b->name) < 0;
}

size_t dc_ui_stats_tracks(const dc_ui_view_t *view, dc_ui_track_t *tracks, size_t max)
{
    const dc_ui_stage_t *t = &view->tracks;
    double ts = dc_ui_stats_get(t, DC_STATS_TS_MS, NAN);
    if (!t->present || isnan(ts) || (double)view->ts_ms - ts > DC_UI_STAGE_STALE_MS)
        return 0;
    size_t n = 0;
    double sum = 0;
    for (size_t i = 0; i < t->count && n < max; i++) {
        const char *key = t->fields[i].key;
        size_t prefix = strlen(DC_STATS_TRACKS_HASHES);
        if (strncmp(key, DC_STATS_TRACKS_HASHES, prefix) != 0 || !key[prefix])
            continue;
        dc_ui_track_t track = {.hashes = t->fields[i].value};
        snprintf(track.name, sizeof track.name, "%s", key + prefix);
        char recent[40];
        snprintf(recent, sizeof recent, DC_STATS_TRACKS_RECENT "%s", track.name);
        track.recent = fmax(0, dc_ui_stats_get(t, recent, 0));
        sum += track.recent;
        size_t at = n++;
        for (; at > 0 && s_track_before(&track, &tracks[at - 1]); at--)
            tracks[at] = tracks[at - 1];
        tracks[at] = track;
    }
    for (size_t i = 0; i < n; i++)
        tracks[i].share_pct = sum > 0 ? 100 * tracks[i].recent / sum : NAN;
    return n;
}

void dc_ui_stats_tracks_text(const dc_ui_view_t *view, char *out, size_t size)
{
    dc_ui_track_t tracks[DC_UI_TRACKS_MAX];
    size_t n = dc_ui_stats_tracks(view, tracks, DC_UI_TRACKS_MAX), mining = 0, used = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++)
        mining += tracks[i].recent > 0;
    for (size_t i = 0; i < n && mining > 1; i++) {
        if (tracks[i].recent <= 0)
            continue;
        int w = snprintf(out + used, size - used, "%s%s %.0f %%", used ? " · " : "", tracks[i].name,
                         tracks[i].share_pct);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
}

//  "tracks": each release track's hashes and share of the recent hashes, and
//  the page's line about them (null with fewer than two tracks mining).
static void s_json_tracks(const dc_ui_view_t *view, dc_buf_t *out)
{
    dc_ui_track_t tracks[DC_UI_TRACKS_MAX];
    size_t n = dc_ui_stats_tracks(view, tracks, DC_UI_TRACKS_MAX);
    char text[256];
    dc_ui_stats_tracks_text(view, text, sizeof text);
    dc_buf_printf(out, ",\"tracks\":{\"window_s\":");
    dc_buf_json_number(out,
                       n ? dc_ui_stats_get(&view->tracks, DC_STATS_TRACKS_WINDOW_S, NAN) : NAN);
    dc_buf_printf(out, ",\"list\":[");
    for (size_t i = 0; i < n; i++) {
        dc_buf_printf(out, "%s{\"name\":", i ? "," : "");
        dc_buf_json_string(out, tracks[i].name);
        dc_buf_printf(out, ",\"hashes\":");
        dc_buf_json_number(out, tracks[i].hashes);
        dc_buf_printf(out, ",\"recent\":");
        dc_buf_json_number(out, tracks[i].recent);
        dc_buf_printf(out, ",\"share_pct\":");
        dc_buf_json_number(out, tracks[i].share_pct);
        dc_buf_append(out, "}", 1);
    }
    dc_buf_printf(out, "],\"text\":");
    dc_buf_json_string(out, text[0] ? text : NULL);
    dc_buf_append(out, "}", 1);
}

//  "books": how many times Redis lost the dispatcher's books (its `books_lost`
//  and `books_lost_ms` stats), and the line the page shows about it (null
//  when it never happened, or the dispatcher is not reporting).
static void s_json_books(const dc_ui_view_t *view, dc_buf_t *out)
{
    const dc_ui_stage_t *d = &view->stages[DC_UI_STAGE_DISPATCHER];
    double lost = d->present ? dc_ui_stats_get(d, DC_STATS_DISP_BOOKS_LOST, 0) : 0;
    double lost_ms = d->present ? dc_ui_stats_get(d, DC_STATS_DISP_BOOKS_LOST_MS, 0) : 0;
    char text[200];
    snprintf(text, sizeof text,
             "Redis lost its data %.0f time%s while the dispatcher ran: counts restarted from 0 "
             "(the totals shown count only what was mined since).",
             lost, lost == 1 ? "" : "s");
    dc_buf_printf(out, ",\"books\":{\"lost\":");
    dc_buf_json_number(out, lost);
    dc_buf_printf(out, ",\"t_ms\":");
    dc_buf_json_number(out, lost_ms > 0 ? lost_ms : NAN);
    dc_buf_printf(out, ",\"text\":");
    dc_buf_json_string(out, lost > 0 ? text : NULL);
    dc_buf_append(out, "}", 1);
}

void dc_ui_stats_json(const dc_ui_view_t *view, dc_buf_t *out)
{
    dc_buf_printf(out, "{\"ts_ms\":%lld,\"redis\":{\"ok\":%s,\"error\":", (long long)view->ts_ms,
                  view->redis_ok ? "true" : "false");
    dc_buf_json_string(out, view->redis_ok ? NULL : view->error);
    dc_buf_printf(out, "},\"hashes\":");
    dc_buf_json_number(out, view->have_hashes ? (double)view->hashes : NAN);
    dc_buf_printf(out, ",\"coins\":");
    dc_buf_json_number(out, view->have_coins ? (double)view->coins : NAN);
    s_json_speed(view, out);
    s_json_books(view, out);
    s_json_tracks(view, out);
    dc_buf_printf(out, ",\"stages\":[");
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT; id++) {
        if (id)
            dc_buf_append(out, ",", 1);
        s_json_stage(view, id, out);
    }
    dc_buf_printf(out, "],\"bottleneck\":{\"stage\":");
    dc_buf_json_string(out, view->bottleneck[0] ? view->bottleneck : NULL);
    dc_buf_printf(out, ",\"text\":");
    dc_buf_json_string(out, view->verdict);
    dc_buf_append(out, "}}", 2);
}

//  The rig's figures, unlabelled: totals, speed, Redis, ages, the broker's
//  CPU and the webui's own; NAN where the view does not know.
static void s_rig_metrics(const dc_ui_view_t *view, int64_t now_ms, size_t sse_clients,
                          uint64_t events, dc_buf_t *out)
{
    double cpu_pct =
        dc_ui_stats_live(view, DC_UI_STAGE_BROKER)
            ? dc_ui_stats_get(&view->stages[DC_UI_STAGE_BROKER], DC_STATS_BROKER_CPU_PCT, NAN)
            : NAN;
    const dc_figure_t figures[] = {
        {NULL, "dc_hashes_total", NULL, DC_FIGURE_COUNT,
         view->have_hashes ? (double)view->hashes : NAN},
        {NULL, "dc_coins_total", NULL, DC_FIGURE_COUNT,
         view->have_coins ? (double)view->coins : NAN},
        {NULL, "dc_speed_hashes_per_second", NULL, DC_FIGURE_REAL,
         view->have_speed ? view->speed : NAN},
        {NULL, "dc_speed_window_seconds", NULL, DC_FIGURE_SECONDS, (double)view->window_ms / 1000},
        {NULL, "dc_redis_up", NULL, DC_FIGURE_COUNT, view->redis_ok ? 1 : 0},
        {NULL, "dc_snapshot_age_seconds", NULL, DC_FIGURE_SECONDS,
         view->ts_ms > 0 ? (double)(now_ms - view->ts_ms) / 1000 : NAN},
        //  time since the dispatcher's newest dc:series sample arrived
        {NULL, "dc_data_age_seconds", NULL, DC_FIGURE_SECONDS,
         view->have_data ? (double)view->data_age_ms / 1000 : NAN},
        //  in cores (1 = one core)
        {NULL, "dc_broker_cpu_ratio", NULL, DC_FIGURE_REAL, cpu_pct / 100},
        {NULL, "dc_webui_sse_clients", NULL, DC_FIGURE_COUNT, (double)sse_clients},
        {NULL, "dc_webui_events_total", NULL, DC_FIGURE_COUNT, (double)events},
    };
    dc_figures_metrics(figures, sizeof figures / sizeof *figures, 1, NULL, out);
}

enum { S_STAGE_FIGURES = 10 };

//  A stage's figures, into out[S_STAGE_FIGURES]: whether it is live and the
//  bottleneck, and, when live, its columns and rate (NAN: no sample).
static void s_stage_figures(const dc_ui_view_t *view, dc_ui_stage_id_t id, dc_figure_t *out)
{
    bool live = dc_ui_stats_live(view, id);
    double v[S_COL_COUNT + 1]; //  the columns, then the rate
    for (int c = 0; c < S_COL_COUNT; c++)
        v[c] = live ? s_column(view, id, (s_column_t)c) : NAN;
    v[S_COL_COUNT] = live && view->have_rate[id] ? view->rate[id] : NAN;
    if (id == DC_UI_STAGE_BROKER)
        v[S_COL_BUSY] = NAN; //  CPU, not busy slots: dc_broker_cpu_ratio
    const dc_figure_t figures[] = {
        //  1 when the stage reports fresh stats
        {NULL, "dc_stage_up", NULL, DC_FIGURE_COUNT, live ? 1 : 0},
        {NULL, "dc_stage_instances", NULL, DC_FIGURE_REAL, v[S_COL_INSTANCES]},
        //  fraction of time the stage's slots are busy
        {NULL, "dc_stage_busy_ratio", NULL, DC_FIGURE_REAL, v[S_COL_BUSY] / 100},
        //  requests queued (dispatcher: jobs in flight)
        {NULL, "dc_stage_queue_depth", NULL, DC_FIGURE_REAL, v[S_COL_QUEUE]},
        //  requests, jobs or hashes per second, over the speed window
        {NULL, "dc_stage_rate_per_second", NULL, DC_FIGURE_REAL, v[S_COL_COUNT]},
        //  time requests wait in the broker queue
        {NULL, "dc_stage_wait_seconds", "quantile=\"0.5\"", DC_FIGURE_SECONDS,
         v[S_COL_WAIT_P50] / 1000},
        {NULL, "dc_stage_wait_seconds", "quantile=\"0.99\"", DC_FIGURE_SECONDS,
         v[S_COL_WAIT_P99] / 1000},
        //  service time (worker: one loop)
        {NULL, "dc_stage_latency_seconds", "quantile=\"0.5\"", DC_FIGURE_SECONDS,
         v[S_COL_LAT_P50] / 1000},
        {NULL, "dc_stage_latency_seconds", "quantile=\"0.99\"", DC_FIGURE_SECONDS,
         v[S_COL_LAT_P99] / 1000},
        //  1 for the stage that limits throughput
        {NULL, "dc_bottleneck", NULL, DC_FIGURE_COUNT,
         strcmp(view->bottleneck, s_columns[id].name) == 0 ? 1 : 0},
    };
    _Static_assert(sizeof figures / sizeof *figures == S_STAGE_FIGURES, "S_STAGE_FIGURES");
    memcpy(out, figures, sizeof figures);
}

//  Per stage (label stage): up, columns, rate, bottleneck.
static void s_stages_metrics(const dc_ui_view_t *view, dc_buf_t *out)
{
    dc_figure_t figures[DC_UI_STAGE_COUNT][S_STAGE_FIGURES];
    const char *names[DC_UI_STAGE_COUNT];
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT; id++) {
        s_stage_figures(view, id, figures[id]);
        names[id] = s_columns[id].name;
    }
    dc_figures_metrics_by(&figures[0][0], S_STAGE_FIGURES, DC_UI_STAGE_COUNT, "stage", names, out);
}

//  Per release track (label track): hashes counted, and share of those
//  counted over the last 10 s.
static void s_tracks_metrics(const dc_ui_view_t *view, dc_buf_t *out)
{
    dc_ui_track_t tracks[DC_UI_TRACKS_MAX];
    size_t n = dc_ui_stats_tracks(view, tracks, DC_UI_TRACKS_MAX);
    dc_figure_t figures[DC_UI_TRACKS_MAX][2];
    const char *names[DC_UI_TRACKS_MAX];
    for (size_t i = 0; i < n; i++) {
        figures[i][0] =
            (dc_figure_t){NULL, "dc_track_hashes_total", NULL, DC_FIGURE_COUNT, tracks[i].hashes};
        figures[i][1] = (dc_figure_t){NULL, "dc_track_share_ratio", NULL, DC_FIGURE_REAL,
                                      tracks[i].share_pct / 100};
        names[i] = tracks[i].name;
    }
    dc_figures_metrics_by(&figures[0][0], 2, n, "track", names, out);
}

void dc_ui_stats_metrics(const dc_ui_view_t *view, int64_t now_ms, size_t sse_clients,
                         uint64_t events, dc_buf_t *out)
{
    s_rig_metrics(view, now_ms, sse_clients, events, out);
    s_stages_metrics(view, out);
    s_tracks_metrics(view, out);
}

//  Test helper: set a stage from "key=value" strings.
static void s_set(dc_ui_view_t *view, dc_ui_stage_id_t id, const char *const *pairs, size_t count)
{
    dc_ui_stats_stage_parse(&view->stages[id], pairs, count);
}

//  An array of pairs and its length, for s_set.
#define S_PAIRS(pairs) pairs, sizeof pairs / sizeof *pairs

//  Test helper: judges the view (with judge, or alone when NULL); true when it
//  names stage ("" for none) and its verdict holds text (NULL: any verdict).
static bool s_judged(dc_ui_view_t *view, dc_ui_judge_t *judge, const char *stage, const char *text)
{
    dc_ui_stats_judge(view, judge);
    return strcmp(view->bottleneck, stage) == 0 && (!text || strstr(view->verdict, text));
}

//  Test helper: rng and hasher busy and queued as given, 10 workers, every
//  ts fresh.
static void s_services(dc_ui_view_t *view, const char *rng_busy, const char *rng_queue,
                       const char *hasher_busy, const char *hasher_queue)
{
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)view->ts_ms - 500);
    const char *rng[] = {DC_STATS_SVC_SLOTS,
                         "1",
                         DC_STATS_SVC_INSTANCES,
                         "1",
                         DC_STATS_SVC_BUSY_PCT,
                         rng_busy,
                         DC_STATS_SVC_QUEUE,
                         rng_queue,
                         DC_STATS_MS(DC_STATS_SVC_WAIT_P99),
                         "900",
                         DC_STATS_TS_MS,
                         ts};
    const char *hasher[] = {
        DC_STATS_SVC_SLOTS,    "20",        DC_STATS_SVC_INSTANCES, "1",
        DC_STATS_SVC_BUSY_PCT, hasher_busy, DC_STATS_SVC_QUEUE,     hasher_queue,
        DC_STATS_TS_MS,        ts};
    const char *worker[] = {DC_STATS_WORKER_WORKERS,
                            "10",
                            DC_STATS_WORKER_JOBS_PER_S,
                            "10",
                            DC_STATS_US(DC_STATS_WORKER_LOOP_P50),
                            "250",
                            DC_STATS_TS_MS,
                            ts,
                            "junk",
                            "abc"};
    s_set(view, DC_UI_STAGE_RNG, S_PAIRS(rng));
    s_set(view, DC_UI_STAGE_HASHER, S_PAIRS(hasher));
    s_set(view, DC_UI_STAGE_WORKER, S_PAIRS(worker));
}

//  The hysteresis: a new candidate must hold DC_UI_JUDGE_HOLD_MS in a row.
static void s_test_hysteresis(dc_ui_view_t *view)
{
    dc_ui_judge_t judge;
    dc_ui_judge_init(&judge);
    s_services(view, "100", "9", "5", "0");
    DC_CHECK(s_judged(view, &judge, "rng", NULL));
    //  hasher now looks worse, but only for 4 s: rng stays named
    int64_t start = view->ts_ms;
    for (int s = 1; s <= 4; s++) {
        view->ts_ms = start + 1000 * s;
        s_services(view, "100", "2", "100", "20");
        DC_CHECK(s_judged(view, &judge, "rng", "both saturated"));
        DC_CHECK(s_judged(view, NULL, "hasher", NULL)); //  judged alone, the view names hasher
    }
    //  one second of rng ahead again restarts the clock
    view->ts_ms = start + 5000;
    s_services(view, "100", "30", "100", "20");
    DC_CHECK(s_judged(view, &judge, "rng", NULL));
    for (int s = 6; s <= 10; s++) {
        view->ts_ms = start + 1000 * s;
        s_services(view, "100", "2", "100", "20");
        DC_CHECK(s_judged(view, &judge, "rng", NULL));
    }
    view->ts_ms = start + 11000; //  hasher ahead 5 s in a row: named now
    DC_CHECK(
        s_judged(view, &judge, "hasher", "hasher and rng are both saturated: scale hasher first"));
    //  the named stage stays saturated down to 80 % busy; a fresh judge says
    //  workers at once, this one only after the hold
    view->ts_ms = start + 12000;
    s_services(view, "30", "0", "85", "0");
    DC_CHECK(s_judged(view, &judge, "hasher", NULL));
    DC_CHECK(s_judged(view, NULL, "worker", NULL));
    view->ts_ms = start + 13000;
    s_services(view, "30", "0", "70", "0");
    for (int s = 13; s <= 18; s++) {
        view->ts_ms = start + 1000 * s;
        s_services(view, "30", "0", "70", "0");
        DC_CHECK(s_judged(view, &judge, s < 18 ? "hasher" : "worker", NULL));
    }
    //  a named stage that stops reporting is replaced at once
    s_services(view, "100", "9", "5", "0");
    dc_ui_stats_judge(view, &judge);
    dc_ui_stats_judge(view, &judge);
    const char *gone[] = {DC_STATS_SVC_SLOTS, "1", DC_STATS_SVC_BUSY_PCT, "100",
                          DC_STATS_SVC_QUEUE, "9", DC_STATS_TS_MS,        "1"};
    s_set(view, DC_UI_STAGE_RNG, S_PAIRS(gone));
    DC_CHECK(s_judged(view, &judge, "worker", NULL));
}

//  A hash holding every field of the schema lacks nothing; one without a
//  field the reader uses names it.
static void s_test_complete(void)
{
    const char *pairs[2 * DC_UI_STAGE_FIELDS_MAX];
    dc_ui_stage_t stage;
    const char *missing[DC_UI_STAGE_FIELDS_MAX];
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT; id++) {
        const s_columns_t *col = &s_columns[id];
        DC_CHECK(col->schema_count <= DC_UI_STAGE_FIELDS_MAX);
        for (size_t i = 0; i < col->schema_count; i++) {
            pairs[2 * i] = col->schema[i];
            pairs[2 * i + 1] = "1";
        }
        dc_ui_stats_stage_parse(&stage, pairs, 2 * col->schema_count);
        DC_CHECK(dc_ui_stats_missing(id, &stage, missing, DC_UI_STAGE_FIELDS_MAX) == 0);
        //  every column and the rate counter read a field of the schema
        for (int c = 0; c < S_COL_COUNT; c++)
            DC_CHECK(!col->field[c] || dc_ui_stats_has(&stage, col->field[c]));
        if (col->counter_stage == id)
            DC_CHECK(dc_ui_stats_has(&stage, col->counter));
        dc_ui_stats_stage_parse(&stage, pairs + 2, 2 * col->schema_count - 2);
        DC_CHECK(dc_ui_stats_missing(id, &stage, missing, DC_UI_STAGE_FIELDS_MAX) == 1 &&
                 strcmp(missing[0], col->schema[0]) == 0);
    }
}

//  Metrics: fixed precision, no float noise.
static void s_test_metrics(dc_ui_view_t *view)
{
    dc_buf_t *buf = dc_buf_new();
    view->speed = 10.0 / 3.03;
    view->have_rate[DC_UI_STAGE_RNG] = true;
    view->rate[DC_UI_STAGE_RNG] = 9.87654321;
    dc_ui_stats_metrics(view, view->ts_ms + 1000, 3, 7, buf);
    const char *text = dc_buf_data(buf);
    DC_CHECK(strstr(text, "\ndc_hashes_total 1234\n"));
    DC_CHECK(strstr(text, "\ndc_speed_hashes_per_second 3.3\n"));
    DC_CHECK(strstr(text, "dc_stage_rate_per_second{stage=\"rng\"} 9.877\n"));
    DC_CHECK(strstr(text, "dc_stage_busy_ratio{stage=\"rng\"} 1\n"));
    DC_CHECK(strstr(text, "dc_stage_instances{stage=\"hasher\"} 1\n"));
    DC_CHECK(strstr(text, "dc_stage_latency_seconds{stage=\"worker\",quantile=\"0.5\"} "
                          "0.00025\n"));
    DC_CHECK(strstr(text, "dc_bottleneck{stage=\"rng\"} 1\n"));
    DC_CHECK(strstr(text, "dc_webui_sse_clients 3\n"));
    DC_CHECK(!strstr(text, "0000001") && !strstr(text, "9999"));
    //  every family has its # TYPE line once, before its samples, which stand
    //  together; every label is well formed
    DC_CHECK(dc_figures_check(text) == NULL);
    dc_buf_destroy(&buf);
}

//  Release tracks: shares from the recent hashes, "stable" first, a line only
//  when two tracks mine, nothing from stale stats.
static void s_test_tracks(dc_ui_view_t *view)
{
    char ts[32], text[256];
    snprintf(ts, sizeof ts, "%lld", (long long)view->ts_ms - 500);
    const char *one[] = {"hashes.stable", "500", "recent.stable", "90",
                         "window_s",      "10",  "ts_ms",         ts};
    dc_ui_stats_stage_parse(&view->tracks, one, 8);
    dc_ui_stats_tracks_text(view, text, sizeof text);
    DC_CHECK(text[0] == 0);
    const char *two[] = {"hashes.canary", "40", "recent.canary",    "10", "hashes.stable", "900",
                         "recent.stable", "90", "untracked_hashes", "0",  "ts_ms",         ts};
    dc_ui_stats_stage_parse(&view->tracks, two, 12);
    dc_ui_track_t tracks[DC_UI_TRACKS_MAX];
    DC_CHECK(dc_ui_stats_tracks(view, tracks, DC_UI_TRACKS_MAX) == 2);
    DC_CHECK(strcmp(tracks[0].name, "stable") == 0 && tracks[0].share_pct == 90);
    DC_CHECK(strcmp(tracks[1].name, "canary") == 0 && tracks[1].hashes == 40);
    dc_ui_stats_tracks_text(view, text, sizeof text);
    DC_CHECK(strcmp(text, "stable 90 % · canary 10 %") == 0);
    dc_buf_t *buf = dc_buf_new();
    dc_ui_stats_json(view, buf);
    DC_CHECK(strstr(dc_buf_data(buf),
                    ",\"tracks\":{\"window_s\":null,\"list\":[{\"name\":\"stable\",\"hashes\":900,"
                    "\"recent\":90,\"share_pct\":90},{\"name\":\"canary\",\"hashes\":40,"));
    DC_CHECK(strstr(dc_buf_data(buf), "\"text\":\"stable 90 % · canary 10 %\"}"));
    dc_buf_reset(buf);
    dc_ui_stats_metrics(view, view->ts_ms, 0, 0, buf);
    DC_CHECK(strstr(dc_buf_data(buf), "dc_track_hashes_total{track=\"canary\"} 40\n"));
    DC_CHECK(strstr(dc_buf_data(buf), "dc_track_share_ratio{track=\"stable\"} 0.9\n"));
    DC_CHECK(dc_figures_check(dc_buf_data(buf)) == NULL);
    //  a track name is Redis data: its '"' and '\\' are escaped in the labels
    const char *odd[] = {"hashes.a\"b\\c", "7", "recent.a\"b\\c", "10",
                         "hashes.stable",  "9", "ts_ms",          ts};
    dc_ui_stats_stage_parse(&view->tracks, odd, 8);
    dc_buf_reset(buf);
    dc_ui_stats_metrics(view, view->ts_ms, 0, 0, buf);
    DC_CHECK(strstr(dc_buf_data(buf), "dc_track_hashes_total{track=\"a\\\"b\\\\c\"} 7\n"));
    DC_CHECK(strstr(dc_buf_data(buf), "dc_track_share_ratio{track=\"a\\\"b\\\\c\"} 1\n"));
    DC_CHECK(dc_figures_check(dc_buf_data(buf)) == NULL);
    dc_ui_stats_stage_parse(&view->tracks, two, 12);
    dc_buf_destroy(&buf);
    //  stale: no tracks at all
    view->ts_ms += DC_UI_STAGE_STALE_MS + 1000;
    DC_CHECK(dc_ui_stats_tracks(view, tracks, DC_UI_TRACKS_MAX) == 0);
    view->ts_ms -= DC_UI_STAGE_STALE_MS + 1000;
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
    DC_CHECK(s_judged(&view, NULL, "", "No pipeline stats"));

    //  10 workers, one rng, one 20-slot hasher: rng saturated with a queue
    s_services(&view, "100", "9", "5", "0");
    DC_CHECK(view.stages[DC_UI_STAGE_WORKER].count == 4); //  "junk" is not a number
    DC_CHECK(dc_ui_stats_get(&view.stages[DC_UI_STAGE_RNG], DC_STATS_SVC_QUEUE, -1) == 9);
    DC_CHECK(dc_ui_stats_get(&view.stages[DC_UI_STAGE_RNG], "nope", -1) == -1);
    DC_CHECK(s_judged(&view, NULL, "rng", NULL));
    DC_CHECK(strstr(view.verdict, "rng is the bottleneck: 1 instance, 1 slot, 100% busy, 9 "
                                  "requests queued, p99 wait 900 ms"));
    DC_CHECK(strstr(view.verdict, "Scale rng next (10 workers share it)"));

    //  Both saturated: say so, and which first
    s_services(&view, "100", "9", "99", "0");
    DC_CHECK(s_judged(&view, NULL, "rng",
                      "rng and hasher are both saturated: scale rng first, then hasher"));

    //  Stale rng stats do not count: hasher then wins
    const char *rng_stale[] = {DC_STATS_SVC_SLOTS, "1", DC_STATS_SVC_BUSY_PCT, "100",
                               DC_STATS_SVC_QUEUE, "9", DC_STATS_TS_MS,        "90000"};
    s_set(&view, DC_UI_STAGE_RNG, S_PAIRS(rng_stale));
    DC_CHECK(s_judged(&view, NULL, "hasher", "1 instance, 20 slots, 99% busy"));

    //  Nothing saturated: workers, unless the broker's CPU is the limit
    s_services(&view, "30", "0", "4", "0");
    DC_CHECK(s_judged(&view, NULL, "worker", "Add workers"));
    DC_CHECK(strstr(view.verdict, "rng 30% busy, hasher 4% busy"));
    const char *broker[] = {DC_STATS_BROKER_REQUESTS, "5000", DC_STATS_BROKER_CPU_PCT, "97",
                            DC_STATS_TS_MS,           "99900"};
    s_set(&view, DC_UI_STAGE_BROKER, S_PAIRS(broker));
    DC_CHECK(s_judged(&view, NULL, "broker",
                      "The broker is the limit: its process uses 97% of a CPU core"));
    //  ...but a saturated service comes first
    s_services(&view, "100", "9", "4", "0");
    DC_CHECK(s_judged(&view, NULL, "rng", NULL));

    //  A service with no instances and waiting requests
    const char *rng_gone[] = {DC_STATS_SVC_SLOTS, "0", DC_STATS_SVC_BUSY_PCT, "0",
                              DC_STATS_SVC_QUEUE, "3"};
    s_set(&view, DC_UI_STAGE_RNG, S_PAIRS(rng_gone));
    DC_CHECK(s_judged(&view, NULL, "rng", "start rng"));

    //  Redis down
    view.redis_ok = false;
    snprintf(view.error, sizeof view.error, "Connection refused");
    DC_CHECK(s_judged(&view, NULL, "", "Redis unreachable"));

    //  The dispatcher's series stopped advancing: no stage is named
    view.redis_ok = true;
    view.have_data = true;
    view.data_age_ms = DC_UI_DATA_STALE_MS + 2000;
    DC_CHECK(!dc_ui_stats_data_fresh(&view));
    DC_CHECK(s_judged(&view, NULL, "", "Stopped: no counts"));
    view.data_age_ms = 900;
    DC_CHECK(dc_ui_stats_data_fresh(&view));

    s_test_hysteresis(&view);
    s_test_complete();

    //  Rendering
    view.have_hashes = true;
    view.hashes = 1234;
    view.have_coins = true;
    view.coins = 5;
    view.have_speed = true;
    view.speed = 9.75;
    view.span_ms = 10000;
    view.speed_t_ms = 99000;
    view.recent_count = 2;
    view.recent_t[0] = 98000;
    view.recent_v[0] = 9.5;
    view.recent_t[1] = 99000;
    view.recent_v[1] = 9.75;
    s_services(&view, "100", "3", "5", "0");
    dc_ui_stats_judge(&view, NULL);
    dc_buf_t *buf = dc_buf_new();
    dc_ui_stats_json(&view, buf);
    const char *json = dc_buf_data(buf);
    DC_CHECK(strstr(json, "\"hashes\":1234,\"coins\":5"));
    DC_CHECK(strstr(json, "\"hashes_per_s\":9.750,\"window_s\":10,\"span_s\":10,\"t_ms\":99000,"
                          "\"recent\":[[98000,9.500],[99000,9.750]]},\"data\":{\"fresh\":true"));
    DC_CHECK(strstr(json, "\"bottleneck\":{\"stage\":\"rng\""));
    DC_CHECK(strstr(json, "\"name\":\"hasher\",\"present\":true,\"live\":true,\"instances\":1,"
                          "\"slots\":20,"));
    //  what the hand-made hashes lack is listed, an absent stage lacks nothing
    DC_CHECK(strstr(json, "\"missing\":[\"idle\",\"demand_pct\",\"queue_max\","));
    DC_CHECK(strstr(json, "\"name\":\"dispatcher\",\"present\":false,") &&
             strstr(strstr(json, "\"name\":\"dispatcher\""), "\"missing\":[]}"));
    //  the worker's loop in µs: 0.25 ms, flagged as µs-resolution
    DC_CHECK(strstr(json, "\"lat_p50_ms\":0.250,\"lat_p99_ms\":null,\"lat_us\":true"));
    DC_CHECK(strstr(json, "rng p50 unknown"));
    DC_CHECK(strstr(json, ",\"books\":{\"lost\":0,\"t_ms\":null,\"text\":null},"));
    DC_CHECK(!strchr(json, '\n'));
    dc_buf_destroy(&buf);
    //  the dispatcher reports that Redis lost its books twice
    const char *lost[] = {DC_STATS_DISP_ISSUED,        "9",
                          DC_STATS_DISP_BOOKS_LOST,    "2",
                          DC_STATS_DISP_BOOKS_LOST_MS, "1700000000123"};
    s_set(&view, DC_UI_STAGE_DISPATCHER, S_PAIRS(lost));
    buf = dc_buf_new();
    dc_ui_stats_json(&view, buf);
    DC_CHECK(strstr(dc_buf_data(buf), ",\"books\":{\"lost\":2,\"t_ms\":1700000000123,\"text\":"
                                      "\"Redis lost its data 2 times while the dispatcher ran: "
                                      "counts restarted from 0"));
    dc_buf_destroy(&buf);
    s_test_metrics(&view);
    s_test_tracks(&view);
    if (verbose)
        printf("OK\n");
}
