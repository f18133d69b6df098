"""Every binary is healthy and ready while running, and exits within 1 s of SIGTERM or
SIGINT: mid-job, while its broker is gone, and while Redis is gone (3 s for a sanitizer
build: dcrig.exit_bound)."""
import signal

from dcrig import Checks, Rig, wait_for

check = Checks()


def timed_stop(rig, name, sig=signal.SIGTERM):
    took = rig.stop(name, sig)
    print(f"{name}: exited {took * 1000:.0f} ms after {sig.name}")
    check(took < rig.exit_bound, f"{name} took {took:.2f}s to exit after {sig.name}")


with Rig() as rig:
    rig.start_all(workers=3)
    names = ["broker", "rng1", "hasher2", "dispatcher", "worker3", "worker4", "worker5"]
    for name in names:
        check.until(f"{name} ready", lambda: rig.http(name, "/readyz")[0] == 200, timeout=15)
        check(rig.http(name, "/healthz")[0] == 200, f"{name} healthy")
    wait_for("hashes", lambda: rig.hashes() >= 5, timeout=20)
    timed_stop(rig, "worker3")                  # mid-job, workshop pauses
    timed_stop(rig, "worker4", signal.SIGINT)
    # Redis gone while counts are pending: the dispatcher still exits at once, and says
    # what it could not write
    rig.stop("redis", signal.SIGKILL)
    wait_for("counts pending", lambda: rig.metric("dispatcher", "dc_dispatcher_redis_pending_hashes") > 0,
             timeout=10)
    timed_stop(rig, "dispatcher")
    check("not written" in rig.log("dispatcher"), "the dispatcher must say what it could not write")
    timed_stop(rig, "rng1")
    timed_stop(rig, "hasher2", signal.SIGINT)
    timed_stop(rig, "broker")
    timed_stop(rig, "worker5")                  # waiting on a broker that is gone

    # a service whose broker never existed
    rig.start_service("rng", "lonely", 100)
    wait_for("lonely started", lambda: rig.http("lonely", "/healthz")[0] == 200)
    check(rig.http("lonely", "/readyz")[0] == 503, "no broker: not ready")
    timed_stop(rig, "lonely")
print(f"{check.passed} passed, 0 failed")
