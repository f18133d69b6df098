/*  dc_app: what every binary's main does the same way: logging identity, the optional
    health/metrics listener, and the shutdown signal (czmq's SIGINT/SIGTERM handler). */
#ifndef DC_APP_H_INCLUDED
#define DC_APP_H_INCLUDED

#include "dc_curve.h"
#include "dc_http.h"
#include "dc_opts.h"

/*  Sets up logging and, when --http is given, the listener. Returns -1 (and logs why)
    when the listener cannot start. */
int dc_app_start(const char *prog, dc_opts_t *opts, dc_http_t **http);
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

/*  Reads the Redis password into buf (empty when none); -1 (logged) if the file cannot
    be read. */
int dc_app_redis_password(dc_opts_t *opts, char *buf, size_t size);

/*  The CURVE setup --keys / --insecure ask for; NULL (logged) when keys are missing. */
dc_curve_t *dc_app_curve(dc_opts_t *opts, const char *role);

/*  Logs the exit and releases what dc_app_start made. */
void dc_app_stop(const char *prog, dc_http_t **http);

#endif
