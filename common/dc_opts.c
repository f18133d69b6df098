/*  dc_opts: one table per binary describes every option once; --help, the environment
    lookup and validation all come from that table so they cannot drift apart. */
#include "dc_opts.h"
#include "dc_check.h"

#include <czmq.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DC_OPTS_MAX 32

static const dc_opt_spec_t s_http[] = {
    {"http", "DC_HTTP", "", "ADDR", "serve /healthz /readyz /metrics on PORT or HOST:PORT"},
    DC_OPTS_END};

static const dc_opt_spec_t s_common[] = {{"verbose", "DC_VERBOSE", NULL, NULL, "log every message"},
                                         {"help", NULL, NULL, NULL, "show this help and exit"},
                                         {"version", NULL, NULL, NULL, "show the version and exit"},
                                         DC_OPTS_END};

struct _dc_opts_t {
    const char *prog;
    const dc_opt_spec_t *spec[DC_OPTS_MAX];
    const char *value[DC_OPTS_MAX]; /* NULL: unset boolean */
    size_t count;
};

static bool s_truthy(const char *v)
{
    return v && ((strcasecmp(v, "1") == 0) || (strcasecmp(v, "true") == 0) ||
                 (strcasecmp(v, "yes") == 0) || (strcasecmp(v, "on") == 0));
}

static int s_add(dc_opts_t *self, const dc_opt_spec_t *specs)
{
    for (; specs->name; specs++) {
        if (self->count == DC_OPTS_MAX)
            return -1;
        self->spec[self->count] = specs;
        const char *env = specs->env ? getenv(specs->env) : NULL;
        if (specs->def)
            self->value[self->count] = env ? env : specs->def;
        else
            self->value[self->count] = s_truthy(env) ? "1" : NULL;
        self->count++;
    }
    return 0;
}

static void s_help(dc_opts_t *self, const char *summary)
{
    printf("Usage: %s [OPTIONS]\n%s\n\nOptions (flag, environment variable, default):\n",
           self->prog, summary);
    for (size_t i = 0; i < self->count; i++) {
        const dc_opt_spec_t *s = self->spec[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s%s", s->name, s->def ? " " : "", s->def ? s->arg : "");
        printf("  %-26s %s\n", flag, s->help);
        if (s->env || (s->def && *s->def))
            printf("  %-26s %s%s%s%s%s\n", "", s->env ? "env " : "", s->env ? s->env : "",
                   s->env && s->def && *s->def ? ", " : "", s->def && *s->def ? "default " : "",
                   s->def && *s->def ? s->def : "");
    }
    for (size_t i = 0; i < self->count; i++)
        if (self->spec[i]->arg && streq(self->spec[i]->arg, "EP")) {
            printf("\nEndpoints (EP) follow czmq: '@tcp://HOST:PORT' binds, '>tcp://HOST:PORT'\n"
                   "connects; a bare 'tcp://...' takes the option's usual direction.\n");
            break;
        }
}

static int s_find(dc_opts_t *self, const char *name, size_t len)
{
    for (size_t i = 0; i < self->count; i++)
        if (strlen(self->spec[i]->name) == len && strncmp(self->spec[i]->name, name, len) == 0)
            return (int)i;
    return -1;
}

/*  Handles one argument; returns the number of argv entries consumed, or -1. */
static int s_parse_arg(dc_opts_t *self, int argc, char **argv, int i)
{
    const char *arg = argv[i];
    if (strncmp(arg, "--", 2) != 0) {
        fprintf(stderr, "%s: unexpected argument '%s'; try --help\n", self->prog, arg);
        return -1;
    }
    const char *name = arg + 2, *eq = strchr(name, '=');
    int k = s_find(self, name, eq ? (size_t)(eq - name) : strlen(name));
    if (k < 0) {
        fprintf(stderr, "%s: unknown option '%s'; try --help\n", self->prog, arg);
        return -1;
    }
    if (!self->spec[k]->def) {
        self->value[k] = eq && !s_truthy(eq + 1) ? NULL : "1";
        return 1;
    }
    if (eq) {
        self->value[k] = eq + 1;
        return 1;
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "%s: option '%s' needs a value; try --help\n", self->prog, arg);
        return -1;
    }
    self->value[k] = argv[i + 1];
    return 2;
}

/*  True when the spec's metavariable is "MIN..MAX". */
static bool s_range(const dc_opt_spec_t *s, long *min, long *max)
{
    int end = 0;
    return s->def && s->arg && sscanf(s->arg, "%ld..%ld%n", min, max, &end) == 2 && !s->arg[end];
}

/*  Checks the values of "MIN..MAX" and "HOST:PORT" options; -1 (and a message) if one
    is not. */
