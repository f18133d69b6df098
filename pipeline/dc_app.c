/*  dc_app: logs go to stderr, one line per event, prefixed by the program name, so
    `docker compose logs` and journald show who said what. */
#include "dc_app.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

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

int dc_app_redis_password(dc_opts_t *opts, char *buf, size_t size)
{
    const char *file = dc_opts_str(opts, "redis-password-file");
    snprintf(buf, size, "%s", dc_opts_str(opts, "redis-password"));
    if (!*file)
        return 0;
    FILE *f = fopen(file, "r");
    if (!f || !fgets(buf, (int)size, f)) {
        zsys_error("cannot read the Redis password from %s (--redis-password-file)", file);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = 0;
    return 0;
}

dc_curve_t *dc_app_curve(dc_opts_t *opts, const char *role)
{
    return dc_curve_new(dc_opts_str(opts, "keys"), dc_opts_flag(opts, "insecure"), role);
}

void dc_app_stop(const char *prog, dc_http_t **http)
{
    dc_http_destroy(http);
    zsys_info("%s: exiting", prog);
}
