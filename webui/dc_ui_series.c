/*  dc_ui_series: ring buffer of (t_ms, value) samples.                          */
#include "dc_ui_series.h"
#include "dc_check.h"

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
    assert(self);
    self->samples = calloc(capacity, sizeof *self->samples);
    assert(self->samples);
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

size_t dc_ui_series_capacity(const dc_ui_series_t *self)
{
    return self->capacity;
}

size_t dc_ui_series_size(const dc_ui_series_t *self)
{
    return self->size;
}

double dc_ui_series_last(const dc_ui_series_t *self)
{
    return self->size ? s_at(self, self->size - 1)->value : NAN;
}

int64_t dc_ui_series_last_t(const dc_ui_series_t *self)
{
    return self->size ? s_at(self, self->size - 1)->t_ms : -1;
}

int dc_ui_series_at(const dc_ui_series_t *self, size_t i, int64_t *t_ms, double *value)
{
    if (i >= self->size)
        return -1;
    *t_ms = s_at(self, i)->t_ms;
    *value = s_at(self, i)->value;
    return 0;
}

//  A non-negative decimal integer of at most 18 digits, ending at `end`.
static int s_parse_count(const char *text, const char *end, int64_t *value)
{
    if (text == end || end - text > 18)
        return -1;
    int64_t parsed = 0;
    for (const char *c = text; c < end; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        parsed = parsed * 10 + (*c - '0');
    }
    *value = parsed;
    return 0;
}

int dc_ui_series_parse(const char *entry, int64_t *t_ms, double *value)
{
    const char *colon = entry ? strchr(entry, ':') : NULL;
    int64_t t = 0, total = 0;
    if (!colon || s_parse_count(entry, colon, &t) != 0 ||
        s_parse_count(colon + 1, colon + 1 + strlen(colon + 1), &total) != 0)
        return -1;
    *t_ms = t;
    *value = (double)total;
    return 0;
}

