/*  dc_app: logs go to stderr, one line per event, prefixed by the program name, so
    `docker compose logs` and journald show who said what. */
#include "dc_app.h"

#include <czmq.h>

int dc_app_start(const char *prog, dc_opts_t *opts, dc_http_t **http)
{
    zsys_init();
    zsys_set_logident(prog);
    zsys_set_logstream(stderr);
    zsys_set_logsystem(false);
    *http = NULL;
    const char *listen = dc_opts_str(opts, "http");
    if (listen && *listen && !(*http = dc_http_new(listen)))
        return -1;
    return 0;
}

void dc_app_stop(const char *prog, dc_http_t **http)
{
    dc_http_destroy(http);
    zsys_info("%s: exiting", prog);
}
