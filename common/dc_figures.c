/*  dc_figures: see the header. */
#include "dc_figures.h"
#include "dc_check.h"
#include "dc_http.h"
#include "dc_stats.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*  A figure's value as a field's integer: a negative one 0, one past 2^64 its largest. */
static uint64_t s_uint(double value)
{
    if (value <= 0)
        return 0;
    return value >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)value;
}

void dc_figures_fields(const dc_figure_t *figures, size_t count, zmsg_t *fields)
{
    for (size_t i = 0; i < count; i++) {
        const dc_figure_t *f = &figures[i];
        if (!f->field || isnan(f->value) || f->unit == DC_FIGURE_REAL ||
            f->unit == DC_FIGURE_SECONDS)
            continue; /* no field, no value, or a real: a field is an integer */
        if (f->unit == DC_FIGURE_US)
            dc_stats_add_latency(fields, f->field, s_uint(f->value));
        else
            dc_stats_add(fields, f->field, s_uint(f->value));
    }
}

static bool s_counter(const char *metric)
{
    size_t n = strlen(metric);
    return n > 6 && streq(metric + n - 6, "_total");
}

/*  A real to `decimals` places, trailing zeros dropped; an integer as an integer. */
static void s_real(double value, int decimals, dc_buf_t *out)
{
    char text[64];
    int length = 0;
    if (isinf(value))
        length = snprintf(text, sizeof text, "%s", value > 0 ? "+Inf" : "-Inf");
    else if (value == floor(value) && fabs(value) < 1e15)
        length = snprintf(text, sizeof text, "%.0f", value);
    else if (fabs(value) < 1e15)
        length = snprintf(text, sizeof text, "%.*f", decimals, value);
    if (length < 1 || (size_t)length >= sizeof text)
        length = snprintf(text, sizeof text, "%.6g", value); /* huge */
    else if (strchr(text, '.')) {
        while (text[length - 1] == '0')
            text[--length] = 0;
        if (text[length - 1] == '.')
            text[--length] = 0;
    }
    dc_buf_printf(out, " %s\n", text);
}

