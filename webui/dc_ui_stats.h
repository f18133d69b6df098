/*  dc_ui_stats: what the webui knows at one instant (a "view") and what it makes
    of it. A view holds the totals (`hashes`, HLEN `wallet`), the speed the
    poller computed, and the raw per-stage stats hashes from docs/runtime.md.
    This module is pure: it judges which stage limits throughput and renders
    the view as the SSE JSON snapshot and as Prometheus text. No I/O, no
    threads, so every rule is covered by the self-test.

    The bottleneck rule: a service (rng, hasher) is saturated when its slots
    are >= 90 % busy, or it has no slots and requests wait. Of the saturated
    services the one with the longest queue (then the longest p99 wait)
    limits throughput: with 10 workers and one rng, rng's queue holds most
    workers. When both are saturated the verdict says so and which to scale
    first. When no service is saturated, the broker is the limit if its
    process uses >= 85 % of a CPU core (`cpu_pct`), else the workers are.

    Hysteresis (dc_ui_judge_t): the stage named changes only when another
    one has been the candidate for DC_UI_JUDGE_HOLD_MS in a row, and the
    stage named stays saturated down to 80 % busy (broker: 75 % CPU), so two
    stages near the line do not make the verdict flap.                       */
#ifndef DC_UI_STATS_H
#define DC_UI_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc_buf.h"

typedef enum {
    DC_UI_STAGE_RNG,
    DC_UI_STAGE_HASHER,
    DC_UI_STAGE_BROKER,
    DC_UI_STAGE_WORKER,
    DC_UI_STAGE_DISPATCHER,
    DC_UI_STAGE_COUNT
} dc_ui_stage_id_t;

#define DC_UI_STAGE_FIELDS_MAX 32
#define DC_UI_STAGE_STALE_MS 5000
#define DC_UI_DATA_STALE_MS 3000 //  no new dc:series sample for longer: "no data"
#define DC_UI_JUDGE_HOLD_MS 5000 //  a new bottleneck must persist this long
#define DC_UI_RECENT_MAX 4       //  newest chart points sent with each snapshot

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
    double speed;       //  hashes per second over the window
    int64_t window_ms;  //  the averaging window the poller uses
    int64_t span_ms;    //  the span the speed was actually computed over
    int64_t speed_t_ms; //  the dc:series sample the speed ends at
    //  the newest chart points (t_ms, speed), oldest first: a viewer that
    //  missed a snapshot still gets every point
    size_t recent_count;
    int64_t recent_t[DC_UI_RECENT_MAX];
    double recent_v[DC_UI_RECENT_MAX];
    //  freshness of the dispatcher's dc:series: newest sample and how long
    //  it has been the newest, as seen by the poller
    bool have_data;
    int64_t data_t_ms;
    int64_t data_age_ms;
    //  per-stage rates over the speed's window, from the stage's counter
    bool have_rate[DC_UI_STAGE_COUNT];
    double rate[DC_UI_STAGE_COUNT];
    dc_ui_stage_t stages[DC_UI_STAGE_COUNT];
    dc_ui_stage_t tracks; //  dc:stats:tracks: hashes.T, recent.T per release track
    char bottleneck[16];  //  stage name, "" when none can be named
    char verdict[512];    //  one plain-English line: what limits, what to scale
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

//  True when the stage holds the field (as a number).
bool dc_ui_stats_has(const dc_ui_stage_t *stage, const char *key);

//  The fields proto/dc_stats.h lists for the stage's hash that a present
//  stage lacks (at most max, in the header's order); returns their count.
//  The SSE snapshot lists them per stage as "missing".
size_t dc_ui_stats_missing(dc_ui_stage_id_t stage_id, const dc_ui_stage_t *stage,
                           const char **missing, size_t max);

//  True when the stage reported and its ts_ms is at most DC_UI_STAGE_STALE_MS
//  older than the view (a stage without ts_ms counts as fresh).
bool dc_ui_stats_live(const dc_ui_view_t *view, dc_ui_stage_id_t stage);

//  The counter a stage's rate is computed from: the field name and the
//  stage whose stats hold it; NULL when the stage has none.
const char *dc_ui_stats_counter(dc_ui_stage_id_t stage, dc_ui_stage_id_t *source);

//  True when the dispatcher's series is fresh: a sample arrived within
//  DC_UI_DATA_STALE_MS.
bool dc_ui_stats_data_fresh(const dc_ui_view_t *view);

//  The judge's memory between snapshots (hysteresis). Zero it with
//  dc_ui_judge_init; one per poller, so every viewer sees the same verdict.
typedef struct {
    dc_ui_stage_id_t current;    //  the stage named, DC_UI_STAGE_COUNT: none
    dc_ui_stage_id_t challenger; //  another candidate, DC_UI_STAGE_COUNT: none
    int64_t challenger_since_ms; //  view ts_ms when it became the candidate
} dc_ui_judge_t;

void dc_ui_judge_init(dc_ui_judge_t *judge);

//  Fill view->bottleneck and view->verdict from the rest of the view. With
//  `judge` the hysteresis applies (and judge is updated); NULL judges this
//  view alone.
void dc_ui_stats_judge(dc_ui_view_t *view, dc_ui_judge_t *judge);

//  The workers' release tracks (dc:stats:tracks), "stable" first, then by
//  name: each one's hashes in total and over the last window, and its share
//  (%) of the window's hashes. Returns how many (at most `max`); 0 when the
//  dispatcher's tracks are absent or stale.
#define DC_UI_TRACKS_MAX 8
typedef struct {
    char name[24];
    double hashes, recent, share_pct;
} dc_ui_track_t;
size_t dc_ui_stats_tracks(const dc_ui_view_t *view, dc_ui_track_t *tracks, size_t max);

//  "stable 90 % · canary 10 %" when more than one track mined in the window,
//  else "" (one track is the usual case: nothing to say).
void dc_ui_stats_tracks_text(const dc_ui_view_t *view, char *out, size_t size);

//  Append the view as the one-line JSON snapshot sent over SSE.
void dc_ui_stats_json(const dc_ui_view_t *view, dc_buf_t *out);

//  Append the view as Prometheus text exposition format, with the webui's
//  own gauges (open SSE clients, events published).
void dc_ui_stats_metrics(const dc_ui_view_t *view, int64_t now_ms, size_t sse_clients,
                         uint64_t events, dc_buf_t *out);

//  Self-test.
void dc_ui_stats_test(bool verbose);

#endif
