/*  dc-webui: the DockerCoins web UI. Wires the hub, the Redis poller and the
    civetweb server, then waits for SIGINT/SIGTERM; start-up, the options, the Redis
    password, logging and the stop signals are the foundation's (dc_app): the signals
    are blocked in every thread and taken in main, so shutdown runs here, in order, and
    takes well under a second even with a thousand open SSE streams. */
#include <ctype.h>
#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dc_app.h"
#include "dc_ui_http.h"
#include "dc_ui_hub.h"
#include "dc_ui_poller.h"
#include "dc_ui_redis.h"

//  Threads kept free of SSE viewers so /json, /healthz and the page load
//  (--threads is at least this plus one).
#define S_RESERVE_THREADS 50

//  The orderly shutdown joins every civetweb thread (one per viewer): ~200
//  ms with 1,000 viewers on an idle machine, but on a starved CPU it can
//  pass a second. The promise is an exit under 1 s, so past this deadline
//  dc_app_deadline ends the process (nothing is left to flush: the webui
//  only reads Redis). The pipeline's servers have no such deadline: the
//  dispatcher's last write must land.
#define S_STOP_DEADLINE_MS 800

static const dc_opt_spec_t s_specs[] = {
    {"port", "DC_WEBUI_PORT", "8000", "PORT", "HTTP port or HOST:PORT (0 picks a free port)"},
    DC_APP_REDIS_OPTS("Redis to read"),
    {"threads", "DC_WEBUI_THREADS", "1100", "51..20000",
     "HTTP threads, one per open connection; SSE viewers up to N - 50"},
    {"instance", "DC_WEBUI_INSTANCE", "", "NAME",
     "this replica's name in /json's X-Dc-Instance header (default: the host name)"},
    DC_OPTS_END};

//  The replica's name: as given, else the host name; 1..63 of [A-Za-z0-9._-]
//  (it goes into a response header).
static int s_instance(const char *given, char *out, size_t size)
{
    if (*given)
        snprintf(out, size, "%s", given);
    else if (gethostname(out, size - 1) != 0)
        snprintf(out, size, "webui");
    out[size - 1] = 0;
    size_t n = strlen(out);
    if (n < 1 || n >= size || strlen(given) >= size)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)out[i]) && !strchr("._-", out[i]))
            return -1;
    return 0;
}

//  What the table cannot check: --instance and --port.
static int s_check(dc_app_t *app)
{
    char instance[64];
    const char *given = dc_opts_str(app->opts, "instance");
    if (s_instance(given, instance, sizeof instance) != 0)
        return dc_app_refuse(app, "--instance wants 1..63 of [A-Za-z0-9._-], not '%s'", given);
    const char *port = dc_opts_str(app->opts, "port");
    if (!*port || strchr(port, ','))
        return dc_app_refuse(app, "--port wants PORT or HOST:PORT, not '%s'", port);
    return 0;
}

static const dc_app_def_t s_app = {
    .prog = "dc-webui",
    .summary = "Serves the DockerCoins page, /events (SSE), /json, /healthz, /readyz, /metrics;\n"
               "--http adds a second listener serving every route.",
    .specs = s_specs,
    .own_http = true,
    .check = s_check};

//  "http://HOST:PORT/" for the log line, HOST from --port when it has one.
static void s_url(const char *listen, int port, char *url, size_t size)
{
    const char *colon = strrchr(listen, ':');
    if (colon && colon != listen)
        snprintf(url, size, "http://%.*s:%d/", (int)(colon - listen), listen, port);
    else
        snprintf(url, size, "http://localhost:%d/", port);
}

int main(int argc, char **argv)
{
    dc_app_t app;
    if (dc_app_start(&app, &s_app, argc, argv) != 0)
        return app.exit_code;
    char instance[64];
    s_instance(dc_opts_str(app.opts, "instance"), instance, sizeof instance); /* checked */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *port = dc_opts_str(app.opts, "port"), *redis = dc_opts_str(app.opts, "redis");
    const char *extra = dc_opts_str(app.opts, "http");
    int threads = (int)dc_opts_int(app.opts, "threads");
    char listen[600];
    snprintf(listen, sizeof listen, "%s%s%s", port, *extra ? "," : "", extra);
    dc_ui_hub_t *hub = dc_ui_hub_new((size_t)(threads - S_RESERVE_THREADS));
    dc_ui_poller_config_t poller_config = {.redis = redis,
                                           .redis_password = app.redis_password,
                                           .interval_ms = 1000,
                                           .window_ms = 10000,
                                           .history_ms = 300000,
                                           .redis_timeout_ms = 800};
    dc_ui_poller_t *poller = hub ? dc_ui_poller_new(&poller_config, hub) : NULL;
    dc_ui_redis_t *reader = dc_ui_redis_new(redis, app.redis_password, 800);
    dc_ui_http_config_t http_config = {
        .listen = listen, .threads = threads, .verbose = app.verbose, .instance = instance};
    dc_ui_http_t *http = poller && reader ? dc_ui_http_new(&http_config, hub, reader) : NULL;
    int rc = 1;
    if (http) {
        char url[300];
        s_url(port, dc_ui_http_port(http), url, sizeof url);
        zsys_info("dc-webui: listening on %s (redis %s, %d threads, up to %d viewers)", url, redis,
                  threads, threads - S_RESERVE_THREADS);
        dc_app_wait(&app, NULL);
        dc_app_deadline(&app, S_STOP_DEADLINE_MS);
        rc = 0;
    }
    int64_t stop_start = zclock_mono();
    dc_ui_http_destroy(&http);
    dc_ui_poller_destroy(&poller);
    dc_ui_redis_destroy(&reader);
    dc_ui_hub_destroy(&hub);
    if (rc == 0)
        zsys_info("dc-webui: stopped in %lld ms", (long long)(zclock_mono() - stop_start));
    dc_app_stop(&app);
    return rc;
}
