/*  dc_figures: one table of a role's figures, two outputs. Each figure names its
    dc:stats field (proto/dc_stats.h), its /metrics family, or both, next to its value;
    dc_figures_fields writes the fields of a dc:stats hash and dc_figures_metrics the
    Prometheus text, from the same rows, so a figure added to the table reaches both and
    one missing from either is missing from the table. The broker, the dispatcher and the
    web UI keep their figures this way; the web UI's are reals it computes from the stats
    it read (/metrics only).

    /metrics: a family whose name ends in _total is a counter, any other a gauge; each
    family is written once, with its # TYPE line and all its samples together, also when
    the table is repeated for several label sets (one per service, per stage). A figure
    whose value is NaN has no sample (its family keeps its # TYPE line) and no field. */
#ifndef DC_FIGURES_H_INCLUDED
#define DC_FIGURES_H_INCLUDED

#include "dc_buf.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    DC_FIGURE_COUNT,   /* an integer, the same number in both */
    DC_FIGURE_PCT,     /* a percentage: the field in %, the metric a ratio (value / 100) */
    DC_FIGURE_US,      /* a latency in µs: the field is a stem written as DC_STATS_MS(stem)
                          and DC_STATS_US(stem), the metric is in seconds */
    DC_FIGURE_REAL,    /* a real, /metrics only: to 3 decimals, trailing zeros dropped
                          (3.3, not 3.30033003; an integer as an integer) */
    DC_FIGURE_SECONDS, /* real seconds, /metrics only: as DC_FIGURE_REAL to 6 decimals */
} dc_figure_unit_t;

typedef struct {
    const char *field;  /* dc:stats field, or NULL: /metrics only */
    const char *metric; /* /metrics family, or NULL: dc:stats only */
    const char *label;  /* a label of this sample besides the set's (quantile="0.5"), or NULL */
    dc_figure_unit_t unit;
    double value; /* integers exact up to 2^53; NaN: unknown */
} dc_figure_t;

/*  Appends the fields of count figures to a dc:stats hash's fields (dc_stats_add); reals
    have none (a dc:stats field is an integer). */
void dc_figures_fields(const dc_figure_t *figures, size_t count, zmsg_t *fields);

/*  Appends the metrics of `sets` tables of count figures each, laid end to end (the same
    rows in the same order, e.g. one table per service); the samples of set i carry the
    labels labels[i] (e.g. `service="rng"`; labels may be NULL when sets is 1). The rows
    of one family (its quantiles) stand together. No sets, nothing written. */
void dc_figures_metrics(const dc_figure_t *figures, size_t count, size_t sets,
                        const char *const *labels, dc_buf_t *out);

/*  dc_figures_metrics with one label per set: set i's samples carry name="values[i]"
    (escaped by dc_figures_label), e.g. service="rng". */
void dc_figures_metrics_by(const dc_figure_t *figures, size_t count, size_t sets, const char *name,
                           const char *const *values, dc_buf_t *out);

/*  Appends name="value" with value's '"', '\\' and newline escaped as the Prometheus
    text format wants (\", \\, \n): a label for dc_figures_metrics and dc_drops. */
void dc_figures_label(dc_buf_t *out, const char *name, const char *value);

/*  NULL when text is Prometheus text as dc_figures_metrics writes it, else its first
    problem: every sample's family has one # TYPE line (counter or gauge) before its
    samples, which stand together; label values are quoted with '"', '\\' and newlines
    escaped; each line is "name{labels} value". For self-tests of whole /metrics texts. */
const char *dc_figures_check(const char *text);

/*  For self-tests: fetches /metrics from 127.0.0.1:port until its text holds needle or
    timeout_ms passes, then fails the test (DC_CHECK) unless dc_figures_check passes it,
    printing the problem and the text to stderr under who's name. Returns the text
    (at most 64 KiB), which the caller frees. */
char *dc_figures_test_fetch(int port, const char *needle, int timeout_ms, const char *who);

void dc_figures_test(bool verbose);

#endif
