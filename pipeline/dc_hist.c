/*  dc_hist: a ring of (time, value) samples. A quantile copies the samples that are still
    inside the window and selects from the copy; once a second per metric, this is cheap
    next to the messages it describes. */
#include "dc_hist.h"
#include "dc_check.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _dc_hist_t {
    size_t capacity, next, filled;
    int64_t window_ms;
    int64_t *when;
    uint32_t *value;
    uint32_t *scratch;
};

dc_hist_t *dc_hist_new(size_t capacity, int64_t window_ms)
{
    dc_hist_t *self = calloc(1, sizeof *self);
    assert(self && capacity > 0);
    self->capacity = capacity;
    self->window_ms = window_ms;
    self->when = calloc(capacity, sizeof *self->when);
    self->value = calloc(capacity, sizeof *self->value);
    self->scratch = calloc(capacity, sizeof *self->scratch);
    assert(self->when && self->value && self->scratch);
    return self;
}

void dc_hist_destroy(dc_hist_t **self_p)
{
    if (self_p && *self_p) {
        dc_hist_t *self = *self_p;
        free(self->when);
        free(self->value);
        free(self->scratch);
        free(self);
        *self_p = NULL;
    }
}

void dc_hist_add(dc_hist_t *self, int64_t now_ms, uint32_t value)
{
    self->when[self->next] = now_ms;
    self->value[self->next] = value;
    self->next = (self->next + 1) % self->capacity;
    if (self->filled < self->capacity)
        self->filled++;
}

static int s_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void dc_hist_quantiles(dc_hist_t *self, int64_t now_ms, const double *q, uint32_t *out, size_t nq,
                       size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < self->filled; i++)
        if (now_ms - self->when[i] <= self->window_ms)
            self->scratch[n++] = self->value[i];
    if (count)
        *count = n;
    if (n > 0)
        qsort(self->scratch, n, sizeof *self->scratch, s_cmp);
    for (size_t k = 0; k < nq; k++) {
        size_t rank = (size_t)(q[k] * (double)n);
        out[k] = n == 0 ? 0 : self->scratch[rank >= n ? n - 1 : rank];
    }
}

uint32_t dc_hist_quantile(dc_hist_t *self, int64_t now_ms, double q, size_t *count)
{
    uint32_t out;
    dc_hist_quantiles(self, now_ms, &q, &out, 1, count);
    return out;
}

void dc_hist_test(bool verbose)
{
    if (verbose)
        printf(" * dc_hist: ");
    dc_hist_t *h = dc_hist_new(100, 1000);
    size_t n;
    DC_CHECK(dc_hist_quantile(h, 0, 0.5, &n) == 0 && n == 0);
    for (uint32_t v = 1; v <= 100; v++)
        dc_hist_add(h, 1000, v);
    DC_CHECK(dc_hist_quantile(h, 1000, 0.5, &n) == 51 && n == 100);
    DC_CHECK(dc_hist_quantile(h, 1000, 0.99, NULL) == 100);
    /* several quantiles from one sort, the same as one at a time */
    uint32_t both[2];
    dc_hist_quantiles(h, 1000, (const double[]){0.5, 0.99}, both, 2, &n);
    DC_CHECK(both[0] == 51 && both[1] == 100 && n == 100);
    /* old samples leave the window */
    DC_CHECK(dc_hist_quantile(h, 2001, 0.5, &n) == 0 && n == 0);
    /* the ring overwrites the oldest */
    for (uint32_t v = 0; v < 10; v++)
        dc_hist_add(h, 3000, 1000);
    DC_CHECK(dc_hist_quantile(h, 3000, 0.5, &n) == 1000 && n == 10);
    dc_hist_destroy(&h);
    dc_hist_destroy(&h);
    if (verbose)
        printf("OK\n");
}
