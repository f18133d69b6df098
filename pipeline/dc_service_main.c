/*  dc-rng and dc-hasher: one source, the service picked at build time (DC_SERVICE). */
#include "dc_app.h"
#include "dc_service.h"

#if defined(DC_SERVICE_RNG)
#define DC_PROG "dc-rng"
#define DC_NAME "rng"
#define DC_HANDLER dc_service_rng
#define DC_SUMMARY                                                                                 \
    "Serves random bytes (libsodium) to the broker's 'rng' service, one request at a time."
#else
#define DC_PROG "dc-hasher"
#define DC_NAME "hasher"
#define DC_HANDLER dc_service_hasher
#define DC_SUMMARY                                                                                 \
    "Serves SHA-256 hex digests (libsodium) to the broker's 'hasher' service, up to\n"             \
    "--concurrency requests at once (each slot a 7/MDP worker serving one at a time)."
#endif

static const dc_opt_spec_t s_specs[] = {
    {"broker", "DC_BROKER", ">tcp://127.0.0.1:5555", "EP",
     "broker endpoint ('>' connects, '@' would bind)"},
#if !defined(DC_SERVICE_RNG)
    {"concurrency", "DC_CONCURRENCY", "20", "N",
     "requests served at once (1..256; the original's thread pool has 20)"},
#endif
    {"delay-ms", "DC_DELAY_MS", "100", "N", "artificial time per request (the workshop's)"},
    {"raw", "DC_RAW", NULL, NULL, "raw mode: no artificial delay"},
    {"heartbeat-ms", "DC_HEARTBEAT_MS", "2500", "N",
     "heartbeat interval (7/MDP's 2500); broker dead after 3"},
    DC_APP_CURVE_OPTS,
    {NULL, NULL, NULL, NULL, NULL}};

int main(int argc, char **argv)
{
    int code;
    dc_opts_t *opts = dc_opts_new(DC_PROG, DC_SUMMARY, s_specs, argc, argv, &code);
    if (!opts)
        return code;
    long delay, hb, slots = 1;
    if (dc_opts_long(opts, "delay-ms", 0, 10000, &delay) ||
        dc_opts_long(opts, "heartbeat-ms", 10, 60000, &hb) ||
        (dc_opts_has(opts, "concurrency") &&
         dc_opts_long(opts, "concurrency", 1, DC_SERVICE_SLOTS_MAX, &slots))) {
        dc_opts_destroy(&opts);
        return 2;
    }
    dc_app_t app;
    if (dc_app_start(&app, DC_PROG, &opts, "service") != 0)
        return 1;
    dc_service_cfg_t cfg = {.broker = dc_opts_str(app.opts, "broker"),
                            .service = DC_NAME,
                            .slots = (int)slots,
                            .heartbeat_ms = (int)hb,
                            .delay_ms = dc_opts_flag(app.opts, "raw") ? 0 : (int)delay,
                            .handler = DC_HANDLER,
                            .http = app.http,
                            .curve = app.curve,
                            .verbose = dc_opts_flag(app.opts, "verbose")};
    dc_service_t *service = dc_service_new(&cfg);
    int rc = service ? dc_service_run(service, NULL) : 1;
    dc_service_destroy(&service);
    dc_app_stop(&app);
    return rc;
}
