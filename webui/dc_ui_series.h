/*  dc_ui_series: a fixed-capacity ring of timestamped samples (t_ms, value).
    The webui keeps several: the dispatcher's `dc:series` list of `hashes`
    totals as read from Redis, the speed computed from it over a time window
    for every sample (the chart: the original page divided two adjacent
    samples in the browser, which jitters with Redis batching), and each
    stage's request counter, for its rate over the same window.             */
#ifndef DC_UI_SERIES_H
#define DC_UI_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc_buf.h"

typedef struct _dc_ui_series_t dc_ui_series_t;

//  Create a ring holding at most `capacity` samples; NULL when capacity < 2.
dc_ui_series_t *dc_ui_series_new(size_t capacity);

//  Free the ring and NULL the caller's pointer; safe on NULL.
void dc_ui_series_destroy(dc_ui_series_t **self_p);

//  Append a sample, dropping the oldest when full. Samples must come in
//  time order; one older than the newest is ignored (returns -1).
int dc_ui_series_add(dc_ui_series_t *self, int64_t t_ms, double value);

//  Drop every sample.
void dc_ui_series_clear(dc_ui_series_t *self);

//  Samples it can hold.
size_t dc_ui_series_capacity(const dc_ui_series_t *self);

//  Number of samples held.
size_t dc_ui_series_size(const dc_ui_series_t *self);

//  Newest value, or NAN when empty.
double dc_ui_series_last(const dc_ui_series_t *self);

//  Newest sample's time, or -1 when empty.
int64_t dc_ui_series_last_t(const dc_ui_series_t *self);

//  The i-th sample counted from the oldest; -1 when i is out of range.
int dc_ui_series_at(const dc_ui_series_t *self, size_t i, int64_t *t_ms, double *value);

//  Parse one `dc:series` entry, "TS_MS:TOTAL" (two non-negative decimal
//  integers). Returns 0, or -1 when the entry is anything else.
int dc_ui_series_parse(const char *entry, int64_t *t_ms, double *value);

//  Rate of change per second over about `window_ms`: (newest - oldest) / dt,
//  using the oldest sample not older than window_ms before the newest. Returns
//  0 and stores the rate and the span actually used, or -1 with < 2 samples.
int dc_ui_series_rate(const dc_ui_series_t *self, int64_t window_ms, double *rate,
                      int64_t *span_ms);

//  The rate of change over about `window_ms` ending at each sample newer
//  than `since_ms`, into `out` (cleared first; a sample whose window holds
//  no older sample gets no point). A value lower than the one before it
//  (the counter was reset) starts over from there. Returns the number of
//  points; *last_span_ms (when not NULL) receives the newest point's span.
size_t dc_ui_series_rates(const dc_ui_series_t *self, int64_t window_ms, int64_t since_ms,
                          dc_ui_series_t *out, int64_t *last_span_ms);

//  Append the samples as a JSON array of [t_ms, value] pairs.
void dc_ui_series_json(const dc_ui_series_t *self, dc_buf_t *out);

//  Self-test.
void dc_ui_series_test(bool verbose);

#endif
