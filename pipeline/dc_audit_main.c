/*  dc-audit: recounts the wallet and checks it against the dispatcher's books, read-only
    (dc_audit.h says what is checked). A batch job: Kubernetes runs it as a helm test and
    as an optional CronJob. */
#include "dc_app.h"
#include "dc_audit.h"
#include "dc_rconn.h"

#include <hiredis/hiredis.h>

#define S_TIMEOUT_MS 5000 /* per Redis call */

static const dc_opt_spec_t s_specs[] = {
    DC_APP_REDIS_OPTS("Redis holding hashes and wallet"),
    {"show", "DC_AUDIT_SHOW", "20", "0..1000000",
     "bad wallet entries reported one by one, at most"},
    {"scan-count", "DC_AUDIT_SCAN_COUNT", "1000", "1..100000",
     "wallet entries asked for per HSCAN batch (memory stays bounded)"},
    DC_OPTS_END};

static const char s_summary[] =
    "Recounts the wallet in Redis and checks it against the dispatcher's books; writes\n"
    "nothing. Checks: every wallet entry's key is the SHA-256 (64 lowercase hex digits)\n"
    "of its value and starts with 0; and, in one atomic snapshot, `hashes` equals the\n"
    "`hashes` of dc:books:totals, HLEN wallet its `coins` (the dispatcher adds to all\n"
    "three in one atomic script, so they differ only if something else wrote hashes or\n"
    "wallet), and there are no more coins than hashes. Safe while the rig mines.\n"
    "Prints each mismatch, then one summary line (dc-audit: OK / FAILED / UNREAD).\n"
    "Exit: 0 all agree, 1 a mismatch, 2 bad usage, 3 Redis could not be read.";

/*  An empty --redis: the table checks any other value. */
static int s_check(dc_app_t *app)
{
    return *dc_opts_str(app->opts, "redis") ? 0 : dc_app_refuse(app, "--redis / DC_REDIS is empty");
}

static const dc_app_def_t s_app = {
    .prog = "dc-audit", .summary = s_summary, .specs = s_specs, .tool = true, .check = s_check};

int main(int argc, char **argv)
{
    dc_app_t app;
    if (dc_app_start(&app, &s_app, argc, argv) != 0) /* a start failure (the password
                                                        file) is a usage error here */
        return app.exit_code == 1 ? DC_AUDIT_EXIT_USAGE : app.exit_code;
    char host[256];
    int port;
    const char *where = dc_opts_str(app.opts, "redis");
    dc_opts_hostport(where, host, sizeof host, &port); /* checked when parsed */
    char why[300];
    redisContext *ctx =
        dc_rconn_connect(host, port, app.redis_password, S_TIMEOUT_MS, why, sizeof why);
    int rc = DC_AUDIT_EXIT_UNREAD;
    if (ctx) {
        dc_audit_cfg_t cfg = {.scan_count = (int)dc_opts_int(app.opts, "scan-count"),
                              .show = (int)dc_opts_int(app.opts, "show"),
                              .where = where};
        rc = dc_audit_run(ctx, &cfg, stdout);
        redisFree(ctx);
    } else
        printf("dc-audit: UNREAD: %s: %s; nothing concluded\n", where, why);
    fflush(stdout);
    dc_app_stop(&app);
    return rc;
}
