/*  dc_app: what every binary's main does the same way: logging identity, the optional
    health/metrics listener, and the shutdown signal (czmq's SIGINT/SIGTERM handler). */
#ifndef DC_APP_H_INCLUDED
#define DC_APP_H_INCLUDED

#include "dc_curve.h"
#include "dc_http.h"
#include "dc_opts.h"

/*  What dc_app_start sets up for a main. */
typedef struct {
    const char *prog;         /* the program's name, for the log */
    dc_opts_t *opts;          /* the parsed options, owned from dc_app_start on */
    dc_http_t *http;          /* --http listener, or NULL */
    dc_curve_t *curve;        /* --keys / --key-seed-file / --insecure for the role */
    char redis_password[256]; /* when the binary takes DC_APP_REDIS_OPTS; else "" */
} dc_app_t;

/*  Takes over *opts_p (checked by the caller: a usage error exits before anything
    starts) and sets up logging, the --http listener (when the options have one), CURVE
    for `role` ("broker", "dispatcher", "service", "worker"; NULL for a tool that speaks
    no ZeroMQ, e.g. dc-audit) and the Redis password when the options have one. Returns
    0, or -1 (after logging why and releasing everything, the options included). */
int dc_app_start(dc_app_t *app, const char *prog, dc_opts_t **opts_p, const char *role);
/*  The two options every ZeroMQ binary takes, for its spec table. */
#define DC_APP_CURVE_OPTS                                                                          \
    {"keys", "DC_KEYS", "", "DIR", "CURVE key directory made by dc-keygen"},                       \
        {"key-seed-file", "DC_KEY_SEED_FILE", "", "FILE",                                          \
         "or: derive every CURVE key from the secret seed in FILE"},                               \
    {                                                                                              \
        "insecure", "DC_INSECURE", NULL, NULL, "no CURVE: plain TCP, for a local demo only"        \
    }

/*  Redis AUTH: a password file (Compose and Kubernetes secrets mount one) or a value. */
#define DC_APP_REDIS_OPTS                                                                          \
    {"redis-password-file", "DC_REDIS_PASSWORD_FILE", "", "FILE",                                  \
     "file holding the Redis password (AUTH)"},                                                    \
    {                                                                                              \
        "redis-password", "DC_REDIS_PASSWORD", "", "PASSWORD",                                     \
            "the Redis password itself (prefer the file: flags show in ps)"                        \
    }

/*  The Redis password of DC_APP_REDIS_OPTS: the first line of --redis-password-file,
    else --redis-password. -1 (and a message naming the flag) when the file is unreadable. */
int dc_app_redis_password(dc_opts_t *opts, char *buf, size_t size);

/*  zloop reader for an actor's pipe (the broker's and the services' actor forms): ends
    the loop on "$TERM", or when the pipe is gone. */
int dc_app_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg);

/*  The actor forms of the dispatcher, the worker and the client start in two steps: the
    mandatory handshake (zactor_new waits for it and drops its status), then a second
    signal, 0 when the object was made, 1 when not (the actor logged why and ends).
    dc_app_actor_new waits for that second signal: the actor, or NULL when it failed. */
zactor_t *dc_app_actor_new(zactor_fn *actor, void *args);
/*  What an actor body sends for it: the handshake, then its start status. */
void dc_app_actor_started(zsock_t *pipe, bool ok);
/*  A main's whole run with an actor: starts it, waits until SIGINT/SIGTERM or until the
    actor ends by itself, then stops it ("$TERM", waiting for it to finish). 0, or 1 when
    it failed to start. */
int dc_app_run_actor(zactor_fn *actor, void *args);

/*  Logs the exit and releases what dc_app_start made and took, the options included. */
void dc_app_stop(dc_app_t *app);

#endif
