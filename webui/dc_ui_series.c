/*  dc_ui_series: ring buffer of (t_ms, value) samples.                          */
#include "dc_ui_series.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t t_ms;
    double value;
} s_sample_t;

struct _dc_ui_series_t {
    s_sample_t *samples;
    size_t capacity;
    size_t head; //  index of the oldest sample
    size_t size;
};

dc_ui_series_t *dc_ui_series_new(size_t capacity)
{
    if (capacity < 2)
        return NULL;
    dc_ui_series_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->samples = calloc(capacity, sizeof *self->samples);
    if (!self->samples) {
        free(self);
        return NULL;
    }
    self->capacity = capacity;
    return self;
}

void dc_ui_series_destroy(dc_ui_series_t **self_p)
{
    if (self_p && *self_p) {
        free((*self_p)->samples);
        free(*self_p);
        *self_p = NULL;
    }
}

//  The i-th sample counted from the oldest.
static const s_sample_t *s_at(const dc_ui_series_t *self, size_t i)
{
    return &self->samples[(self->head + i) % self->capacity];
}

int dc_ui_series_add(dc_ui_series_t *self, int64_t t_ms, double value)
{
    if (self->size > 0 && t_ms < s_at(self, self->size - 1)->t_ms)
        return -1;
    if (self->size == self->capacity) {
        self->head = (self->head + 1) % self->capacity;
        self->size--;
    }
    s_sample_t *slot = &self->samples[(self->head + self->size) % self->capacity];
    slot->t_ms = t_ms;
    slot->value = value;
    self->size++;
    return 0;
}

void dc_ui_series_clear(dc_ui_series_t *self)
{
    self->head = 0;
    self->size = 0;
}

size_t dc_ui_series_size(const dc_ui_series_t *self)
{
    return self->size;
}

double dc_ui_series_last(const dc_ui_series_t *self)
{
    return self->size ? s_at(self, self->size - 1)->value : NAN;
}

int dc_ui_series_rate(const dc_ui_series_t *self, int64_t window_ms, double *rate, int64_t *span_ms)
{
    if (self->size < 2)
        return -1;
    const s_sample_t *newest = s_at(self, self->size - 1);
    const s_sample_t *oldest = NULL;
    for (size_t i = 0; i < self->size - 1; i++) {
        oldest = s_at(self, i);
        if (newest->t_ms - oldest->t_ms <= window_ms)
            break;
    }
    int64_t span = newest->t_ms - oldest->t_ms;
    if (span <= 0)
        return -1;
    *rate = (newest->value - oldest->value) * 1000.0 / (double)span;
    if (span_ms)
        *span_ms = span;
    return 0;
}

int dc_ui_series_json(const dc_ui_series_t *self, dc_ui_buf_t *out)
{
    int rc = dc_ui_buf_append(out, "[", 1);
    for (size_t i = 0; i < self->size && rc == 0; i++) {
        const s_sample_t *sample = s_at(self, i);
        rc = dc_ui_buf_printf(out, "%s[%lld,", i ? "," : "", (long long)sample->t_ms);
        if (rc == 0)
            rc = dc_ui_buf_json_number(out, sample->value);
        if (rc == 0)
            rc = dc_ui_buf_append(out, "]", 1);
    }
    return rc == 0 ? dc_ui_buf_append(out, "]", 1) : rc;
}

void dc_ui_series_test(bool verbose)
{
    if (verbose)
        printf(" * dc_ui_series: ");
    assert(dc_ui_series_new(1) == NULL);
    dc_ui_series_t *series = dc_ui_series_new(4);
    assert(series);
    double rate = 0;
    int64_t span = 0;
    assert(dc_ui_series_rate(series, 10000, &rate, &span) == -1);
    assert(isnan(dc_ui_series_last(series)));
    //  30 hashes/s, sampled once a second; ring keeps the last 4
    for (int i = 0; i < 6; i++)
        assert(dc_ui_series_add(series, 1000 * i, 30.0 * i) == 0);
    assert(dc_ui_series_size(series) == 4);
    assert(dc_ui_series_add(series, 10, 0) == -1);
    assert(dc_ui_series_rate(series, 10000, &rate, &span) == 0);
    assert(fabs(rate - 30.0) < 1e-9 && span == 3000);
    //  a window shorter than the ring uses only the recent samples
    assert(dc_ui_series_rate(series, 1000, &rate, &span) == 0 && span == 1000);
    dc_ui_buf_t *buf = dc_ui_buf_new();
    dc_ui_series_clear(series);
    dc_ui_series_add(series, 5, 1.5);
    dc_ui_series_add(series, 6, 2);
    dc_ui_series_json(series, buf);
    assert(strcmp(dc_ui_buf_data(buf), "[[5,1.500],[6,2]]") == 0);
    dc_ui_buf_destroy(&buf);
    dc_ui_series_destroy(&series);
    dc_ui_series_destroy(&series);
    if (verbose)
        printf("OK\n");
}
