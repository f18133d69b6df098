/*  dc-selftest: runs every class self-test, czmq style. `dc-selftest -v [name]`.
    Each self-test runs in a child process of its own: a failed check (abort) names
    itself and the others still run, nothing one test leaves behind (sockets, threads,
    czmq's context) reaches the next, whatever it started and left running (a
    redis-server after a failed check) is killed with its process group and fails the
    test, and a test that cannot run here (no redis-server)
    exits 77 (dc_check_skip), which counts as skipped. Exit status: 1 when any test
    failed, 77 when every test that ran was skipped (what meson reports as SKIP), else 0. */
#include "dc_audit.h"
#include "dc_broker.h"
#include "dc_check.h"
#include "dc_client.h"
#include "dc_curve.h"
#include "dc_dispatcher.h"
#include "dc_hist.h"
#include "dc_http.h"
#include "dc_job.h"
#include "dc_mdp.h"
#include "dc_opts.h"
#include "dc_rconn.h"
#include "dc_redis.h"
#include "dc_service.h"
#include "dc_svc.h"
#include "dc_worker.h"

#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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
                                   {"dc_client", dc_client_test},
                                   {"dc_worker", dc_worker_test},
                                   {"dc_dispatcher", dc_dispatcher_test},
                                   {"dc_curve", dc_curve_test},
                                   {"dc_audit", dc_audit_test},
                                   {NULL, NULL}};

static void s_usage(void)
{
    printf("Usage: dc-selftest [-v] [NAME]\n"
           "Runs every class's self-test (or only NAME), czmq style, each in a process of its\n"
           "own; -v names each one and its time. Exits 77 when every test that ran was\n"
           "skipped (e.g. dc_redis without redis-server).\n\n"
           "Self-tests:");
    for (const s_test_t *t = s_tests; t->name; t++)
        printf(" %s", t->name);
    printf("\n");
}

/*  Runs one test in a child process: 0 passed, 77 skipped, else failed. */
static int s_run(const s_test_t *t, bool verbose)
{
    fflush(stdout);
    fflush(stderr);
    int64_t t0 = zclock_mono();
    pid_t pid = fork();
    if (pid < 0) {
        perror("dc-selftest: fork");
        return 1;
    }
    if (pid > 0)
        setpgid(pid, 0); /* also here: no race with the kill below */
    if (pid == 0) {
        setpgid(0, 0);                    /* what it starts (a redis-server) is in its group */
        setvbuf(stdout, NULL, _IONBF, 0); /* what it printed survives an abort */
        zsys_init();
        zsys_set_logstream(stderr);
        t->test(verbose);
        exit(0); /* runs czmq's shutdown, and the leak check of a sanitizer build */
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (kill(-pid, 0) == 0) { /* something it started is still running: a failure too */
        fprintf(stderr, "dc-selftest: %s left processes running; killing them\n", t->name);
        kill(-pid, SIGKILL);
        rc = rc ? rc : 1;
    }
    double secs = (double)(zclock_mono() - t0) / 1000.0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "dc-selftest: %s died of signal %d\n", t->name, WTERMSIG(status));
    if (verbose || rc != 0)
        printf("   %s: %s in %.2f s\n", t->name,
               rc == 0                  ? "passed"
               : rc == DC_CHECK_SKIPPED ? "skipped"
                                        : "FAILED",
               secs);
    return rc;
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
    int passed = 0, failed = 0, skipped = 0;
    for (const s_test_t *t = s_tests; t->name; t++)
        if (!only || streq(only, t->name)) {
            int rc = s_run(t, verbose);
            passed += rc == 0;
            skipped += rc == DC_CHECK_SKIPPED;
            failed += rc != 0 && rc != DC_CHECK_SKIPPED;
        }
    if (passed + failed + skipped == 0) {
        fprintf(stderr, "dc-selftest: no test named '%s'; try --help\n", only);
        return 2;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : passed == 0 ? DC_CHECK_SKIPPED : 0;
}