static int s_check(dc_opts_t *self, size_t k)
{
    const dc_opt_spec_t *s = self->spec[k];
    const char *v = self->value[k];
    long min, max;
    if (s_range(s, &min, &max)) {
        char *end = NULL;
        errno = 0;
        /* digits, with a leading '-' at most: strtol alone would take " 5" and "+5" */
        bool digits = (*v >= '0' && *v <= '9') || (*v == '-' && v[1] >= '0' && v[1] <= '9');
        long n = digits ? strtol(v, &end, 10) : 0;
        if (digits && !errno && !*end && n >= min && n <= max)
            return 0;
        fprintf(stderr, "%s: --%s%s%s must be an integer from %ld to %ld, got '%s'\n", self->prog,
                s->name, s->env ? " / " : "", s->env ? s->env : "", min, max, v);
        return -1;
    }
    char host[256];
    int port;
    if (!s->arg || !streq(s->arg, "HOST:PORT") || !*v ||
        dc_opts_hostport(v, host, sizeof host, &port) == 0)
        return 0;
    fprintf(stderr, "%s: --%s%s%s wants HOST:PORT (IPv6 as [ADDR]:PORT), not '%s'\n", self->prog,
            s->name, s->env ? " / " : "", s->env ? s->env : "", v);
    return -1;
}

static dc_opts_t *s_new(const char *prog, const char *summary, const dc_opt_spec_t *specs,
                        bool http, int argc, char **argv, int *exit_code)
{
    dc_opts_t *self = calloc(1, sizeof *self);
    assert(self);
    self->prog = prog;
    *exit_code = 2;
    if (s_add(self, specs) != 0 || (http && s_add(self, s_http) != 0) ||
        s_add(self, s_common) != 0) {
        fprintf(stderr, "%s: too many options\n", prog);
        dc_opts_destroy(&self);
        return NULL;
    }
    for (int i = 1; i < argc;) {
        int used = s_parse_arg(self, argc, argv, i);
        if (used < 0) {
            dc_opts_destroy(&self);
            return NULL;
        }
        i += used;
    }
    if (dc_opts_flag(self, "help") || dc_opts_flag(self, "version")) {
        if (dc_opts_flag(self, "help"))
            s_help(self, summary);
        else
            printf("%s %s\n", prog, DC_VERSION);
        *exit_code = 0;
        dc_opts_destroy(&self);
        return NULL;
    }
    for (size_t k = 0; k < self->count; k++)
        if (s_check(self, k) != 0) {
            dc_opts_destroy(&self);
            return NULL;
        }
    return self;
}

dc_opts_t *dc_opts_new(const char *prog, const char *summary, const dc_opt_spec_t *specs, int argc,
                       char **argv, int *exit_code)
{
    return s_new(prog, summary, specs, true, argc, argv, exit_code);
}

dc_opts_t *dc_opts_new_tool(const char *prog, const char *summary, const dc_opt_spec_t *specs,
                            int argc, char **argv, int *exit_code)
{
    return s_new(prog, summary, specs, false, argc, argv, exit_code);
}

