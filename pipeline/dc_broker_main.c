/*  dc-broker: the Majordomo broker for the rng and hasher services. */
#include "dc_app.h"
#include "dc_broker.h"

static const dc_opt_spec_t s_specs[] = {
    {"bind", "DC_BROKER_BIND", "@tcp://*:5555", "EP", "ROUTER endpoint for clients and workers"},
    {"redis", "DC_REDIS", "127.0.0.1:6379", "HOST:PORT", "where to publish stats (empty: none)"},
    {"heartbeat-ms", "DC_HEARTBEAT_MS", "2500", "N",
     "heartbeat interval (7/MDP's 2500); dead after 3 missed"},
    {"max-queue", "DC_MAX_QUEUE", "1000", "N", "queued requests per service before 503"},
    {"max-wait-ms", "DC_MAX_WAIT_MS", "3000", "N", "queued longer than this: 503"},
    {"request-timeout-ms", "DC_REQUEST_TIMEOUT_MS", "30000", "N",
     "unanswered this long after it came: 504, worker dropped"},
    DC_APP_REDIS_OPTS,
    DC_APP_CURVE_OPTS,
    {NULL, NULL, NULL, NULL, NULL}};

int main(int argc, char **argv)
{
    int code;
    dc_opts_t *opts =
        dc_opts_new("dc-broker", "Routes rng and hasher requests (7/MDP) to idle workers.", s_specs,
                    argc, argv, &code);
    if (!opts)
        return code;
    long hb, mq, mw, rt;
    if (dc_opts_long(opts, "heartbeat-ms", 10, 60000, &hb) ||
        dc_opts_long(opts, "max-queue", 1, 1000000, &mq) ||
        dc_opts_long(opts, "max-wait-ms", 10, 3600000, &mw) ||
        dc_opts_long(opts, "request-timeout-ms", 10, 3600000, &rt)) {
        dc_opts_destroy(&opts);
        return 2;
    }
    dc_app_t app;
    if (dc_app_start(&app, "dc-broker", &opts, "broker") != 0)
        return 1;
    dc_broker_cfg_t cfg = {.endpoint = dc_opts_str(app.opts, "bind"),
                           .redis = dc_opts_str(app.opts, "redis"),
                           .redis_password = app.redis_password,
                           .heartbeat_ms = (int)hb,
                           .max_queue = (size_t)mq,
                           .max_wait_ms = (int)mw,
                           .request_timeout_ms = (int)rt,
                           .service_ttl_ms = DC_BROKER_SERVICE_TTL_MS,
                           .http = app.http,
                           .curve = app.curve,
                           .verbose = dc_opts_flag(app.opts, "verbose")};
    dc_broker_t *broker = dc_broker_new(&cfg);
    int rc = broker ? dc_broker_run(broker, NULL) : 1;
    dc_broker_destroy(&broker);
    dc_app_stop(&app);
    return rc;
}
