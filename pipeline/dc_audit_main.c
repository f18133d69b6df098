/*  dc-audit: recounts the wallet and checks it against the dispatcher's books, read-only
    (dc_audit.h says what is checked). A batch job: Kubernetes runs it as a helm test and
    as an optional CronJob. */
#include "dc_app.h"
#include "dc_audit.h"
#include "dc_rconn.h"

#include <hiredis/hiredis.h>

#define S_TIMEOUT_MS 5000 /* per Redis call */

static const dc_opt_spec_t s_specs[] = {
    {"redis", "DC_REDIS", "127.0.0.1:6379", "HOST:PORT", "Redis holding hashes and wallet"},
    DC_APP_REDIS_OPTS,
    {"show", "DC_AUDIT_SHOW", "20", "N", "bad wallet entries reported one by one, at most"},
    {"scan-count", "DC_AUDIT_SCAN_COUNT", "1000", "N",
     "wallet entries asked for per HSCAN batch (memory stays bounded)"},
    {NULL, NULL, NULL, NULL, NULL}};

static const char s_summary[] =
    "Recounts the wallet in Redis and checks it against the dispatcher's books; writes\n"
    "nothing. Checks: every wallet entry's key is the SHA-256 (64 lowercase hex digits)\n"
    "of its value and starts with 0; and, in one atomic snapshot, `hashes` equals the\n"
    "`hashes` of dc:books:totals, HLEN wallet its `coins` (the dispatcher adds to all\n"
    "three in one atomic script, so they differ only if something else wrote hashes or\n"
    "wallet), and there are no more coins than hashes. Safe while the rig mines.\n"
    "Prints each mismatch, then one summary line (dc-audit: OK / FAILED / UNREAD).\n"
    "Exit: 0 all agree, 1 a mismatch, 2 bad usage, 3 Redis could not be read.";

int main(int argc, char **argv)
{
    int code;
    dc_opts_t *opts = dc_opts_new_tool("dc-audit", s_summary, s_specs, argc, argv, &code);
    if (!opts)
        return code;
    long show, scan_count;
    char host[256];
    int port;
    const char *where = dc_opts_str(opts, "redis");
    bool bad_redis = dc_opts_hostport(where, host, sizeof host, &port) != 0;
    if (bad_redis)
        fprintf(stderr, "dc-audit: --redis / DC_REDIS wants HOST:PORT, not '%s'\n", where);
    if (bad_redis || dc_opts_long(opts, "show", 0, 1000000, &show) ||
        dc_opts_long(opts, "scan-count", 1, 100000, &scan_count)) {
        dc_opts_destroy(&opts);
        return DC_AUDIT_EXIT_USAGE;
    }
    dc_app_t app;
    if (dc_app_start(&app, "dc-audit", &opts, NULL) != 0)
        return DC_AUDIT_EXIT_USAGE;
    char why[300];
    redisContext *ctx =
        dc_rconn_connect(host, port, app.redis_password, S_TIMEOUT_MS, why, sizeof why);
    int rc = DC_AUDIT_EXIT_UNREAD;
    if (ctx) {
        dc_audit_cfg_t cfg = {.scan_count = (int)scan_count, .show = (int)show, .where = where};
        rc = dc_audit_run(ctx, &cfg, stdout);
        redisFree(ctx);
    } else
        printf("dc-audit: UNREAD: %s: %s; nothing concluded\n", where, why);
    fflush(stdout);
    dc_app_stop(&app);
    return rc;
}