void dc_opts_destroy(dc_opts_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

const char *dc_opts_str(dc_opts_t *self, const char *name)
{
    int k = s_find(self, name, strlen(name));
    assert(k >= 0);
    return self->value[k];
}

bool dc_opts_has(dc_opts_t *self, const char *name)
{
    return s_find(self, name, strlen(name)) >= 0;
}

bool dc_opts_flag(dc_opts_t *self, const char *name)
{
    return dc_opts_str(self, name) != NULL;
}

long dc_opts_int(dc_opts_t *self, const char *name)
{
    int k = s_find(self, name, strlen(name));
    assert(k >= 0);
    return strtol(self->value[k], NULL, 10);
}

/*  The port after the host: "PORT" (1..65535, digits only) or -1. */
static long s_port(const char *text)
{
    if (*text < '0' || *text > '9')
        return -1;
    char *end = NULL;
    long n = strtol(text, &end, 10);
    return !*end && n >= 1 && n <= 65535 ? n : -1;
}

int dc_opts_hostport(const char *spec, char *host, size_t hostlen, int *port)
{
    const char *host_start = spec, *host_end, *rest;
    if (*spec == '[') { /* "[V6]:PORT" */
        host_start = spec + 1;
        host_end = strchr(host_start, ']');
        if (!host_end || host_end == host_start || host_end[1] != ':')
            return -1;
        rest = host_end + 2;
    } else {
        host_end = strrchr(spec, ':');
        if (host_end && strchr(spec, ':') != host_end)
            return -1; /* a bare IPv6 address: it needs brackets */
        rest = host_end ? host_end + 1 : spec;
        if (!host_end)
            host_end = host_start; /* "PORT": no host */
    }
    long n = s_port(rest);
    size_t hl = (size_t)(host_end - host_start);
    if (n < 0 || hl >= hostlen)
        return -1;
    if (hl == 0)
        snprintf(host, hostlen, "127.0.0.1");
    else {
        memcpy(host, host_start, hl);
        host[hl] = 0;
    }
    *port = (int)n;
    return 0;
}

void dc_opts_test(bool verbose)
{
    if (verbose)
        printf(" * dc_opts: ");
    static const dc_opt_spec_t specs[] = {
        {"delay-ms", "DC_TEST_DELAY_MS", "100", "0..1000", "delay"},
        {"raw", "DC_TEST_RAW", NULL, NULL, "raw mode"},
        {"redis", "DC_TEST_REDIS", "", "HOST:PORT", "redis"},
        DC_OPTS_END};
    int code;
    unsetenv("DC_TEST_DELAY_MS");
    setenv("DC_TEST_RAW", "yes", 1);
    char *argv1[] = {"t", NULL};
    dc_opts_t *o = dc_opts_new("t", "test", specs, 1, argv1, &code);
    DC_CHECK(o && dc_opts_int(o, "delay-ms") == 100);
    DC_CHECK(dc_opts_flag(o, "raw") && !dc_opts_flag(o, "verbose"));
    DC_CHECK(dc_opts_has(o, "raw") && !dc_opts_has(o, "nope"));
    DC_CHECK(streq(dc_opts_str(o, "redis"), "")); /* an empty HOST:PORT is allowed */
    dc_opts_destroy(&o);
    dc_opts_destroy(&o);

    setenv("DC_TEST_DELAY_MS", "7", 1);
    char *argv2[] = {"t", "--delay-ms", "9", "--raw=0", "--redis=[::1]:6380", NULL};
    o = dc_opts_new("t", "test", specs, 5, argv2, &code);
    DC_CHECK(o && dc_opts_int(o, "delay-ms") == 9);
    DC_CHECK(!dc_opts_flag(o, "raw") && streq(dc_opts_str(o, "redis"), "[::1]:6380"));
    dc_opts_destroy(&o);
    char *argv3[] = {"t", NULL};
    o = dc_opts_new("t", "test", specs, 1, argv3, &code);
    DC_CHECK(o && dc_opts_int(o, "delay-ms") == 7);
    dc_opts_destroy(&o);
    /* out of range, not a number, a bad HOST:PORT: refused when parsed, exit 2 */
    const char *refused[] = {"--delay-ms=1001", "--delay-ms=-1",    "--delay-ms= 5",
                             "--delay-ms=+5",   "--delay-ms=",      "--delay-ms=5x",
                             "--redis=redis",   "--redis=::1:6379", NULL};
    for (const char **r = refused; *r; r++) {
        char *argv[] = {"t", (char *)*r, NULL};
        code = 0;
        DC_CHECK(dc_opts_new("t", "test", specs, 2, argv, &code) == NULL && code == 2);
    }
    setenv("DC_TEST_DELAY_MS", "lots", 1); /* the environment is checked as well */
    DC_CHECK(dc_opts_new("t", "test", specs, 1, argv3, &code) == NULL && code == 2);
    unsetenv("DC_TEST_DELAY_MS");
    unsetenv("DC_TEST_RAW");

    char *argv4[] = {"t", "--nope", NULL};
    DC_CHECK(dc_opts_new("t", "test", specs, 2, argv4, &code) == NULL && code == 2);
    char *argv5[] = {"t", "--delay-ms", NULL};
    DC_CHECK(dc_opts_new("t", "test", specs, 2, argv5, &code) == NULL && code == 2);
    char *argv6[] = {"t", "--version", NULL};
    DC_CHECK(dc_opts_new("t", "test", specs, 2, argv6, &code) == NULL && code == 0);

    char host[64];
    int port;
    DC_CHECK(dc_opts_hostport("redis:6380", host, sizeof host, &port) == 0 && port == 6380);
    DC_CHECK(streq(host, "redis"));
    DC_CHECK(dc_opts_hostport("6379", host, sizeof host, &port) == 0 && streq(host, "127.0.0.1"));
    DC_CHECK(dc_opts_hostport(":7000", host, sizeof host, &port) == 0 && port == 7000);
    DC_CHECK(streq(host, "127.0.0.1"));
    DC_CHECK(dc_opts_hostport("[::1]:7000", host, sizeof host, &port) == 0 && port == 7000);
    DC_CHECK(streq(host, "::1"));
    DC_CHECK(dc_opts_hostport("[fd00::2]:6380", host, sizeof host, &port) == 0);
    DC_CHECK(streq(host, "fd00::2") && port == 6380);
    const char *bad[] = {"x:0",   "x:",        "x:70000", "x:12x",     "x:-1",
                         "x: 1",  "redis",     "",        "::1",       "::1:6379",
                         "[::1]", "[::1]6379", "[]:6379", "[::1:6379", NULL};
    for (const char **b = bad; *b; b++)
        DC_CHECK(dc_opts_hostport(*b, host, sizeof host, &port) == -1);
    char tiny[4];
    DC_CHECK(dc_opts_hostport("redis:6379", tiny, sizeof tiny, &port) == -1);
    if (verbose)
        printf("OK\n");
}
