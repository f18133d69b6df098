/*  dc_ui_series: a fixed-capacity ring of timestamped samples (t_ms, value).
    The webui keeps two: raw `hashes` readings, from which the speed over a
    time window is computed on the server (the original page divided two
    adjacent samples in the browser, which jitters with Redis batching), and
    the last five minutes of that speed for the chart.                       */
#ifndef DC_UI_SERIES_H
#define DC_UI_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc_ui_buf.h"

typedef struct _dc_ui_series_t dc_ui_series_t;

//  Create a ring holding at most `capacity` samples (>= 2); NULL on failure.
dc_ui_series_t *dc_ui_series_new(size_t capacity);

//  Free the ring and NULL the caller's pointer; safe on NULL.
void dc_ui_series_destroy(dc_ui_series_t **self_p);

//  Append a sample, dropping the oldest when full. Samples must come in
//  time order; one older than the newest is ignored (returns -1).
int dc_ui_series_add(dc_ui_series_t *self, int64_t t_ms, double value);

//  Drop every sample.
void dc_ui_series_clear(dc_ui_series_t *self);

//  Number of samples held.
size_t dc_ui_series_size(const dc_ui_series_t *self);

//  Newest value, or NAN when empty.
double dc_ui_series_last(const dc_ui_series_t *self);

//  Rate of change per second over about `window_ms`: (newest - oldest) / dt,
//  using the oldest sample not older than window_ms before the newest. Returns
//  0 and stores the rate and the span actually used, or -1 with < 2 samples.
int dc_ui_series_rate(const dc_ui_series_t *self, int64_t window_ms, double *rate,
                      int64_t *span_ms);

//  Append the samples as a JSON array of [t_ms, value] pairs.
int dc_ui_series_json(const dc_ui_series_t *self, dc_ui_buf_t *out);

//  Self-test.
void dc_ui_series_test(bool verbose);

#endif
