/*  dc_hist: latency percentiles over a sliding time window, from a bounded ring of
    samples (exact, and memory never grows). */
#ifndef DC_HIST_H_INCLUDED
#define DC_HIST_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

typedef struct _dc_hist_t dc_hist_t;

dc_hist_t *dc_hist_new(size_t capacity, int64_t window_ms);
void dc_hist_destroy(dc_hist_t **self_p);
void dc_hist_add(dc_hist_t *self, int64_t now_ms, uint32_t value);
/*  The q-quantile (0..1) of the samples younger than the window; 0 when there are none.
 *count, if not NULL, receives how many samples that was. */
uint32_t dc_hist_quantile(dc_hist_t *self, int64_t now_ms, double q, size_t *count);

/*  The same for nq quantiles q[0..nq) into out[0..nq), with one copy and one sort. */
void dc_hist_quantiles(dc_hist_t *self, int64_t now_ms, const double *q, uint32_t *out, size_t nq,
                       size_t *count);

void dc_hist_test(bool verbose);

#endif
