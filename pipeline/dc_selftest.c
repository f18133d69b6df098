/*  dc-selftest: runs every class self-test, czmq style. `dc-selftest -v [name]`. */
#include "dc_audit.h"
#include "dc_broker.h"
#include "dc_curve.h"
#include "dc_hist.h"
#include "dc_http.h"
#include "dc_job.h"
#include "dc_mdp.h"
#include "dc_opts.h"
#include "dc_rconn.h"
#include "dc_redis.h"
#include "dc_service.h"
#include "dc_svc.h"

#include <czmq.h>

typedef struct {
    const char *name;
    void (*test)(bool verbose);
} s_test_t;

static const s_test_t s_tests[] = {{"dc_mdp", dc_mdp_test},
                                   {"dc_svc", dc_svc_test},
                                   {"dc_job", dc_job_test},
                                   {"dc_opts", dc_opts_test},
                                   {"dc_hist", dc_hist_test},
                                   {"dc_http", dc_http_test},
                                   {"dc_rconn", dc_rconn_test},
                                   {"dc_redis", dc_redis_test},
                                   {"dc_service", dc_service_test},
                                   {"dc_broker", dc_broker_test},
                                   {"dc_curve", dc_curve_test},
                                   {"dc_audit", dc_audit_test},
                                   {NULL, NULL}};

static void s_usage(void)
{
    printf("Usage: dc-selftest [-v] [NAME]\n"
           "Runs every class's self-test (or only NAME), czmq style; -v names each one.\n\n"
           "Self-tests:");
    for (const s_test_t *t = s_tests; t->name; t++)
        printf(" %s", t->name);
    printf("\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
            s_usage();
            return 0;
        }
        if (streq(argv[i], "--version")) {
            printf("dc-selftest %s\n", DC_VERSION);
            return 0;
        }
    }
    bool verbose = argc > 1 && streq(argv[1], "-v");
    const char *only = argc > 1 + verbose ? argv[1 + verbose] : NULL;
    int ran = 0;
    zsys_init();
    zsys_set_logstream(stderr);
    for (const s_test_t *t = s_tests; t->name; t++)
        if (!only || streq(only, t->name)) {
            t->test(verbose);
            ran++;
        }
    if (ran == 0) {
        fprintf(stderr, "dc-selftest: no test named '%s'; try --help\n", only);
        return 2;
    }
    printf("%d passed, 0 failed\n", ran);
    return 0;
}
