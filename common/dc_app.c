/*  dc_app: logs go to stderr, one line per event, prefixed by the program name, so
    `docker compose logs` and journald show who said what. */
#include "dc_app.h"
#include "dc_check.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

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

/*  The options and the binary's check: 0, or -1 with exit_code 0 or 2. */
static int s_parse(dc_app_t *app, const dc_app_def_t *def, int argc, char **argv)
{
    memset(app, 0, sizeof *app);
    app->def = def;
    app->signal_fd = -1;
    int code = 2;
    app->opts = def->tool ? dc_opts_new_tool(def->prog, def->summary, def->specs, argc, argv, &code)
                          : dc_opts_new(def->prog, def->summary, def->specs, argc, argv, &code);
    app->exit_code = app->opts ? 0 : code;
    app->verbose = app->opts && dc_opts_flag(app->opts, "verbose");
    if (app->opts && def->check && def->check(app) != 0) {
        dc_opts_destroy(&app->opts); /* dc_app_refuse did, said why */
        app->exit_code = 2;
    }
    return app->opts ? 0 : -1;
}

int dc_app_refuse(dc_app_t *app, const char *format, ...)
{
    fprintf(stderr, "%s: ", app->def->prog);
    va_list args;
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fprintf(stderr, "\n");
    dc_opts_destroy(&app->opts);
    app->exit_code = 2;
    return -1;
}

/*  A server's stop signals: blocked in this thread, so in every thread made after it,
    and read from a signalfd by dc_app_wait. */
static int s_signals(dc_app_t *app)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN); /* a peer gone: write() fails with EPIPE, nothing dies */
    app->signal_fd = signalfd(-1, &stop, SFD_CLOEXEC);
    if (app->signal_fd < 0)
        zsys_error("signalfd: %s", strerror(errno));
    return app->signal_fd < 0 ? -1 : 0;
}

static int s_start(dc_app_t *app)
{
    dc_opts_t *opts = app->opts;
    if (!app->def->tool && s_signals(app) != 0)
        return -1;
    const char *listen = dc_opts_has(opts, "http") ? dc_opts_str(opts, "http") : "";
    if (!app->def->own_http && *listen && !(app->http = dc_http_new(listen)))
        return -1;
    if (dc_opts_has(opts, "redis-password") &&
        dc_app_redis_password(opts, app->redis_password, sizeof app->redis_password) != 0)
        return -1;
    if (!app->def->role)
        return 0; /* speaks no ZeroMQ */
    app->curve = s_curve(opts, app->def->role);
    return app->curve ? 0 : -1;
}

int dc_app_start(dc_app_t *app, const dc_app_def_t *def, int argc, char **argv)
{
    if (s_parse(app, def, argc, argv) != 0)
        return -1;
    if (!app->def->tool)
        zsys_handler_set(NULL); /* the signals are dc_app_wait's, not czmq's */
    zsys_init();
    zsys_set_logident(app->def->prog);
    zsys_set_logstream(stderr);
    zsys_set_logsystem(false);
    if (s_start(app) == 0)
        return 0;
    dc_app_stop(app);
    app->exit_code = 1;
    return -1;
}

int dc_app_wait(dc_app_t *app, zactor_t *actor)
{
    zmq_pollitem_t items[2] = {{NULL, app->signal_fd, ZMQ_POLLIN, 0},
                               {actor ? zsock_resolve(actor) : NULL, -1, ZMQ_POLLIN, 0}};
    int n = actor ? 2 : 1;
    while (true) {
        if (zmq_poll(items, n, -1) < 0 && errno != EINTR)
            return 0;
        if (items[0].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo info;
            if (read(app->signal_fd, &info, sizeof info) == (ssize_t)sizeof info) {
                zsys_info("%s: %s received, stopping", app->def->prog,
                          strsignal((int)info.ssi_signo));
                return (int)info.ssi_signo;
            }
        }
        if (n == 2 && (items[1].revents & ZMQ_POLLIN)) {
            zsys_error("%s: stopped by itself", app->def->prog);
            return 0;
        }
    }
}

