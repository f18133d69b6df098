/*  dc_app: logs go to stderr, one line per event, prefixed by the program name, so
    `docker compose logs` and journald show who said what. */
#include "dc_app.h"

#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/*  The first line of file, without its end of line. */
static int s_read_line(const char *file, char *buf, size_t size)
{
    FILE *f = fopen(file, "r");
    bool ok = f && fgets(buf, (int)size, f);
    if (f)
        fclose(f);
    buf[ok ? strcspn(buf, "\r\n") : 0] = 0;
    return ok ? 0 : -1;
}

int dc_app_redis_password(dc_opts_t *opts, char *buf, size_t size)
{
    const char *file = dc_opts_str(opts, "redis-password-file");
    snprintf(buf, size, "%s", dc_opts_str(opts, "redis-password"));
    if (*file && s_read_line(file, buf, size) != 0) {
        zsys_error("cannot read the Redis password from %s (--redis-password-file)", file);
        return -1;
    }
    return 0;
}

static dc_curve_t *s_curve(dc_opts_t *opts, const char *role)
{
    const char *seed_file = dc_opts_str(opts, "key-seed-file");
    if (!*seed_file || dc_opts_flag(opts, "insecure"))
        return dc_curve_new(dc_opts_str(opts, "keys"), dc_opts_flag(opts, "insecure"), role);
    char seed[256];
    if (s_read_line(seed_file, seed, sizeof seed) != 0) {
        zsys_error("cannot read the key seed from %s (--key-seed-file)", seed_file);
        return NULL;
    }
    dc_curve_t *curve = dc_curve_new_from_seed(seed, role);
    sodium_memzero(seed, sizeof seed);
    return curve;
}

static int s_start(dc_app_t *app, const char *role)
{
    dc_opts_t *opts = app->opts;
    const char *listen = dc_opts_has(opts, "http") ? dc_opts_str(opts, "http") : "";
    if (*listen && !(app->http = dc_http_new(listen)))
        return -1;
    if (dc_opts_has(opts, "redis-password") &&
        dc_app_redis_password(opts, app->redis_password, sizeof app->redis_password) != 0)
        return -1;
    if (!role)
        return 0; /* a tool that speaks no ZeroMQ */
    app->curve = s_curve(opts, role);
    return app->curve ? 0 : -1;
}

int dc_app_start(dc_app_t *app, const char *prog, dc_opts_t **opts_p, const char *role)
{
    memset(app, 0, sizeof *app);
    app->prog = prog;
    app->opts = *opts_p;
    *opts_p = NULL;
    zsys_init();
    zsys_set_logident(prog);
    zsys_set_logstream(stderr);
    zsys_set_logsystem(false);
    if (s_start(app, role) == 0)
        return 0;
    dc_app_stop(app);
    return -1;
}

int dc_app_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void)loop;
    (void)arg;
    char *cmd = zstr_recv(pipe);
    bool term = !cmd || streq(cmd, "$TERM");
    zstr_free(&cmd);
    return term ? -1 : 0;
}

zactor_t *dc_app_actor_new(zactor_fn *actor, void *args)
{
    zactor_t *self = zactor_new(actor, args);
    if (self && zsock_wait(self) != 0)
        zactor_destroy(&self);
    return self;
}

void dc_app_actor_started(zsock_t *pipe, bool ok)
{
    zsock_signal(pipe, 0);
    zsock_signal(pipe, ok ? 0 : 1);
}

int dc_app_run_actor(zactor_fn *actor, void *args)
{
    zactor_t *self = zactor_new(actor, args);
    int status = self ? zsock_wait(self) : 1; /* -1: SIGTERM during the start */
    if (status > 0) {
        zactor_destroy(&self);
        return 1;
    }
    /* the signal may reach any thread: here zpoller_wait returns NULL; in the actor it
       stops by itself (its loop sees zsys_interrupted) and its end wakes this wait */
    zpoller_t *poller = zpoller_new(self, NULL);
    zpoller_wait(poller, -1);
    zpoller_destroy(&poller);
    zactor_destroy(&self);
    return 0;
}

void dc_app_stop(dc_app_t *app)
{
    dc_curve_destroy(&app->curve);
    dc_http_destroy(&app->http);
    dc_opts_destroy(&app->opts);
    zsys_info("%s: exiting", app->prog);
}
