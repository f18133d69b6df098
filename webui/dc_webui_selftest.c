/*  dc-webui-selftest: every webui class self-test, in dependency order, run by the
    foundation's one runner (dc_selftest: each test in a process of its own). The
    tests check with DC_CHECK, which NDEBUG does not remove: they test in every build. */
#include "dc_selftest.h"
#include "dc_ui_http.h"
#include "dc_ui_hub.h"
#include "dc_ui_poller.h"
#include "dc_ui_redis.h"
#include "dc_ui_series.h"
#include "dc_ui_stats.h"

static const dc_selftest_t s_tests[] = {DC_SELFTEST(dc_ui_series),
                                        DC_SELFTEST(dc_ui_stats),
                                        DC_SELFTEST(dc_ui_hub),
                                        DC_SELFTEST(dc_ui_redis),
                                        DC_SELFTEST(dc_ui_poller),
                                        DC_SELFTEST(dc_ui_http),
                                        DC_SELFTEST_END};

int main(int argc, char **argv)
{
    return dc_selftest_main("dc-webui-selftest", s_tests, argc, argv);
}
