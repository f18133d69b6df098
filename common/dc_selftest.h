/*  dc_selftest: the one self-test runner, czmq style: a selftest binary is its table
    of class self-tests and a main that calls dc_selftest_main. `PROG -v [NAME]`.
    Each self-test runs in a child process of its own: a failed check (abort) names
    itself and the others still run, nothing one test leaves behind (sockets, threads,
    czmq's context) reaches the next, whatever it started and left running (a
    redis-server after a failed check) is killed with its process group and fails the
    test, and a test that cannot run here (no redis-server) exits 77
    (dc_check_skip), which counts as skipped. */
#ifndef DC_SELFTEST_H_INCLUDED
#define DC_SELFTEST_H_INCLUDED

#include <stdbool.h>

typedef struct {
    const char *name;
    void (*test)(bool verbose);
} dc_selftest_t;

/*  A row of the table: the class and its self-test, NAME_test. */
#define DC_SELFTEST(name)                                                                          \
    {                                                                                              \
#name, name##_test                                                                         \
    }
#define DC_SELFTEST_END                                                                            \
    {                                                                                              \
        NULL, NULL                                                                                 \
    }

/*  Runs every test of tests (terminated by DC_SELFTEST_END), or only the one named on
    the command line; -v names each one and its time; --help lists them. Returns the
    exit status: 1 when any test failed, 77 when every test that ran was skipped (what
    meson reports as SKIP), 2 for an unknown name, else 0. */
int dc_selftest_main(const char *prog, const dc_selftest_t *tests, int argc, char **argv);

#endif
