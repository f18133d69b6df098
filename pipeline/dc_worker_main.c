/*  dc-worker: the miner. */
#include "dc_app.h"
#include "dc_job.h"
#include "dc_worker.h"

#include <unistd.h>

static const dc_opt_spec_t s_specs[] = {
    {"broker", "DC_BROKER", ">tcp://127.0.0.1:5555", "EP", "broker endpoint"},
    {"jobs", "DC_JOBS", ">tcp://127.0.0.1:5556", "EP", "dispatcher's job endpoint"},
    {"results", "DC_RESULTS", ">tcp://127.0.0.1:5557", "EP", "dispatcher's result endpoint"},
    {"credit", "DC_CREDIT", "2", "N", "jobs held at most at once, 1..64"},
    {"delay-ms", "DC_DELAY_MS", "100", "N", "pause per job (the original's sleep(0.1))"},
    {"raw", "DC_RAW", NULL, NULL, "raw mode: no pause"},
    {"timeout-ms", "DC_TIMEOUT_MS", "5000", "N", "no broker reply by then: reconnect, resend"},
    {"id", "DC_WORKER_ID", "", "NAME", "worker name in stats (default HOSTNAME-PID)"},
    {"track", "DC_TRACK", DC_TRACK_DEFAULT, "NAME",
     "release track the dispatcher counts hashes under (canary...): 1..16 of [a-z0-9-]"},
    DC_APP_CURVE_OPTS,
    {NULL, NULL, NULL, NULL, NULL}};

int main(int argc, char **argv)
{
    int code;
    dc_opts_t *opts =
        dc_opts_new("dc-worker", "Mines: pulls jobs, calls rng then hasher, pushes results.",
                    s_specs, argc, argv, &code);
    if (!opts)
        return code;
    long delay, timeout, credit;
    if (dc_opts_long(opts, "delay-ms", 0, 10000, &delay) ||
        dc_opts_long(opts, "credit", 1, 64, &credit) ||
        dc_opts_long(opts, "timeout-ms", 100, 600000, &timeout)) {
        dc_opts_destroy(&opts);
        return 2;
    }
    const char *track = dc_opts_str(opts, "track");
    if (!dc_track_valid(track)) {
        fprintf(stderr, "dc-worker: --track / DC_TRACK '%s': want 1..16 of [a-z0-9-]\n", track);
        dc_opts_destroy(&opts);
        return 2;
    }
    char id[65];
    const char *given = dc_opts_str(opts, "id");
    if (*given)
        snprintf(id, sizeof id, "%.64s", given);
    else {
        char host[48] = "worker";
        gethostname(host, sizeof host - 1);
        snprintf(id, sizeof id, "%s-%d", host, (int)getpid());
    }
    dc_app_t app;
    if (dc_app_start(&app, "dc-worker", &opts, "worker") != 0)
        return 1;
    dc_worker_cfg_t cfg = {.broker = dc_opts_str(app.opts, "broker"),
                           .jobs = dc_opts_str(app.opts, "jobs"),
                           .results = dc_opts_str(app.opts, "results"),
                           .id = id,
                           .track = track,
                           .credit = (int)credit,
                           .delay_ms = dc_opts_flag(app.opts, "raw") ? 0 : (int)delay,
                           .timeout_ms = (int)timeout,
                           .http = app.http,
                           .curve = app.curve,
                           .verbose = dc_opts_flag(app.opts, "verbose")};
    int rc = dc_app_run_actor(dc_worker_actor, &cfg);
    dc_app_stop(&app);
    return rc;
}
