/*  dc-webui: the DockerCoins web UI. Wires the hub, the Redis poller and the
    civetweb server, then waits for SIGINT/SIGTERM with sigwait(): the signals
    are blocked in every thread, so shutdown runs here, in order, and takes
    well under a second even with a thousand open SSE streams.               */
#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    const char *password_file;
    char password[256];
    const char *http;
    int threads;
    bool verbose;
} s_options_t;

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: dc-webui [options]\n"
            "Serves the DockerCoins page, /events (SSE), /json, /healthz, /metrics.\n\n"
            "  --port PORT      DC_WEBUI_PORT     HTTP port or HOST:PORT (default 8000;\n"
            "                                     0 picks a free port, logged at start)\n"
            "  --redis H:P      DC_REDIS          Redis address (default 127.0.0.1:6379)\n"
            "  --redis-password-file FILE         Redis AUTH password, first line of FILE\n"
            "                   DC_REDIS_PASSWORD_FILE (or the value in DC_REDIS_PASSWORD)\n"
            "  --threads N      DC_WEBUI_THREADS  HTTP threads, one per open connection;\n"
            "                                     SSE viewers max = N - %d (default 1100)\n"
            "  --http ADDR      DC_HTTP           extra listener for /healthz, /metrics\n"
            "  --verbose        DC_VERBOSE        log every request\n"
            "  --help                             this text\n"
            "A flag wins over the environment, which wins over the default.\n",
            S_RESERVE_THREADS);
}

static bool s_truthy(const char *value)
{
    return value && (strcmp(value, "1") == 0 || strcasecmp(value, "true") == 0 ||
                     strcasecmp(value, "yes") == 0 || strcasecmp(value, "on") == 0);
}

static int s_parse_int(const char *text, int min, int max, int *value)
{
    char *end = NULL;
    errno = 0;
    long parsed = text ? strtol(text, &end, 10) : 0;
    if (!text || end == text || *end || errno || parsed < min || parsed > max)
        return -1;
    *value = (int)parsed;
    return 0;
}

//  The value of --name VALUE or --name=VALUE at argv[*i], else NULL.
static const char *s_flag(int argc, char **argv, int *i, const char *name)
{
    size_t length = strlen(name);
    if (strncmp(argv[*i], name, length) != 0)
        return NULL;
    if (argv[*i][length] == '=')
        return argv[*i] + length + 1;
    if (argv[*i][length] == 0 && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

//  The first line of --redis-password-file, without its end of line.
static int s_read_password(s_options_t *options)
{
    FILE *file = fopen(options->password_file, "r");
    bool ok = file && fgets(options->password, sizeof options->password, file);
    if (file)
        fclose(file);
    options->password[ok ? strcspn(options->password, "\r\n") : 0] = 0;
    return ok ? 0 : -1;
}

//  Defaults, then environment, then flags. Returns 0, 1 (--help) or -1.
static int s_options(int argc, char **argv, s_options_t *options)
{
    const char *threads = getenv("DC_WEBUI_THREADS");
    options->port = getenv("DC_WEBUI_PORT") ? getenv("DC_WEBUI_PORT") : "8000";
    options->redis = getenv("DC_REDIS") ? getenv("DC_REDIS") : "127.0.0.1:6379";
    options->password_file =
        getenv("DC_REDIS_PASSWORD_FILE") ? getenv("DC_REDIS_PASSWORD_FILE") : "";
    snprintf(options->password, sizeof options->password, "%s",
             getenv("DC_REDIS_PASSWORD") ? getenv("DC_REDIS_PASSWORD") : "");
    options->http = getenv("DC_HTTP") ? getenv("DC_HTTP") : "";
    options->verbose = s_truthy(getenv("DC_VERBOSE"));
    threads = threads ? threads : "1100";
    for (int i = 1; i < argc; i++) {
        const char *value;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
        else if (strcmp(argv[i], "--verbose") == 0)
            options->verbose = true;
        else if ((value = s_flag(argc, argv, &i, "--port")))
            options->port = value;
        else if ((value = s_flag(argc, argv, &i, "--redis-password-file")))
            options->password_file = value;
        else if ((value = s_flag(argc, argv, &i, "--redis")))
            options->redis = value;
        else if ((value = s_flag(argc, argv, &i, "--threads")))
            threads = value;
        else if ((value = s_flag(argc, argv, &i, "--http")))
            options->http = value;
        else {
            fprintf(stderr, "dc-webui: unknown or incomplete option '%s' (try --help)\n", argv[i]);
            return -1;
        }
    }
    if (s_parse_int(threads, S_RESERVE_THREADS + 1, 20000, &options->threads) != 0) {
        fprintf(stderr, "dc-webui: --threads must be %d..20000, not '%s'\n", S_RESERVE_THREADS + 1,
                threads);
        return -1;
    }
    char host[256];
    int port;
    if (dc_ui_redis_parse_address(options->redis, host, sizeof host, &port) != 0) {
        fprintf(stderr, "dc-webui: --redis wants HOST:PORT, not '%s'\n", options->redis);
        return -1;
    }
    if (*options->password_file && s_read_password(options) != 0) {
        fprintf(stderr, "dc-webui: cannot read the Redis password from '%s'\n",
                options->password_file);
        return -1;
    }
    if (!*options->port || strchr(options->port, ',')) {
        fprintf(stderr, "dc-webui: --port wants PORT or HOST:PORT, not '%s'\n", options->port);
        return -1;
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
    s_options_t options;
    int rc = s_options(argc, argv, &options);
    if (rc != 0) {
        s_usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
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
    dc_ui_redis_t *redis = dc_ui_redis_new(options.redis, 800);
    if (redis)
        dc_ui_redis_set_password(redis, options.password);
    dc_ui_http_config_t http_config = {
        .listen = listen, .threads = options.threads, .verbose = options.verbose};
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
    return rc;
}
