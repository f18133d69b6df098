/*  dc-selftest: every class self-test of proto/, common/ and pipeline/ (the web UI's
    are in dc-webui-selftest), run by the one runner, dc_selftest. */
#include "dc_audit.h"
#include "dc_buf.h"
#include "dc_broker.h"
#include "dc_client.h"
#include "dc_curve.h"
#include "dc_dispatcher.h"
#include "dc_drops.h"
#include "dc_hist.h"
#include "dc_http.h"
#include "dc_job.h"
#include "dc_mdp.h"
#include "dc_opts.h"
#include "dc_rconn.h"
#include "dc_redis.h"
#include "dc_selftest.h"
#include "dc_service.h"
#include "dc_stats.h"
#include "dc_svc.h"
#include "dc_worker.h"

static const dc_selftest_t s_tests[] = {{"dc_mdp", dc_mdp_test},
                                        {"dc_svc", dc_svc_test},
                                        {"dc_job", dc_job_test},
                                        {"dc_stats", dc_stats_test},
                                        {"dc_opts", dc_opts_test},
                                        {"dc_buf", dc_buf_test},
                                        {"dc_drops", dc_drops_test},
                                        {"dc_hist", dc_hist_test},
                                        {"dc_http", dc_http_test},
                                        {"dc_rconn", dc_rconn_test},
                                        {"dc_redis", dc_redis_test},
                                        {"dc_service", dc_service_test},
                                        {"dc_broker", dc_broker_test},
                                        {"dc_client", dc_client_test},
                                        {"dc_worker", dc_worker_test},
                                        {"dc_dispatcher", dc_dispatcher_test},
                                        {"dc_curve", dc_curve_test},
                                        {"dc_audit", dc_audit_test},
                                        {NULL, NULL}};

int main(int argc, char **argv)
{
    return dc_selftest_main("dc-selftest", s_tests, argc, argv);
}
