/*  dc-keygen: writes the CURVE certificates a deployment needs. */
#include "dc_app.h"

static const dc_opt_spec_t s_specs[] = {
    {"keys", "DC_KEYS", "keys", "DIR", "directory to create (must not hold keys yet)"},
    {NULL, NULL, NULL, NULL, NULL}};

int main(int argc, char **argv)
{
    int code;
    dc_opts_t *opts = dc_opts_new_tool(
        "dc-keygen",
        "Creates DIR with broker.cert, dispatcher.cert, client.cert (each with its _secret)\n"
        "and authorized/client.cert. Give servers the whole directory; give rng, hasher and\n"
        "workers client.cert, client.cert_secret, broker.cert and dispatcher.cert only.",
        s_specs, argc, argv, &code);
    if (!opts)
        return code;
    zsys_init();
    zsys_set_logstream(stderr);
    zsys_set_logsystem(false);
    const char *dir = dc_opts_str(opts, "keys");
    int rc = dc_curve_keygen(dir);
    if (rc == 0)
        printf("dc-keygen: keys written to %s\n", dir);
    dc_opts_destroy(&opts);
    return rc == 0 ? 0 : 1;
}
