/*  dc-webui: the DockerCoins web UI. Wires the hub, the Redis poller and the
    civetweb server, then waits for SIGINT/SIGTERM with sigwait(): the signals
    are blocked in every thread, so shutdown runs here, in order, and takes
    well under a second even with a thousand open SSE streams.               */
#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <time.h>
#include <unistd.h>

#include "dc_app.h"
#include "dc_opts.h"
#include "dc_ui_http.h"
#include "dc_ui_hub.h"
#include "dc_ui_poller.h"
#include "dc_ui_redis.h"

//  Threads kept free of SSE viewers so /json, /healthz and the page load.
#define S_RESERVE_THREADS 50

//  The orderly shutdown joins every civetweb thread (one per viewer): ~200
//  ms with 1,000 viewers on an idle machine, but on a starved CPU it can
//  pass a second. The promise is an exit under 1 s, so past this deadline
//  a watchdog ends the process (nothing is left to flush: the webui only
//  reads Redis).
#define S_STOP_DEADLINE_MS 800

typedef struct {
    const char *port;
    const char *redis;
    char password[256];
    const char *http;
    int threads;
    char instance[64];
    bool verbose;
} s_options_t;

static const dc_opt_spec_t s_specs[] = {
    {"port", "DC_WEBUI_PORT", "8000", "PORT", "HTTP port or HOST:PORT (0 picks a free port)"},
    {"redis", "DC_REDIS", "127.0.0.1:6379", "HOST:PORT", "Redis to read"},
    DC_APP_REDIS_OPTS,
    {"threads", "DC_WEBUI_THREADS", "1100", "N",
     "HTTP threads, one per open connection; SSE viewers up to N - 50"},
    {"instance", "DC_WEBUI_INSTANCE", "", "NAME",
     "this replica's name in /json's X-Dc-Instance header (default: the host name)"},
    {NULL, NULL, NULL, NULL, NULL}};

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

//  Reads and checks the options (dc_opts: flag, then environment, then default).
//  Returns 0 to run, or the exit code (0 after --help/--version, 2 for bad usage).
static int s_options(int argc, char **argv, s_options_t *options, dc_opts_t **opts_p)
{
    int code;
    dc_opts_t *opts = dc_opts_new(
        "dc-webui",
        "Serves the DockerCoins page, /events (SSE), /json, /healthz, /readyz, /metrics;\n"
        "--http adds a second listener serving every route.",
        s_specs, argc, argv, &code);
    if (!opts)
        return code;
    *opts_p = opts;
    long threads;
    if (dc_opts_long(opts, "threads", S_RESERVE_THREADS + 1, 20000, &threads) != 0)
        return 2;
    options->threads = (int)threads;
    options->port = dc_opts_str(opts, "port");
    options->redis = dc_opts_str(opts, "redis");
    options->http = dc_opts_str(opts, "http");
    options->verbose = dc_opts_flag(opts, "verbose");
    char host[256];
    int port;
    if (dc_opts_hostport(options->redis, host, sizeof host, &port) != 0) {
        fprintf(stderr, "dc-webui: --redis wants HOST:PORT, not '%s'\n", options->redis);
        return 2;
    }
    if (dc_app_redis_password(opts, options->password, sizeof options->password) != 0)
        return 2;
    if (s_instance(dc_opts_str(opts, "instance"), options->instance, sizeof options->instance) !=
        0) {
        fprintf(stderr, "dc-webui: --instance wants 1..63 of [A-Za-z0-9._-], not '%s'\n",
                dc_opts_str(opts, "instance"));
        return 2;
    }
    if (!*options->port || strchr(options->port, ',')) {
        fprintf(stderr, "dc-webui: --port wants PORT or HOST:PORT, not '%s'\n", options->port);
        return 2;
    }
    return 0;
}

static void *s_stop_watchdog(void *args)
{
    (void)args;
    nanosleep(&(struct timespec){S_STOP_DEADLINE_MS / 1000, (S_STOP_DEADLINE_MS % 1000) * 1000000L},
              NULL);
    zsys_warning("dc-webui: orderly stop still running after %d ms, exiting now",
                 S_STOP_DEADLINE_MS);
    _exit(0);
    return NULL;
}

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
    zsys_set_logident("dc-webui"); //  logs on stderr, as every other binary's
    zsys_set_logstream(stderr);
    zsys_set_logsystem(false);
    s_options_t options;
    dc_opts_t *opts = NULL;
    int rc = s_options(argc, argv, &options, &opts);
    if (rc != 0 || !opts) {
        dc_opts_destroy(&opts);
        return rc;
    }
    //  Block the stop signals before any thread exists: every thread inherits
    //  the mask, and main alone takes them with sigwait().
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    zsys_handler_set(NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);

    char listen[600];
    snprintf(listen, sizeof listen, "%s%s%s", options.port, options.http[0] ? "," : "",
             options.http);
    dc_ui_hub_t *hub = dc_ui_hub_new((size_t)(options.threads - S_RESERVE_THREADS));
    dc_ui_poller_config_t poller_config = {.redis = options.redis,
                                           .redis_password = options.password,
                                           .interval_ms = 1000,
                                           .window_ms = 10000,
                                           .history_ms = 300000,
                                           .redis_timeout_ms = 800};
    dc_ui_poller_t *poller = hub ? dc_ui_poller_new(&poller_config, hub) : NULL;
    dc_ui_redis_t *redis = dc_ui_redis_new(options.redis, options.password, 800);
    dc_ui_http_config_t http_config = {.listen = listen,
                                       .threads = options.threads,
                                       .verbose = options.verbose,
                                       .instance = options.instance};
    dc_ui_http_t *http = poller && redis ? dc_ui_http_new(&http_config, hub, redis) : NULL;
    rc = 1;
    if (http) {
        char url[300];
        s_url(options.port, dc_ui_http_port(http), url, sizeof url);
        zsys_info("dc-webui: listening on %s (redis %s, %d threads, up to %d viewers)", url,
                  options.redis, options.threads, options.threads - S_RESERVE_THREADS);
        int signal_number = 0;
        sigwait(&stop_signals, &signal_number);
        zsys_info("dc-webui: %s received, stopping", strsignal(signal_number));
        pthread_t watchdog;
        if (pthread_create(&watchdog, NULL, s_stop_watchdog, NULL) == 0)
            pthread_detach(watchdog);
        rc = 0;
    }
    int64_t stop_start = zclock_mono();
    dc_ui_http_destroy(&http);
    dc_ui_poller_destroy(&poller);
    dc_ui_redis_destroy(&redis);
    dc_ui_hub_destroy(&hub);
    if (rc == 0)
        zsys_info("dc-webui: stopped in %lld ms", (long long)(zclock_mono() - stop_start));
    dc_opts_destroy(&opts);
    return rc;
}
