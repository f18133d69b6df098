/*  dc-worker: the miner. */
#include "dc_app.h"
#include "dc_job.h"
#include "dc_worker.h"

#include <unistd.h>

static const dc_opt_spec_t s_specs[] = {
    {"broker", "DC_BROKER", ">tcp://127.0.0.1:5555", "EP", "broker endpoint"},
    {"jobs", "DC_JOBS", ">tcp://127.0.0.1:5556", "EP", "dispatcher's job endpoint"},
    {"results", "DC_RESULTS", ">tcp://127.0.0.1:5557", "EP", "dispatcher's result endpoint"},
    {"credit", "DC_CREDIT", "0", "0..64",
     "jobs held at most at once; 0: twice the jobs worked on at once (2 with a pause per job, 8 "
     "in raw mode, 2 while jobs are batched)"},
    {"in-flight", "DC_IN_FLIGHT", "0", "0..32",
     "one-hash jobs worked on at once, each one rng and one hasher call; 0: 1 with a pause per "
     "job (the workshop's loop), 4 in raw mode (delay 0); batched jobs (--batch > 1 at the "
     "dispatcher) run one at a time"},
    {"delay-ms", "DC_DELAY_MS", "100", "0..10000", "pause per job (the original's sleep(0.1))"},
    {"raw", "DC_RAW", NULL, NULL, "raw mode: no pause"},
    {"timeout-ms", "DC_TIMEOUT_MS", "5000", "100..600000",
     "no broker reply by then: reconnect, resend"},
    {"id", "DC_WORKER_ID", "", "NAME",
     "worker name in stats (default HOSTNAME-PID): 1..64 printable ASCII, no space"},
    {"track", "DC_TRACK", DC_TRACK_DEFAULT, "NAME",
     "release track the dispatcher counts hashes under (canary...): 1..16 of [a-z0-9-]"},
    DC_APP_CURVE_OPTS,
    DC_OPTS_END};

static int s_delay_ms(dc_opts_t *opts)
{
    return dc_opts_flag(opts, "raw") ? 0 : (int)dc_opts_int(opts, "delay-ms");
}

/*  --in-flight, 0 resolved: 1 with a pause per job, DC_WORKER_IN_FLIGHT_RAW without. */
static int s_in_flight(dc_opts_t *opts)
{
    int n = (int)dc_opts_int(opts, "in-flight");
    return n ? n : s_delay_ms(opts) > 0 ? 1 : DC_WORKER_IN_FLIGHT_RAW;
}

/*  --id and --track as the dispatcher will read them, and --in-flight within --credit:
    what the table cannot check. */
static int s_check(dc_app_t *app)
{
    const char *id = dc_opts_str(app->opts, "id");
    if (*id && !dc_worker_id_valid(id))
        return dc_app_refuse(app, "--id / DC_WORKER_ID '%s': want 1..64 printable ASCII, no space",
                             id);
    const char *track = dc_opts_str(app->opts, "track");
    if (!dc_track_valid(track))
        return dc_app_refuse(app, "--track / DC_TRACK '%s': want 1..16 of [a-z0-9-]", track);
    long credit = dc_opts_int(app->opts, "credit");
    if (credit > 0 && s_in_flight(app->opts) > credit)
        return dc_app_refuse(app,
                             "--in-flight %d > --credit %ld: lanes beyond the credit would never "
                             "get a job",
                             s_in_flight(app->opts), credit);
    return 0;
}

static const dc_app_def_t s_app = {
    .prog = "dc-worker",
    .summary = "Mines: asks for jobs, calls rng then hasher, sends results.",
    .specs = s_specs,
    .role = "worker",
    .check = s_check};

int main(int argc, char **argv)
{
    dc_app_t app;
    if (dc_app_start(&app, &s_app, argc, argv) != 0)
        return app.exit_code;
    dc_opts_t *opts = app.opts;
    char id[65];
    const char *given = dc_opts_str(opts, "id");
    if (*given)
        snprintf(id, sizeof id, "%.64s", given);
    else {
        char host[48] = "worker";
        gethostname(host, sizeof host - 1);
        snprintf(id, sizeof id, "%s-%d", host, (int)getpid());
    }
    dc_worker_cfg_t cfg = {.broker = dc_opts_str(opts, "broker"),
                           .jobs = dc_opts_str(opts, "jobs"),
                           .results = dc_opts_str(opts, "results"),
                           .id = id,
                           .track = dc_opts_str(opts, "track"),
                           .credit = (int)dc_opts_int(opts, "credit"),
                           .in_flight = s_in_flight(opts),
                           .delay_ms = s_delay_ms(opts),
                           .timeout_ms = (int)dc_opts_int(opts, "timeout-ms"),
                           .http = app.http,
                           .curve = app.curve,
                           .verbose = app.verbose};
    return dc_app_run_actor(&app, dc_worker_actor, &cfg);
}
