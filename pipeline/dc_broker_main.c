/*  dc-broker: the Majordomo broker for the rng and hasher services. */
#include "dc_app.h"
#include "dc_broker.h"

static const dc_opt_spec_t s_specs[] = {
    {"bind", "DC_BROKER_BIND", "@tcp://*:5555", "EP",
     "ROUTER endpoint for 7/MDP clients and workers (slots)"},
    DC_APP_REDIS_OPTS("where to publish stats (empty: none)"),
    {"heartbeat-ms", "DC_HEARTBEAT_MS", "2500", "10..60000",
     "heartbeat interval (7/MDP's 2500); dead after 3 missed"},
    {"max-queue", "DC_MAX_QUEUE", "1000", "1..1000000", "queued requests per service before 503"},
    {"max-wait-ms", "DC_MAX_WAIT_MS", "3000", "10..3600000", "queued longer than this: 503"},
    {"request-timeout-ms", "DC_REQUEST_TIMEOUT_MS", "30000", "10..3600000",
     "unanswered this long after it came: 504, its slot dropped"},
    DC_APP_CURVE_OPTS,
    DC_OPTS_END};

static const dc_app_def_t s_app = {.prog = "dc-broker",
                                   .summary =
                                       "Routes rng and hasher requests (7/MDP) to idle slots.",
                                   .specs = s_specs,
                                   .role = "broker"};

int main(int argc, char **argv)
{
    dc_app_t app;
    if (dc_app_start(&app, &s_app, argc, argv) != 0)
        return app.exit_code;
    dc_opts_t *opts = app.opts;
    dc_broker_cfg_t cfg = {.endpoint = dc_opts_str(opts, "bind"),
                           .redis = dc_opts_str(opts, "redis"),
                           .redis_password = app.redis_password,
                           .heartbeat_ms = (int)dc_opts_int(opts, "heartbeat-ms"),
                           .max_queue = (size_t)dc_opts_int(opts, "max-queue"),
                           .max_wait_ms = (int)dc_opts_int(opts, "max-wait-ms"),
                           .request_timeout_ms = (int)dc_opts_int(opts, "request-timeout-ms"),
                           .service_ttl_ms = DC_BROKER_SERVICE_TTL_MS,
                           .http = app.http,
                           .curve = app.curve,
                           .verbose = app.verbose};
    return dc_app_run_actor(&app, dc_broker_actor, &cfg);
}
