"""dc-selftest's tests that need a real redis-server skip (exit 77) without one, and
never leave a server running: with no redis-server on PATH, and with one that starts
but never answers (a stand-in that records its pid and sleeps), which must be stopped."""
import os
import subprocess
import tempfile
import time

from dcrig import Checks, bindir

check = Checks()
selftest = os.path.join(bindir(), "dc-selftest")


def run(name, path):
    env = dict(os.environ, PATH=path)
    t0 = time.monotonic()
    r = subprocess.run([selftest, "-v", name], capture_output=True, text=True, timeout=60,
                       env=env)
    return r, time.monotonic() - t0


with tempfile.TemporaryDirectory() as empty:
    for name in ("dc_redis", "dc_dispatcher"):
        r, took = run(name, empty)  # nothing on PATH: no redis-server to spawn
        check(r.returncode == 77, f"{name} without redis-server exits 77: {r}")
        check("skipped" in r.stdout and "0 passed, 0 failed, 1 skipped" in r.stdout,
              f"{name} says it skipped: {r.stdout!r}")
        print(f"{name}: skipped in {took:.2f} s without redis-server")

with tempfile.TemporaryDirectory() as fake:
    pidfile = os.path.join(fake, "pid")
    with open(os.path.join(fake, "redis-server"), "w") as f:
        f.write(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 120\n")
    os.chmod(os.path.join(fake, "redis-server"), 0o755)
    r, took = run("dc_redis", fake + ":/usr/bin:/bin")
    check(r.returncode == 77, f"a redis-server that never answers: a skip: {r}")
    with open(pidfile) as f:
        pid = int(f.read())
    check(not os.path.exists(f"/proc/{pid}"), f"the server that never answered ({pid}) is gone")
    check("left processes running" not in r.stderr, f"nothing left for the runner: {r.stderr!r}")
    print(f"dc_redis: a mute redis-server (pid {pid}) stopped and reaped; skipped in {took:.2f} s")

print(f"{check.passed} passed, 0 failed")
