/*  dc-dispatcher: the books. */
#include "dc_app.h"
#include "dc_dispatcher.h"

static const dc_opt_spec_t s_specs[] = {
    {"jobs", "DC_JOBS_BIND", "@tcp://*:5556", "EP", "ROUTER endpoint: workers ask for jobs"},
    {"results", "DC_RESULTS_BIND", "@tcp://*:5557", "EP", "ROUTER endpoint: workers send results"},
    {"redis", "DC_REDIS", "127.0.0.1:6379", "HOST:PORT", "Redis holding hashes and wallet"},
    {"batch", "DC_BATCH", "1", "N", "hashes per job, 1..4096 (raw mode: more is faster)"},
    {"job-timeout-ms", "DC_JOB_TIMEOUT_MS", "10000", "N",
     "re-issue a late job after 4 x p99 job latency (>= 1 s), at most this"},
    {"reissue-min-ms", "DC_REISSUE_MIN_MS", "1000", "N", "re-issue a late job no sooner than this"},
    {"window", "DC_WINDOW", "256", "N", "jobs in flight at most"},
    {"max-pending-coins", "DC_MAX_PENDING_COINS", "1000000", "N",
     "coins held while Redis is away before new jobs pause"},
    DC_APP_REDIS_OPTS,
    DC_APP_CURVE_OPTS,
    {NULL, NULL, NULL, NULL, NULL}};

int main(int argc, char **argv)
{
    int code;
    dc_opts_t *opts =
        dc_opts_new("dc-dispatcher", "Issues numbered jobs, counts each result once, writes Redis.",
                    s_specs, argc, argv, &code);
    if (!opts)
        return code;
    long batch, timeout, window, pending, reissue_min;
    if (dc_opts_long(opts, "batch", 1, 4096, &batch) ||
        dc_opts_long(opts, "job-timeout-ms", 100, 3600000, &timeout) ||
        dc_opts_long(opts, "reissue-min-ms", 100, 3600000, &reissue_min) ||
        dc_opts_long(opts, "window", 1, 1000000, &window) ||
        dc_opts_long(opts, "max-pending-coins", 1, 100000000, &pending)) {
        dc_opts_destroy(&opts);
        return 2;
    }
    dc_app_t app;
    if (dc_app_start(&app, "dc-dispatcher", &opts, "dispatcher") != 0)
        return 1;
    dc_dispatcher_cfg_t cfg = {.jobs = dc_opts_str(app.opts, "jobs"),
                               .results = dc_opts_str(app.opts, "results"),
                               .redis = dc_opts_str(app.opts, "redis"),
                               .redis_password = app.redis_password,
                               .batch = (uint32_t)batch,
                               .job_timeout_ms = (int)timeout,
                               .reissue_min_ms = (int)reissue_min,
                               .window = (size_t)window,
                               .max_pending_coins = (uint64_t)pending,
                               .http = app.http,
                               .curve = app.curve,
                               .verbose = dc_opts_flag(app.opts, "verbose")};
    int rc = dc_app_run_actor(dc_dispatcher_actor, &cfg);
    dc_app_stop(&app);
    return rc;
}
