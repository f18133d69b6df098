/*  dc-dispatcher: the books. */
#include "dc_app.h"
#include "dc_dispatcher.h"

static const dc_opt_spec_t s_specs[] = {
    {"jobs", "DC_JOBS_BIND", "@tcp://*:5556", "EP", "ROUTER endpoint: workers ask for jobs"},
    {"results", "DC_RESULTS_BIND", "@tcp://*:5557", "EP", "ROUTER endpoint: workers send results"},
    DC_APP_REDIS_OPTS("Redis holding hashes and wallet"),
    {"batch", "DC_BATCH", "1", "1..4096", "hashes per job (raw mode: more is faster)"},
    {"job-timeout-ms", "DC_JOB_TIMEOUT_MS", "10000", "100..3600000",
     "re-issue a late job after 4 x p99 job latency (>= --reissue-min-ms), at most this"},
    {"reissue-min-ms", "DC_REISSUE_MIN_MS", "1000", "100..3600000",
     "re-issue a late job no sooner than this"},
    {"window", "DC_WINDOW", "256", "1..1000000", "jobs in flight at most"},
    {"max-pending-coins", "DC_MAX_PENDING_COINS", "1000000", "1..100000000",
     "coins held while Redis is away before new jobs pause"},
    DC_APP_CURVE_OPTS,
    DC_OPTS_END};

static const dc_app_def_t s_app = {
    .prog = "dc-dispatcher",
    .summary = "Issues numbered jobs, counts each result once, writes Redis.",
    .specs = s_specs,
    .role = "dispatcher"};

int main(int argc, char **argv)
{
    dc_app_t app;
    if (dc_app_start(&app, &s_app, argc, argv) != 0)
        return app.exit_code;
    dc_opts_t *opts = app.opts;
    dc_dispatcher_cfg_t cfg = {.jobs = dc_opts_str(opts, "jobs"),
                               .results = dc_opts_str(opts, "results"),
                               .redis = dc_opts_str(opts, "redis"),
                               .redis_password = app.redis_password,
                               .batch = (uint32_t)dc_opts_int(opts, "batch"),
                               .job_timeout_ms = (int)dc_opts_int(opts, "job-timeout-ms"),
                               .reissue_min_ms = (int)dc_opts_int(opts, "reissue-min-ms"),
                               .window = (size_t)dc_opts_int(opts, "window"),
                               .max_pending_coins =
                                   (uint64_t)dc_opts_int(opts, "max-pending-coins"),
                               .http = app.http,
                               .curve = app.curve,
                               .verbose = app.verbose};
    return dc_app_run_actor(&app, dc_dispatcher_actor, &cfg);
}
