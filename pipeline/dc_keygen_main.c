/*  dc-keygen: writes the CURVE certificates a deployment needs. */
#include "dc_app.h"

static const dc_opt_spec_t s_specs[] = {
    {"keys", "DC_KEYS", "keys", "DIR", "directory to create (must not hold keys yet)"},
    DC_OPTS_END};

static const dc_app_def_t s_app = {
    .prog = "dc-keygen",
    .summary =
        "Creates DIR with broker.cert, dispatcher.cert, client.cert (each with its _secret)\n"
        "and authorized/client.cert. Give servers the whole directory; give rng, hasher and\n"
        "workers client.cert, client.cert_secret, broker.cert and dispatcher.cert only.",
    .specs = s_specs,
    .tool = true};

int main(int argc, char **argv)
{
    dc_app_t app;
    if (dc_app_start(&app, &s_app, argc, argv) != 0)
        return app.exit_code;
    const char *dir = dc_opts_str(app.opts, "keys");
    int rc = dc_curve_keygen(dir) == 0 ? 0 : 1;
    if (rc == 0)
        printf("dc-keygen: keys written to %s\n", dir);
    dc_app_stop(&app);
    return rc;
}