static void s_sample(const dc_figure_t *f, const char *labels, dc_buf_t *out)
{
    if (isnan(f->value))
        return; /* no value, no sample */
    bool set = labels && *labels;
    dc_buf_printf(out, "%s", f->metric);
    if (set || f->label)
        dc_buf_printf(out, "{%s%s%s}", set ? labels : "", set && f->label ? "," : "",
                      f->label ? f->label : "");
    if (f->unit == DC_FIGURE_REAL)
        s_real(f->value, 3, out);
    else if (f->unit == DC_FIGURE_SECONDS)
        s_real(f->value, 6, out);
    else if (f->unit == DC_FIGURE_PCT)
        dc_buf_printf(out, " %.2f\n", f->value / 100);
    else if (f->unit == DC_FIGURE_US)
        dc_buf_printf(out, " %.6f\n", f->value / 1e6);
    else
        dc_buf_printf(out, " %.0f\n", f->value);
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

void dc_figures_metrics_by(const dc_figure_t *figures, size_t count, size_t sets, const char *name,
                           const char *const *values, dc_buf_t *out)
{
    char **labels = calloc(sets + 1, sizeof *labels);
    assert(labels);
    for (size_t i = 0; i < sets; i++) {
        dc_buf_t *label = dc_buf_new();
        dc_figures_label(label, name, values[i]);
        labels[i] = dc_buf_detach(&label);
    }
    dc_figures_metrics(figures, count, sets, (const char *const *)labels, out);
    for (size_t i = 0; i < sets; i++)
        free(labels[i]);
    free(labels);
}

/*  The length of the metric (or label) name at text, 0 if none. */
static size_t s_name(const char *text, bool metric)
{
    size_t n = 0;
    while (isalpha((unsigned char)text[n]) || text[n] == '_' || (metric && text[n] == ':') ||
           (n && isdigit((unsigned char)text[n])))
        n++;
    return n;
}

/*  Past the labels {name="value",...} at text (or text, without labels); NULL when they
    are not well formed: an unescaped '"' ends a value early, a lone '\\' is no escape. */
static const char *s_labels(const char *text)
{
    if (*text != '{')
        return text;
    for (text++; *text != '}';) {
        size_t n = s_name(text, false);
        if (!n || text[n] != '=' || text[n + 1] != '"')
            return NULL;
        for (text += n + 2; *text != '"'; text++)
            if (*text == '\\' ? !*++text || !strchr("\\\"n", *text) : !*text || *text == '\n')
                return NULL;
        text++;
        if (*text == ',')
            text++;
        else if (*text != '}')
            return NULL;
    }
    return text + 1;
}

/*  A sample's problem, or NULL: at is past its metric name, eol its line's end. */
static const char *s_check_sample(const char *at, const char *eol)
{
    at = s_labels(at);
    if (!at)
        return "a label is not well formed (not escaped?)";
    char *end = NULL;
    if (*at == ' ')
        strtod(at + 1, &end);
    if (!end || end == at + 1 || end != eol)
        return "a sample's value is not a number";
    return NULL;
}

enum { S_NAME_MAX = 256 };
#define S_TYPED ((void *)1) /* a family's state: its # TYPE seen, */
#define S_DONE ((void *)2)  /* its samples over */

/*  A line's problem, or NULL; families holds every family's state, open[S_NAME_MAX] the
    family whose samples the lines above were. */
static const char *s_check_line(const char *line, zhashx_t *families, char *open)
{
    const char *eol = strchr(line, '\n');
    if (!eol)
        return "the last line has no newline";
    bool type = strncmp(line, "# TYPE ", 7) == 0;
    if (*line == '#' && !type)
        return NULL; /* # HELP, a comment */
    const char *name = type ? line + 7 : line;
    size_t n = s_name(name, true);
    if (!n || n >= S_NAME_MAX)
        return "a line names no metric";
    char family[S_NAME_MAX];
    memcpy(family, name, n);
    family[n] = 0;
    if (*open && !streq(open, family))
        zhashx_update(families, open, S_DONE);
    *open = 0;
    void *state = zhashx_lookup(families, family);
    if (type && state)
        return "a family has two # TYPE lines";
    if (type && strncmp(name + n, " counter\n", 9) && strncmp(name + n, " gauge\n", 7))
        return "a # TYPE line names no known type";
    if (type)
        return zhashx_insert(families, family, S_TYPED), NULL;
    if (!state)
        return "a sample's family has no # TYPE line before it";
    if (state == S_DONE)
        return "a family's samples do not stand together";
    memcpy(open, family, n + 1);
    return s_check_sample(name + n, eol);
}

const char *dc_figures_check(const char *text)
{
    zhashx_t *families = zhashx_new(); /* name -> S_TYPED or S_DONE */
    char open[S_NAME_MAX] = "";
    const char *problem = NULL;
    for (const char *line = text; *line && !problem;) {
        problem = s_check_line(line, families, open);
        line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "";
    }
    zhashx_destroy(&families);
    return problem;
}

char *dc_figures_test_fetch(int port, const char *needle, int timeout_ms, const char *who)
{
    size_t size = 65536;
    char *body = calloc(1, size);
    assert(body);
    int64_t deadline = zclock_mono() + timeout_ms;
    while (!(dc_http_get(port, "/metrics", body, size) == 200 && strstr(body, needle)) &&
           zclock_mono() < deadline)
        zclock_sleep(50);
    const char *problem = strstr(body, needle) ? dc_figures_check(body) : "needle not found";
    if (problem)
        fprintf(stderr, "%s: /metrics: %s (waited for \"%s\")\n%s", who, problem, needle, body);
    DC_CHECK(problem == NULL);
    return body;
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

/*  Reals: 3 decimals or 6 for seconds, no trailing zeros, NaN no sample (the family
    stays); no dc:stats field. */
static void s_test_reals(dc_buf_t *out, const char *const *labels)
{
    const dc_figure_t reals[2][2] = {
        {{.field = "speed", .metric = "dc_test_speed", .unit = DC_FIGURE_REAL, .value = 10 / 3.03},
         {.metric = "dc_test_age_seconds", .unit = DC_FIGURE_SECONDS, .value = 0.00025}},
        {{.metric = "dc_test_speed", .unit = DC_FIGURE_REAL, .value = NAN},
         {.metric = "dc_test_age_seconds", .unit = DC_FIGURE_SECONDS, .value = 12}},
    };
    const dc_figure_t unknown = {"queue", "dc_test_queue", NULL, DC_FIGURE_COUNT, NAN};
    zmsg_t *fields = zmsg_new();
    dc_figures_fields(reals[0], 2, fields);
    dc_figures_fields(&unknown, 1, fields);
    DC_CHECK(zmsg_size(fields) == 0);
    zmsg_destroy(&fields);
    dc_buf_reset(out);
    dc_figures_metrics(&reals[0][0], 2, 2, labels, out);
    DC_CHECK(streq(dc_buf_data(out), "# TYPE dc_test_speed gauge\n"
                                     "dc_test_speed{service=\"rng\"} 3.3\n"
                                     "# TYPE dc_test_age_seconds gauge\n"
                                     "dc_test_age_seconds{service=\"rng\"} 0.00025\n"
                                     "dc_test_age_seconds{service=\"a\\\"b\\\\c\"} 12\n"));
    DC_CHECK(dc_figures_check(dc_buf_data(out)) == NULL);
    dc_buf_reset(out);
    dc_figures_metrics(reals[1], 1, 1, NULL, out);
    DC_CHECK(streq(dc_buf_data(out), "# TYPE dc_test_speed gauge\n"));
}

/*  dc_figures_check: each rule can fail. */
static void s_test_check(void)
{
    const char *good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"\\\"\\\\\\n\"} 1\n"
                       "a_total{x=\"b\",y=\"\"} 2.5\n# TYPE b gauge\n# TYPE c gauge\nc -1\n";
    DC_CHECK(dc_figures_check(good) == NULL);
    DC_CHECK(dc_figures_check("") == NULL);
    const char *bad[] = {
        "a 1\n",                                           /* no # TYPE */
        "a 1\n# TYPE a gauge\n",                           /* # TYPE after the sample */
        "# TYPE a gauge\n# TYPE a gauge\na 1\n",           /* two */
        "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na 2\n", /* a apart */
        "# TYPE a histogram\na 1\n",                       /* a type not written here */
        "# TYPE a gauge\na{x=\"a\"b\"} 1\n",               /* '"' not escaped */
        "# TYPE a gauge\na{x=\"a\\b\"} 1\n",               /* '\\' not escaped */
        "# TYPE a gauge\na{x=\"a\nb\"} 1\n",               /* newline not escaped */
        "# TYPE a gauge\na{x=b} 1\n",                      /* not quoted */
        "# TYPE a gauge\na one\n",                         /* no number */
        "# TYPE a gauge\na 1",                             /* no newline */
        "# TYPE a gauge\n{x=\"b\"} 1\n",                   /* no name */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        DC_CHECK(dc_figures_check(bad[i]) != NULL);
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
    /* the same by one label's values */
    const char *services[] = {"rng", "a\"b\\c"};
    dc_buf_t *by = dc_buf_new();
    dc_figures_metrics_by(&table[0][0], 6, 2, "service", services, by);
    DC_CHECK(streq(dc_buf_data(by), dc_buf_data(out)));
    DC_CHECK(dc_figures_check(dc_buf_data(by)) == NULL);
    dc_buf_destroy(&by);
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
    s_test_reals(out, labels);
    s_test_check();
    dc_buf_destroy(&out);
    dc_buf_destroy(&label);
    if (verbose)
        printf("OK\n");
}