size_t dc_ui_series_rates(const dc_ui_series_t *self, int64_t window_ms, int64_t since_ms,
                          dc_ui_series_t *out, int64_t *last_span_ms)
{
    dc_ui_series_clear(out);
    size_t first = 0; //  the oldest sample the window may reach back to
    for (size_t i = 1; i < self->size; i++) {
        const s_sample_t *now = s_at(self, i);
        if (now->value < s_at(self, i - 1)->value)
            first = i;
        while (first < i && now->t_ms - s_at(self, first)->t_ms > window_ms)
            first++;
        const s_sample_t *then = s_at(self, first);
        if (now->t_ms < since_ms || first == i || now->t_ms <= then->t_ms)
            continue;
        int64_t span = now->t_ms - then->t_ms;
        dc_ui_series_add(out, now->t_ms, (now->value - then->value) * 1000.0 / (double)span);
        if (last_span_ms)
            *last_span_ms = span;
    }
    return out->size;
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

void dc_ui_series_json(const dc_ui_series_t *self, dc_buf_t *out)
{
    dc_buf_append(out, "[", 1);
    for (size_t i = 0; i < self->size; i++) {
        const s_sample_t *sample = s_at(self, i);
        dc_buf_printf(out, "%s[%lld,", i ? "," : "", (long long)sample->t_ms);
        dc_buf_json_number(out, sample->value);
        dc_buf_append(out, "]", 1);
    }
    dc_buf_append(out, "]", 1);
}

void dc_ui_series_test(bool verbose)
{
    if (verbose)
        printf(" * dc_ui_series: ");
    DC_CHECK(dc_ui_series_new(1) == NULL);
    dc_ui_series_t *series = dc_ui_series_new(4);
    DC_CHECK(series);
    double rate = 0;
    int64_t span = 0;
    DC_CHECK(dc_ui_series_rate(series, 10000, &rate, &span) == -1);
    DC_CHECK(isnan(dc_ui_series_last(series)));
    //  30 hashes/s, sampled once a second; ring keeps the last 4
    for (int i = 0; i < 6; i++)
        DC_CHECK(dc_ui_series_add(series, 1000 * i, 30.0 * i) == 0);
    DC_CHECK(dc_ui_series_size(series) == 4);
    DC_CHECK(dc_ui_series_add(series, 10, 0) == -1);
    DC_CHECK(dc_ui_series_rate(series, 10000, &rate, &span) == 0);
    DC_CHECK(fabs(rate - 30.0) < 1e-9 && span == 3000);
    //  a window shorter than the ring uses only the recent samples
    DC_CHECK(dc_ui_series_rate(series, 1000, &rate, &span) == 0 && span == 1000);
    dc_buf_t *buf = dc_buf_new();
    dc_ui_series_clear(series);
    dc_ui_series_add(series, 5, 1.5);
    dc_ui_series_add(series, 6, 2);
    dc_ui_series_json(series, buf);
    DC_CHECK(strcmp(dc_buf_data(buf), "[[5,1.500],[6,2]]") == 0);
    DC_CHECK(dc_ui_series_last_t(series) == 6);
    dc_buf_destroy(&buf);
    dc_ui_series_destroy(&series);

    //  dc:series entries: "TS_MS:TOTAL", nothing else
    int64_t t = 0;
    double v = 0;
    DC_CHECK(dc_ui_series_parse("1700000000123:42", &t, &v) == 0 && t == 1700000000123 && v == 42);
    const char *bad[] = {"",
                         ":",
                         "1:",
                         ":1",
                         "1:2:3",
                         "-1:2",
                         "1:-2",
                         "1:2x",
                         "a:1",
                         "1 :2",
                         "1234567890123456789:1",
                         NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        DC_CHECK(dc_ui_series_parse(bad[i], &t, &v) == -1);

    //  Rolling rates: 10/s for 30 s, a gap of 20 s (the dispatcher was down),
    //  then a counter reset (Redis flushed), then 20/s.
    dc_ui_series_t *totals = dc_ui_series_new(128);
    dc_ui_series_t *rates = dc_ui_series_new(128);
    for (int s = 0; s <= 30; s++)
        dc_ui_series_add(totals, 1000 * s, 10.0 * s);
    for (int s = 50; s <= 60; s++)
        dc_ui_series_add(totals, 1000 * s, 300 + 10.0 * (s - 50));
    for (int s = 61; s <= 80; s++)
        dc_ui_series_add(totals, 1000 * s, 20.0 * (s - 61));
    int64_t last_span = 0;
    size_t points = dc_ui_series_rates(totals, 10000, 0, rates, &last_span);
    //  no point for t=0, t=50 (nothing in its window) or t=61 (just reset)
    DC_CHECK(points == dc_ui_series_size(totals) - 3);
    DC_CHECK(last_span == 10000 && fabs(dc_ui_series_last(rates) - 20) < 1e-9);
    for (size_t i = 0; dc_ui_series_at(rates, i, &t, &v) == 0; i++)
        DC_CHECK(t != 0 && t != 50000 && t != 61000 &&
                 (t < 61000 ? fabs(v - 10) < 1e-9 : fabs(v - 20) < 1e-9));
    //  while the window fills, the span is shorter; `since` skips old points
    DC_CHECK(dc_ui_series_rates(totals, 10000, 75000, rates, &last_span) == 6);
    DC_CHECK(dc_ui_series_rates(totals, 10000, 0, rates, NULL) == points);
    dc_ui_series_clear(totals);
    dc_ui_series_add(totals, 1000, 5);
    dc_ui_series_add(totals, 3000, 9);
    DC_CHECK(dc_ui_series_rates(totals, 10000, 0, rates, &last_span) == 1 && last_span == 2000);
    DC_CHECK(dc_ui_series_last(rates) == 2);
    dc_ui_series_destroy(&totals);
    dc_ui_series_destroy(&rates);
    dc_ui_series_destroy(&series);
    if (verbose)
        printf("OK\n");
}
