/*  dc-rng and dc-hasher: one source, the service picked at build time (DC_SERVICE_RNG
    defined: dc-rng, else dc-hasher; see meson.build). */
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
    "Serves SHA-256 digests (nettle; hex, or binary K bytes each) to the broker's 'hasher'\n"      \
    "service, up to --concurrency requests at once (each slot a 7/MDP worker serving one\n"        \
    "at a time)."
#endif

#define S_STR(x) #x
#define S_XSTR(x) S_STR(x)

static const dc_opt_spec_t s_specs[] = {
    {"broker", "DC_BROKER", ">tcp://127.0.0.1:5555", "EP",
     "broker endpoint ('>' connects, '@' would bind)"},
#if !defined(DC_SERVICE_RNG)
    {"concurrency", "DC_CONCURRENCY", "20", "1.." S_XSTR(DC_SERVICE_SLOTS_MAX),
     "requests served at once (the original's thread pool has 20)"},
#endif
    {"delay-ms", "DC_DELAY_MS", "100", "0..10000", "artificial time per request (the workshop's)"},
    {"raw", "DC_RAW", NULL, NULL, "raw mode: no artificial delay"},
    {"heartbeat-ms", "DC_HEARTBEAT_MS", "2500", "10..60000",
     "heartbeat interval (7/MDP's 2500); broker dead after 3"},
    DC_APP_CURVE_OPTS,
    DC_OPTS_END};

static const dc_app_def_t s_app = {
    .prog = DC_PROG, .summary = DC_SUMMARY, .specs = s_specs, .role = "service"};

int main(int argc, char **argv)
{
    dc_app_t app;
    if (dc_app_start(&app, &s_app, argc, argv) != 0)
        return app.exit_code;
    dc_opts_t *opts = app.opts;
    bool raw = dc_opts_flag(opts, "raw");
    dc_service_cfg_t cfg = {
        .broker = dc_opts_str(opts, "broker"),
        .service = DC_NAME,
        .slots = dc_opts_has(opts, "concurrency") ? (int)dc_opts_int(opts, "concurrency") : 1,
        .heartbeat_ms = (int)dc_opts_int(opts, "heartbeat-ms"),
        .delay_ms = raw ? 0 : (int)dc_opts_int(opts, "delay-ms"),
        .handler = DC_HANDLER,
        .http = app.http,
        .curve = app.curve,
        .verbose = app.verbose};
    return dc_app_run_actor(&app, dc_service_actor, &cfg);
}
