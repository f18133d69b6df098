/*  dc_opts: command-line flags with environment fallbacks and generated --help.
    Precedence: flag, then environment variable, then default. */
#ifndef DC_OPTS_H_INCLUDED
#define DC_OPTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *name; /* long flag, without the dashes */
    const char *env;  /* environment variable, or NULL */
    const char *def;  /* default value; NULL marks a boolean flag */
    const char *arg;  /* metavariable shown in --help (value flags); two are checked
                         when parsed: "MIN..MAX" (an integer in that range, read with
                         dc_opts_int) and "HOST:PORT" (dc_opts_hostport, unless empty) */
    const char *help;
} dc_opt_spec_t;

typedef struct _dc_opts_t dc_opts_t;

/*  The end of a spec table. */
#define DC_OPTS_END                                                                                \
    {                                                                                              \
        NULL, NULL, NULL, NULL, NULL                                                               \
    }

/*  Parses argv and the environment against specs (terminated by DC_OPTS_END); the
    common flags --http, --verbose, --help and --version are added. Returns NULL when the
    program must exit at once, with *exit_code 0 (help/version shown) or 2 (bad usage:
    an unknown flag, a missing value, a value outside its MIN..MAX or HOST:PORT; message
    printed). */
dc_opts_t *dc_opts_new(const char *prog, const char *summary, const dc_opt_spec_t *specs, int argc,
                       char **argv, int *exit_code);
/*  As dc_opts_new, for a one-shot tool that serves nothing: no --http. */
dc_opts_t *dc_opts_new_tool(const char *prog, const char *summary, const dc_opt_spec_t *specs,
                            int argc, char **argv, int *exit_code);
void dc_opts_destroy(dc_opts_t **self_p);

const char *dc_opts_str(dc_opts_t *self, const char *name);
bool dc_opts_flag(dc_opts_t *self, const char *name);
/*  True when this binary's table has the option at all. */
bool dc_opts_has(dc_opts_t *self, const char *name);
/*  The value of a "MIN..MAX" option, checked when parsed. */
long dc_opts_int(dc_opts_t *self, const char *name);

/*  The one HOST:PORT syntax of every address flag (--redis, dc_rconn):
      HOST:PORT     a name or an IPv4 address, and a port (1..65535)
      [V6]:PORT     an IPv6 address in brackets (host receives it without them)
      PORT, :PORT   a bare number is a port, on 127.0.0.1
    A host without a port ("redis"), a bare IPv6 address and a host longer than
    hostlen - 1 are refused. Returns 0, or -1 when malformed. */
int dc_opts_hostport(const char *spec, char *host, size_t hostlen, int *port);

void dc_opts_test(bool verbose);

#endif
