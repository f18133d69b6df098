/*  dc_app: what every binary's main does the same way: logging identity, the optional
    health/metrics listener, and the shutdown signal (czmq's SIGINT/SIGTERM handler). */
#ifndef DC_APP_H_INCLUDED
#define DC_APP_H_INCLUDED

#include "dc_http.h"
#include "dc_opts.h"

/*  Sets up logging and, when --http is given, the listener. Returns -1 (and logs why)
    when the listener cannot start. */
int dc_app_start(const char *prog, dc_opts_t *opts, dc_http_t **http);
/*  Logs the exit and releases what dc_app_start made. */
void dc_app_stop(const char *prog, dc_http_t **http);

#endif
