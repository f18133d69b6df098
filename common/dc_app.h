/*  dc_app: what every binary's main does the same way, in this order:
      dc_app_start    the options (dc_opts: --help and --version exit 0, bad usage 2),
                      the binary's own check of what its table cannot say (exit 2), then
                      logging, the stop signals, the --http probe listener, the Redis
                      password and CURVE for the role (a failure there exits 1);
      dc_app_run_actor / dc_app_wait   the run, until SIGINT or SIGTERM;
      dc_app_stop     releases all of it and logs the exit.
    A server (every binary but the one-shot tools) blocks SIGINT and SIGTERM in every
    thread before any thread exists and takes them in main (a signalfd): whichever
    thread the kernel picks, shutdown runs in main, in order, and stops the actor by its
    pipe. A tool keeps czmq's handler: its work loop looks at zsys_interrupted. */
#ifndef DC_APP_H_INCLUDED
#define DC_APP_H_INCLUDED

#include "dc_curve.h"
#include "dc_http.h"
#include "dc_opts.h"

typedef struct _dc_app_t dc_app_t;

/*  What a binary is: one static table per main. */
typedef struct {
    const char *prog;           /* its name, for the log and every message */
    const char *summary;        /* --help's description */
    const dc_opt_spec_t *specs; /* its options (dc_opts), ending with DC_OPTS_END */
    const char *role; /* CURVE role: "broker", "dispatcher", "service", "worker"; NULL for a
                         binary that speaks no ZeroMQ (dc-audit, dc-keygen, dc-webui) */
    bool tool;        /* a one-shot tool: no --http, keeps czmq's signal handler */
    bool own_http;    /* the binary serves --http itself (the web UI: every route on it);
                         else dc_app_start opens the probe listener (dc_http_new) */
    int (*check)(dc_app_t *app); /* what the table cannot check, or NULL: 0, or
                                    dc_app_refuse's -1; runs before anything starts */
} dc_app_def_t;

/*  What the start set up for a main. */
struct _dc_app_t {
    const dc_app_def_t *def;
    dc_opts_t *opts;          /* the parsed options */
    bool verbose;             /* --verbose */
    dc_http_t *http;          /* the --http probe listener, or NULL */
    dc_curve_t *curve;        /* --keys / --key-seed-file / --insecure for the role */
    char redis_password[256]; /* when the binary takes DC_APP_REDIS_OPTS; else "" */
    int signal_fd;            /* SIGINT and SIGTERM of a server; -1 */
    int exit_code;            /* what main returns when a step returned -1 */
};

/*  The options every ZeroMQ binary takes, for its spec table. */
#define DC_APP_CURVE_OPTS                                                                          \
    {"keys", "DC_KEYS", "", "DIR", "CURVE key directory made by dc-keygen"},                       \
        {"key-seed-file", "DC_KEY_SEED_FILE", "", "FILE",                                          \
         "or: derive every CURVE key from the secret seed in FILE"},                               \
    {                                                                                              \
        "insecure", "DC_INSECURE", NULL, NULL, "no CURVE: plain TCP, for a local demo only"        \
    }

/*  The Redis a binary uses (--redis, help says what for) and its AUTH: a password file
    (Compose and Kubernetes secrets mount one) or a value. */
#define DC_APP_REDIS_OPTS(help)                                                                    \
    {"redis", "DC_REDIS", "127.0.0.1:6379", "HOST:PORT", help},                                    \
        {"redis-password-file", "DC_REDIS_PASSWORD_FILE", "", "FILE",                              \
         "file holding the Redis password (AUTH)"},                                                \
    {                                                                                              \
        "redis-password", "DC_REDIS_PASSWORD", "", "PASSWORD",                                     \
            "the Redis password itself (prefer the file: flags show in ps)"                        \
    }

/*  Parses argv and the environment against def's table and runs def's check: --help
    and --version return -1 with exit_code 0, bad usage -1 with exit_code 2 (message
    printed, nothing started). Then sets up logging, the stop signals (a server), the
    --http probe listener, the Redis password (options with DC_APP_REDIS_OPTS) and CURVE
    for the role: 0, or -1 with exit_code 1 (after logging why and releasing it all). */
int dc_app_start(dc_app_t *app, const dc_app_def_t *def, int argc, char **argv);
/*  For def's check: prints "prog: " and the message, releases the options, sets
    exit_code 2. Returns -1. */
int dc_app_refuse(dc_app_t *app, const char *format, ...) __attribute__((format(printf, 2, 3)));

/*  A server's wait: until SIGINT or SIGTERM (returns its number, logged), or until
    actor (when not NULL) ends by itself (returns 0). */
int dc_app_wait(dc_app_t *app, zactor_t *actor);
/*  A server's whole run with an actor (dc_app_actor_new's start protocol): starts it,
    dc_app_wait, stops it ("$TERM", waiting for it to finish), then dc_app_stop.
    Returns main's exit code: 0 after a stop signal, 1 when the actor failed to start or
    ended by itself (it logged why). */
int dc_app_run_actor(dc_app_t *app, zactor_fn *actor, void *args);
/*  For a server with nothing to flush (the web UI only reads): from now on, the process
    has ms to finish; past that it logs and exits 0 whatever still runs. */
void dc_app_deadline(dc_app_t *app, int ms);
/*  Releases what dc_app_start made (safe twice) and logs the exit. */
void dc_app_stop(dc_app_t *app);

/*  The Redis password of DC_APP_REDIS_OPTS: the first line of --redis-password-file,
    else --redis-password. -1 (and a message naming the flag) when the file is unreadable. */
int dc_app_redis_password(dc_opts_t *opts, char *buf, size_t size);

/*  zloop reader for an actor's pipe: ends the loop on "$TERM", or when the pipe is gone. */
int dc_app_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg);

/*  Every role's actor form starts in two steps: the mandatory handshake (zactor_new
    waits for it and drops its status), then a second signal, 0 when the object was
    made, 1 when not (the actor logged why and ends). dc_app_actor_new waits for that
    second signal: the actor, or NULL when it failed. */
zactor_t *dc_app_actor_new(zactor_fn *actor, void *args);
/*  What an actor body sends for it: the handshake, then its start status. */
void dc_app_actor_started(zsock_t *pipe, bool ok);

void dc_app_test(bool verbose);

#endif