int dc_app_run_actor(dc_app_t *app, zactor_fn *actor, void *args)
{
    zactor_t *self = dc_app_actor_new(actor, args);
    app->exit_code = self && dc_app_wait(app, self) > 0 ? 0 : 1;
    zactor_destroy(&self);
    dc_app_stop(app);
    return app->exit_code;
}

typedef struct {
    const char *prog;
    int ms;
} s_deadline_t;

static void *s_deadline(void *args)
{
    s_deadline_t deadline = *(s_deadline_t *)args;
    free(args);
    zclock_sleep(deadline.ms);
    zsys_warning("%s: orderly stop still running after %d ms, exiting now", deadline.prog,
                 deadline.ms);
    _exit(0);
    return NULL;
}

void dc_app_deadline(dc_app_t *app, int ms)
{
    s_deadline_t *deadline = malloc(sizeof *deadline);
    assert(deadline);
    *deadline = (s_deadline_t){app->def->prog, ms};
    pthread_t thread;
    if (pthread_create(&thread, NULL, s_deadline, deadline) == 0)
        pthread_detach(thread);
    else
        free(deadline);
}

void dc_app_stop(dc_app_t *app)
{
    bool running = app->opts != NULL;
    dc_curve_destroy(&app->curve);
    dc_http_destroy(&app->http);
    dc_opts_destroy(&app->opts);
    if (app->signal_fd >= 0)
        close(app->signal_fd);
    app->signal_fd = -1;
    if (running)
        zsys_info("%s: exiting", app->def->prog);
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

/*  The test's actor: starts (or fails to, as told), then sends the process a real
    SIGTERM, and records that "$TERM" on its pipe, not zsys_interrupted, ended it. */
typedef struct {
    bool fail;          /* refuse to start */
    int signal;         /* sent to the process once started (0: none, end by itself) */
    atomic_int stopped; /* 1: its loop ended on "$TERM" */
} s_test_actor_t;

static void s_test_actor(zsock_t *pipe, void *args)
{
    s_test_actor_t *self = args;
    dc_app_actor_started(pipe, !self->fail);
    if (self->fail || !self->signal)
        return;
    zloop_t *loop = zloop_new();
    zloop_reader(loop, pipe, dc_app_on_pipe, NULL);
    kill(getpid(), self->signal);
    zloop_start(loop);
    zloop_destroy(&loop);
    atomic_store(&self->stopped, !zsys_interrupted);
}

/*  What the test's table cannot say: 7 is refused. */
static int s_test_check(dc_app_t *app)
{
    long n = dc_opts_int(app->opts, "n");
    return n == 7 ? dc_app_refuse(app, "--n %ld is unlucky", n) : 0;
}

/*  A server's table: its own option, the Redis and CURVE options, role worker. */
static const dc_opt_spec_t s_test_specs[] = {{"n", "DC_TEST_APP_N", "5", "1..9", "a number"},
                                             DC_APP_REDIS_OPTS("the Redis"),
                                             DC_APP_CURVE_OPTS,
                                             DC_OPTS_END};
static const dc_app_def_t s_test_def = {.prog = "dc-app-test",
                                        .summary = "test",
                                        .specs = s_test_specs,
                                        .role = "worker",
                                        .check = s_test_check};

static int s_test_start(dc_app_t *app, int argc, char **argv)
{
    return dc_app_start(app, &s_test_def, argc, argv);
}

/*  Options and the environment; usage errors (exit 2) before anything starts. */
static void s_test_parse(void)
{
    dc_app_t app;
    char *help[] = {"t", "--version", NULL}, *bad[] = {"t", "--n", "10", NULL};
    DC_CHECK(s_test_start(&app, 2, help) == -1 && app.exit_code == 0 && !app.opts);
    DC_CHECK(s_test_start(&app, 3, bad) == -1 && app.exit_code == 2 && !app.opts);
    setenv("DC_TEST_APP_N", "8", 1);
    char *argv[] = {"t", "--verbose", "--insecure", NULL};
    DC_CHECK(s_test_start(&app, 3, argv) == 0 && app.verbose && app.signal_fd >= 0);
    DC_CHECK(dc_opts_int(app.opts, "n") == 8 && app.curve && !app.http);
    dc_app_stop(&app);
    setenv("DC_TEST_APP_N", "7", 1); /* the check refuses it: nothing starts */
    DC_CHECK(s_test_start(&app, 3, argv) == -1 && app.exit_code == 2);
    DC_CHECK(!app.opts && !app.curve && app.signal_fd == -1);
    unsetenv("DC_TEST_APP_N");
}

/*  The Redis password from the environment, then from a file (which wins); an
    unreadable file, missing keys: exit 1, everything released. */
static void s_test_secrets(const char *dir)
{
    dc_app_t app;
    char *insecure[] = {"t", "--insecure", NULL};
    setenv("DC_REDIS_PASSWORD", "from-env", 1);
    DC_CHECK(s_test_start(&app, 2, insecure) == 0);
    DC_CHECK(streq(app.redis_password, "from-env") && !dc_curve_secure(app.curve));
    dc_app_stop(&app);
    dc_app_stop(&app); /* safe twice */
    DC_CHECK(!app.opts && !app.curve && app.signal_fd == -1);

    char file[300];
    snprintf(file, sizeof file, "%s/password", dir);
    FILE *f = fopen(file, "w");
    DC_CHECK(f && fputs("from-file\nsecond line\n", f) >= 0 && fclose(f) == 0);
    setenv("DC_REDIS_PASSWORD_FILE", file, 1);
    DC_CHECK(s_test_start(&app, 2, insecure) == 0 && streq(app.redis_password, "from-file"));
    dc_app_stop(&app);
    setenv("DC_REDIS_PASSWORD_FILE", "/nonexistent/password", 1);
    DC_CHECK(s_test_start(&app, 2, insecure) == -1 && app.exit_code == 1 && !app.opts);
    unsetenv("DC_REDIS_PASSWORD_FILE");
    unsetenv("DC_REDIS_PASSWORD");

    char keys[300];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    DC_CHECK(dc_curve_keygen(keys) == 0);
    char *secure[] = {"t", "--keys", keys, "--http", "127.0.0.1:0", NULL};
    DC_CHECK(s_test_start(&app, 5, secure) == 0);
    DC_CHECK(dc_curve_secure(app.curve) && app.http && dc_http_port(app.http) > 0);
    dc_app_stop(&app);
    char *missing[] = {"t", "--keys", "/nonexistent", NULL};
    DC_CHECK(s_test_start(&app, 3, missing) == -1 && app.exit_code == 1);
    DC_CHECK(!app.curve && !app.opts);
}

/*  A run with an actor: a real SIGTERM (or SIGINT), sent to the process from another
    thread, stops it through its pipe and the run exits 0 at once; an actor that fails
    to start, or ends by itself, exits 1. */
static void s_test_run(void)
{
    char *argv[] = {"t", "--insecure", NULL};
    int signals[] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        dc_app_t app;
        DC_CHECK(s_test_start(&app, 2, argv) == 0);
        s_test_actor_t actor = {.signal = signals[i]};
        int64_t t0 = zclock_mono();
        DC_CHECK(dc_app_run_actor(&app, s_test_actor, &actor) == 0);
        int64_t took = zclock_mono() - t0;
        DC_CHECK(atomic_load(&actor.stopped) == 1 && !zsys_interrupted);
        DC_CHECK(took < 1000); /* ~1 ms: nothing waits for a timer */
        DC_CHECK(!app.opts && app.signal_fd == -1);
    }
    s_test_actor_t fails = {.fail = true}, ends = {.signal = 0};
    dc_app_t app;
    DC_CHECK(s_test_start(&app, 2, argv) == 0);
    DC_CHECK(dc_app_run_actor(&app, s_test_actor, &fails) == 1 && app.exit_code == 1);
    DC_CHECK(s_test_start(&app, 2, argv) == 0);
    DC_CHECK(dc_app_run_actor(&app, s_test_actor, &ends) == 1);
}

void dc_app_test(bool verbose)
{
    if (verbose)
        printf(" * dc_app: ");
    char dir[] = "/tmp/dc-app-test-XXXXXX";
    DC_CHECK(mkdtemp(dir));
    s_test_parse();
    s_test_secrets(dir);
    s_test_run();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    DC_CHECK(system(cmd) == 0);
    if (verbose)
        printf("OK\n");
}
