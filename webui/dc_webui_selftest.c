/*  dc-webui-selftest: runs every webui class self-test, in dependency order
    (czmq's selftest pattern). `dc-webui-selftest -v` names each one. The tests
    check with DC_CHECK, which NDEBUG does not remove: they test in every build. */
#include <stdio.h>
#include <string.h>

#include "dc_buf.h"
#include "dc_ui_http.h"
#include "dc_ui_hub.h"
#include "dc_ui_poller.h"
#include "dc_ui_redis.h"
#include "dc_ui_series.h"
#include "dc_ui_stats.h"

typedef struct {
    const char *name;
    void (*test)(bool verbose);
} s_test_t;

static const s_test_t s_tests[] = {
    {"dc_buf", dc_buf_test},           {"dc_ui_series", dc_ui_series_test},
    {"dc_ui_stats", dc_ui_stats_test}, {"dc_ui_hub", dc_ui_hub_test},
    {"dc_ui_redis", dc_ui_redis_test}, {"dc_ui_poller", dc_ui_poller_test},
    {"dc_ui_http", dc_ui_http_test},
};

int main(int argc, char **argv)
{
    bool verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    const char *only = argc > 1 && !verbose ? argv[1] : argc > 2 ? argv[2] : NULL;
    size_t count = 0;
    for (size_t i = 0; i < sizeof s_tests / sizeof s_tests[0]; i++) {
        if (only && strcmp(only, s_tests[i].name) != 0)
            continue;
        s_tests[i].test(verbose);
        count++;
    }
    if (count == 0) {
        fprintf(stderr, "dc-webui-selftest: no test named '%s'\n", only);
        return 1;
    }
    printf("dc-webui-selftest: %zu passed, 0 failed\n", count);
    return 0;
}
