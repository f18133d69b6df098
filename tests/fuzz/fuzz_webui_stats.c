/*  libFuzzer target: the webui's own handling of what it reads from Redis. Whatever the
    stats hashes and the dc:series list hold (any field names, any values, any number of
    them), parsing, judging the bottleneck (alone and with hysteresis) and rendering the
    SSE JSON and Prometheus text must not crash, and the JSON must stay one line. The HTTP
    parsing itself is civetweb's. */
#include "dc_ui_series.h"
#include "dc_ui_stats.h"
#include "fuzz_frames.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zmsg_t *msg = fuzz_frames(data, size);
    dc_ui_view_t view;
    memset(&view, 0, sizeof view);
    view.redis_ok = true;
    view.have_hashes = view.have_coins = view.have_speed = true;
    view.hashes = (int64_t)size * 7;
    view.speed = (double)size / 3.0;
    view.window_ms = 10000;
    /* frames alternate field, value; every stage parses the same pairs */
    char *pairs[2 * 40];
    size_t n = 0;
    for (zframe_t *f = zmsg_first(msg); f && n < 2 * 40; f = zmsg_next(msg))
        pairs[n++] = zframe_strdup(f);
    for (int stage = 0; stage < DC_UI_STAGE_COUNT; stage++)
        dc_ui_stats_stage_parse(&view.stages[stage], (const char *const *)pairs, n - n % 2);
    /* every frame also as a dc:series entry; their rates as the chart */
    dc_ui_series_t *totals = dc_ui_series_new(64);
    dc_ui_series_t *rates = dc_ui_series_new(64);
    for (size_t i = 0; i < n; i++) {
        int64_t t_ms;
        double value;
        if (dc_ui_series_parse(pairs[i], &t_ms, &value) == 0)
            dc_ui_series_add(totals, t_ms, value);
    }
    dc_ui_series_rates(totals, 10000, 0, rates, NULL);
    view.have_data = dc_ui_series_size(totals) > 0;
    view.data_age_ms = (int64_t)(size % 7000);
    dc_ui_series_destroy(&totals);
    dc_ui_series_destroy(&rates);
    dc_ui_judge_t judge;
    dc_ui_judge_init(&judge);
    dc_ui_stats_judge(&view, &judge);
    view.ts_ms += 6000;
    dc_ui_stats_judge(&view, &judge);
    dc_ui_stats_judge(&view, NULL);
    dc_buf_t *out = dc_buf_new();
    dc_ui_stats_json(&view, out);
    if (memchr(dc_buf_data(out), '\n', dc_buf_size(out)))
        __builtin_trap(); /* a newline would end the SSE event early */
    dc_buf_reset(out);
    dc_ui_stats_metrics(&view, 1000, 3, 42, out);
    dc_buf_destroy(&out);
    for (size_t i = 0; i < n; i++)
        zstr_free(&pairs[i]);
    zmsg_destroy(&msg);
    return 0;
}
