/*  dc_ui_stats: what the webui knows at one instant (a "view") and what it makes
    of it. A view holds the totals (`hashes`, HLEN `wallet`), the speed the
    poller computed, and the raw per-stage stats hashes from docs/runtime.md.
    This module is pure: it judges which stage limits throughput and renders
    the view as the SSE JSON snapshot and as Prometheus text. No I/O, no
    threads, so every rule is covered by the self-test.

    The bottleneck rule: a service (rng, hasher) is saturated when its
    instances are >= 90 % busy, or it has no instances and requests wait. Of
    the saturated services the one with the longest queue (then the longest
    p99 wait) limits throughput: with 10 workers and one rng, rng's queue
    holds most workers while hasher, fed at rng's pace, queues nothing. When
    no service is saturated, the workers are the limit.                      */
#ifndef DC_UI_STATS_H
#define DC_UI_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc_ui_buf.h"

typedef enum {
    DC_UI_STAGE_RNG,
    DC_UI_STAGE_HASHER,
    DC_UI_STAGE_BROKER,
    DC_UI_STAGE_WORKER,
    DC_UI_STAGE_DISPATCHER,
    DC_UI_STAGE_COUNT
} dc_ui_stage_id_t;

#define DC_UI_STAGE_FIELDS_MAX 24
#define DC_UI_STAGE_STALE_MS 5000

typedef struct {
    char key[24];
    double value;
} dc_ui_field_t;

//  One `dc:stats:<stage>` hash as read from Redis: numeric fields only.
typedef struct {
    bool present;
    size_t count;
    dc_ui_field_t fields[DC_UI_STAGE_FIELDS_MAX];
} dc_ui_stage_t;

//  Everything one snapshot shows. A plain value type, copied between the
//  poller, the fan-out hub and the HTTP handlers.
typedef struct {
    int64_t ts_ms; //  wall clock when Redis was read
    bool redis_ok;
    char error[128]; //  why Redis could not be read, when !redis_ok
    bool have_hashes;
    int64_t hashes;
    bool have_coins;
    int64_t coins;
    bool have_speed;
    double speed;      //  hashes per second over the window
    int64_t window_ms; //  the averaging window the poller uses
    int64_t span_ms;   //  the span the speed was actually computed over
    dc_ui_stage_t stages[DC_UI_STAGE_COUNT];
    char bottleneck[16]; //  stage name, "" when none can be named
    char verdict[320];   //  one plain-English line: what limits, what to scale
} dc_ui_view_t;

//  Stage name ("rng", "hasher", "broker", "worker", "dispatcher") and the
//  Redis key holding its stats.
const char *dc_ui_stats_stage_name(dc_ui_stage_id_t stage);
const char *dc_ui_stats_stage_key(dc_ui_stage_id_t stage);

//  Fill a stage from HGETALL's flat field/value list. Values that are not
//  numbers are skipped; so are fields past DC_UI_STAGE_FIELDS_MAX.
void dc_ui_stats_stage_parse(dc_ui_stage_t *stage, const char *const *pairs, size_t count);

//  A field's value, or `fallback` when absent.
double dc_ui_stats_get(const dc_ui_stage_t *stage, const char *key, double fallback);

//  True when the stage reported and its ts_ms is at most DC_UI_STAGE_STALE_MS
//  older than the view (a stage without ts_ms counts as fresh).
bool dc_ui_stats_live(const dc_ui_view_t *view, dc_ui_stage_id_t stage);

//  Fill view->bottleneck and view->verdict from the rest of the view.
void dc_ui_stats_judge(dc_ui_view_t *view);

//  Append the view as the one-line JSON snapshot sent over SSE.
int dc_ui_stats_json(const dc_ui_view_t *view, dc_ui_buf_t *out);

//  Append the view as Prometheus text exposition format, with the webui's
//  own gauges (open SSE clients, events published).
int dc_ui_stats_metrics(const dc_ui_view_t *view, int64_t now_ms, size_t sse_clients,
                        uint64_t events, dc_ui_buf_t *out);

//  Self-test.
void dc_ui_stats_test(bool verbose);

#endif
