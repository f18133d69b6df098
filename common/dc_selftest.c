/*  dc_selftest: see the header. */
#include "dc_selftest.h"
#include "dc_check.h"

#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void s_usage(const char *prog, const dc_selftest_t *tests)
{
    printf("Usage: %s [-v] [NAME]\n"
           "Runs every class's self-test (or only NAME), czmq style, each in a process of its\n"
           "own; -v names each one and its time. Exits 77 when every test that ran was\n"
           "skipped (e.g. dc_redis without redis-server).\n\n"
           "Self-tests:",
           prog);
    for (const dc_selftest_t *t = tests; t->name; t++)
        printf(" %s", t->name);
    printf("\n");
}

/*  Runs one test in a child process: 0 passed, 77 skipped, else failed. */
static int s_run(const char *prog, const dc_selftest_t *t, bool verbose)
{
    fflush(stdout);
    fflush(stderr);
    int64_t t0 = zclock_mono();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
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
    pid_t reaped;
    while ((reaped = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    int rc = reaped == pid && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (kill(-pid, 0) == 0) { /* something it started is still running: a failure too */
        fprintf(stderr, "%s: %s left processes running; killing them\n", prog, t->name);
        kill(-pid, SIGKILL);
        rc = rc ? rc : 1;
    }
    double secs = (double)(zclock_mono() - t0) / 1000.0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s: %s died of signal %d\n", prog, t->name, WTERMSIG(status));
    if (verbose || rc != 0)
        printf("   %s: %s in %.2f s\n", t->name,
               rc == 0                  ? "passed"
               : rc == DC_CHECK_SKIPPED ? "skipped"
                                        : "FAILED",
               secs);
    return rc;
}

int dc_selftest_main(const char *prog, const dc_selftest_t *tests, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
            s_usage(prog, tests);
            return 0;
        }
        if (streq(argv[i], "--version")) {
            printf("%s %s\n", prog, DC_VERSION);
            return 0;
        }
    }
    bool verbose = argc > 1 && streq(argv[1], "-v");
    const char *only = argc > 1 + verbose ? argv[1 + verbose] : NULL;
    int passed = 0, failed = 0, skipped = 0;
    for (const dc_selftest_t *t = tests; t->name; t++)
        if (!only || streq(only, t->name)) {
            int rc = s_run(prog, t, verbose);
            passed += rc == 0;
            skipped += rc == DC_CHECK_SKIPPED;
            failed += rc != 0 && rc != DC_CHECK_SKIPPED;
        }
    if (passed + failed + skipped == 0) {
        fprintf(stderr, "%s: no test named '%s'; try --help\n", prog, only);
        return 2;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : passed == 0 ? DC_CHECK_SKIPPED : 0;
}
