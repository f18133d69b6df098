/*  dc-selftest: every class self-test of proto/, common/ and pipeline/ (the web UI's
    are in dc-webui-selftest), in dependency order, run by the one runner, dc_selftest. */
#include "dc_app.h"
#include "dc_audit.h"
#include "dc_buf.h"
#include "dc_broker.h"
#include "dc_client.h"
#include "dc_curve.h"
#include "dc_dispatcher.h"
#include "dc_drops.h"
#include "dc_figures.h"
#include "dc_hist.h"
#include "dc_http.h"
#include "dc_job.h"
#include "dc_mdp.h"
#include "dc_opts.h"
#include "dc_poll.h"
#include "dc_rconn.h"
#include "dc_redis.h"
#include "dc_selftest.h"
#include "dc_service.h"
#include "dc_stats.h"
#include "dc_svc.h"
#include "dc_testrig.h"
#include "dc_worker.h"

static const dc_selftest_t s_tests[] = {
    DC_SELFTEST(dc_mdp),     DC_SELFTEST(dc_svc),     DC_SELFTEST(dc_job),
    DC_SELFTEST(dc_stats),   DC_SELFTEST(dc_opts),    DC_SELFTEST(dc_buf),
    DC_SELFTEST(dc_drops),   DC_SELFTEST(dc_figures), DC_SELFTEST(dc_hist),
    DC_SELFTEST(dc_poll),    DC_SELFTEST(dc_http),    DC_SELFTEST(dc_curve),
    DC_SELFTEST(dc_app),     DC_SELFTEST(dc_rconn),   DC_SELFTEST(dc_redis),
    DC_SELFTEST(dc_service), DC_SELFTEST(dc_broker),  DC_SELFTEST(dc_client),
    DC_SELFTEST(dc_testrig), DC_SELFTEST(dc_worker),  DC_SELFTEST(dc_dispatcher),
    DC_SELFTEST(dc_audit),   DC_SELFTEST_END};

int main(int argc, char **argv)
{
    return dc_selftest_main("dc-selftest", s_tests, argc, argv);
}
