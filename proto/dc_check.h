/*  dc_check: the self-tests' assertion. Unlike assert() it is never compiled out, so
    a build with NDEBUG still tests: the condition is always evaluated (it may have side
    effects, e.g. DC_CHECK(mkdtemp(dir))), and a false one prints where and what, then
    aborts. Self-tests use DC_CHECK; assert() stays for invariants of the code itself.
    dc_check_skip() ends a self-test that cannot run here (a missing redis-server): it
    prints why and exits 77, which dc-selftest (each test in a process of its own) and
    meson count as skipped. */
#ifndef DC_CHECK_H
#define DC_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define DC_CHECK_SKIPPED 77

#define DC_CHECK(cond) ((cond) ? (void)0 : dc_check_fail(#cond, __FILE__, __LINE__, __func__))

static inline _Noreturn void dc_check_fail(const char *cond, const char *file, int line,
                                           const char *func)
{
    fprintf(stderr, "%s:%d: %s: check failed: %s\n", file, line, func, cond);
    fflush(stderr);
    abort();
}

static inline _Noreturn void dc_check_skip(const char *why)
{
    printf("skipped (%s)\n", why);
    fflush(stdout);
    exit(DC_CHECK_SKIPPED);
}

#endif
