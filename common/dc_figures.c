/*  dc_figures: see the header. */
#include "dc_figures.h"
#include "dc_check.h"
#include "dc_stats.h"

#include <inttypes.h>
#include <string.h>

void dc_figures_fields(const dc_figure_t *figures, size_t count, zmsg_t *fields)
{
    for (size_t i = 0; i < count; i++) {
        const dc_figure_t *f = &figures[i];
        if (f->field && f->unit == DC_FIGURE_US)
            dc_stats_add_latency(fields, f->field, f->value);
        else if (f->field)
            dc_stats_add(fields, f->field, f->value);
    }
}

static bool s_counter(const char *metric)
{
    size_t n = strlen(metric);
    return n > 6 && streq(metric + n - 6, "_total");
}

static void s_sample(const dc_figure_t *f, const char *labels, dc_buf_t *out)
{
    bool set = labels && *labels;
    dc_buf_printf(out, "%s", f->metric);
    if (set || f->label)
        dc_buf_printf(out, "{%s%s%s}", set ? labels : "", set && f->label ? "," : "",
                      f->label ? f->label : "");
    if (f->unit == DC_FIGURE_PCT)
        dc_buf_printf(out, " %.2f\n", (double)f->value / 100);
    else if (f->unit == DC_FIGURE_US)
        dc_buf_printf(out, " %.6f\n", (double)f->value / 1e6);
    else
        dc_buf_printf(out, " %" PRIu64 "\n", f->value);
}

void dc_figures_metrics(const dc_figure_t *figures, size_t count, size_t sets,
                        const char *const *labels, dc_buf_t *out)
{
    size_t end;
    for (size_t i = 0; sets && i < count; i = end) {
        /* a family: the rows from i that name the same metric (its quantiles, say) */
        for (end = i + 1; end < count && figures[i].metric && figures[end].metric &&
                          streq(figures[i].metric, figures[end].metric);
             end++)
            ;
        if (!figures[i].metric)
            continue;
        dc_buf_printf(out, "# TYPE %s %s\n", figures[i].metric,
                      s_counter(figures[i].metric) ? "counter" : "gauge");
        for (size_t s = 0; s < sets; s++)
            for (size_t row = i; row < end; row++)
                s_sample(&figures[s * count + row], labels ? labels[s] : NULL, out);
    }
}

void dc_figures_label(dc_buf_t *out, const char *name, const char *value)
{
    dc_buf_printf(out, "%s=\"", name);
    for (const char *c = value; *c; c++)
        if (*c == '"' || *c == '\\')
            dc_buf_printf(out, "\\%c", *c);
        else if (*c == '\n')
            dc_buf_append(out, "\\n", 2);
        else
            dc_buf_append(out, c, 1);
    dc_buf_append(out, "\"", 1);
}

/*  The value of field `name` in a hash's fields, or NULL. */
static char *s_field(zmsg_t *fields, const char *name)
{
    for (zframe_t *f = zmsg_first(fields); f; f = zmsg_next(fields)) {
        zframe_t *value = zmsg_next(fields);
        if (value && zframe_streq(f, name))
            return zframe_strdup(value);
    }
    return NULL;
}

void dc_figures_test(bool verbose)
{
    if (verbose)
        printf(" * dc_figures: ");
    /* two label sets (services) of one table: a counter, a ratio, a latency family of two
       quantiles, a field only and a metric only */
    dc_figure_t table[2][6] = {{
        {"served", "dc_test_served_total", NULL, DC_FIGURE_COUNT, 7},
        {"busy_pct", "dc_test_busy_ratio", NULL, DC_FIGURE_PCT, 45},
        {"wait_p50", "dc_test_wait_seconds", "quantile=\"0.5\"", DC_FIGURE_US, 1500},
        {"wait_p99", "dc_test_wait_seconds", "quantile=\"0.99\"", DC_FIGURE_US, 25000},
        {"queue_max", NULL, NULL, DC_FIGURE_COUNT, 3},
        {NULL, "dc_test_slots", NULL, DC_FIGURE_COUNT, 20},
    }};
    const uint64_t second[6] = {9, 100, 2, 3, 0, 1};
    for (size_t i = 0; i < 6; i++) {
        table[1][i] = table[0][i];
        table[1][i].value = second[i];
    }
    zmsg_t *fields = zmsg_new();
    dc_figures_fields(table[0], 6, fields);
    DC_CHECK(zmsg_size(fields) == 2 * 7); /* name, value: the 7 fields below */
    const char *want[][2] = {{"served", "7"},       {"busy_pct", "45"},
                             {"wait_p50_ms", "1"},  {"wait_p50_us", "1500"},
                             {"wait_p99_ms", "25"}, {"wait_p99_us", "25000"},
                             {"queue_max", "3"}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char *value = s_field(fields, want[i][0]);
        DC_CHECK(value && streq(value, want[i][1]));
        zstr_free(&value);
    }
    zmsg_destroy(&fields);

    dc_buf_t *label = dc_buf_new();
    dc_figures_label(label, "service", "a\"b\\c");
    DC_CHECK(streq(dc_buf_data(label), "service=\"a\\\"b\\\\c\""));
    dc_buf_t *newline = dc_buf_new(); /* the exposition format's \n, not JSON's \u000a */
    dc_figures_label(newline, "m", "a\nb");
    DC_CHECK(streq(dc_buf_data(newline), "m=\"a\\nb\""));
    dc_buf_destroy(&newline);
    const char *labels[] = {"service=\"rng\"", dc_buf_data(label)};
    dc_buf_t *out = dc_buf_new();
    dc_figures_metrics(&table[0][0], 6, 2, labels, out);
    DC_CHECK(streq(dc_buf_data(out),
                   "# TYPE dc_test_served_total counter\n"
                   "dc_test_served_total{service=\"rng\"} 7\n"
                   "dc_test_served_total{service=\"a\\\"b\\\\c\"} 9\n"
                   "# TYPE dc_test_busy_ratio gauge\n"
                   "dc_test_busy_ratio{service=\"rng\"} 0.45\n"
                   "dc_test_busy_ratio{service=\"a\\\"b\\\\c\"} 1.00\n"
                   "# TYPE dc_test_wait_seconds gauge\n"
                   "dc_test_wait_seconds{service=\"rng\",quantile=\"0.5\"} 0.001500\n"
                   "dc_test_wait_seconds{service=\"rng\",quantile=\"0.99\"} 0.025000\n"
                   "dc_test_wait_seconds{service=\"a\\\"b\\\\c\",quantile=\"0.5\"} "
                   "0.000002\n"
                   "dc_test_wait_seconds{service=\"a\\\"b\\\\c\",quantile=\"0.99\"} "
                   "0.000003\n"
                   "# TYPE dc_test_slots gauge\n"
                   "dc_test_slots{service=\"rng\"} 20\n"
                   "dc_test_slots{service=\"a\\\"b\\\\c\"} 1\n"));
    /* one set without labels; no set at all, nothing */
    dc_buf_reset(out);
    dc_figures_metrics(table[1], 2, 1, NULL, out);
    DC_CHECK(streq(dc_buf_data(out), "# TYPE dc_test_served_total counter\n"
                                     "dc_test_served_total 9\n"
                                     "# TYPE dc_test_busy_ratio gauge\n"
                                     "dc_test_busy_ratio 1.00\n"));
    dc_buf_reset(out);
    dc_figures_metrics(table[1], 2, 0, NULL, out);
    DC_CHECK(dc_buf_size(out) == 0);
    dc_buf_destroy(&out);
    dc_buf_destroy(&label);
    if (verbose)
        printf("OK\n");
}
