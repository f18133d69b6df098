"""kill -9 of the only rng under load (raw mode, 4 workers), then a new rng: throughput is
back within 1 s of the new rng's READY (issue 12). The READY moment is found by asking the
broker's mmi.service for rng every 20 ms; throughput comes from the dispatcher's
once-a-second snapshots: the first whole snapshot interval that starts 1 s or more after
the READY must run at >= 60 % of the rate before the kill."""
import signal
import time

import zmq

from dcrig import Checks, Rig, wait_for

check = Checks()
ctx = zmq.Context.instance()


def rng_registered(rig):
    """mmi.service rng on the broker, as any Majordomo client asks it: 200 or 404."""
    s = rig.curve_client(ctx.socket(zmq.REQ))
    s.linger, s.rcvtimeo = 0, 2000
    s.connect("tcp://127.0.0.1:%d" % rig.ports["broker"])
    s.send_multipart([b"MDPC01", b"mmi.service", b"rng"])
    try:
        return s.recv_multipart()[2] == b"200"
    finally:
        s.close()


def snapshots_after(rig, since_ms, count, timeout=20):
    """The next `count` dispatcher snapshots (ts_ms, hashes) stamped at since_ms or later."""
    out, deadline = [], time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        s = rig.stats("dispatcher")
        if s and s["ts_ms"] >= since_ms and (not out or s["ts_ms"] > out[-1][0]):
            out.append((s["ts_ms"], s["hashes"]))
        time.sleep(0.05)  # polling the snapshots the dispatcher writes once a second
    assert len(out) == count, f"only {len(out)} snapshots in {timeout}s"
    return out


with Rig() as rig:
    rig.start_all(workers=4, delay_ms=0)
    wait_for("4 workers", lambda: rig.stats("worker").get("workers", 0) >= 4, timeout=30)
    before = rig.rate(4)
    print(f"before: {before:,.0f} hashes/s")
    rng = next(n for n in rig.procs if n.startswith("rng"))
    rig.stop(rng, signal.SIGKILL)
    t_kill = time.monotonic()
    wait_for("rng gone from the broker", lambda: not rng_registered(rig), timeout=20)
    print(f"the broker dropped the dead rng {time.monotonic() - t_kill:.1f} s after kill -9")
    # from a snapshot taken after that: an earlier one would count hashes made before the
    # kill into the stall
    stalled = rig.rate(1, since_ms=time.time() * 1000)
    print(f"no rng: {stalled:,.0f} hashes/s")
    check(stalled < 0.3 * before, "the rig really waits on rng")

    rig.start_service("rng", "rng-new", 0)
    wait_for("the new rng's READY", lambda: rng_registered(rig), timeout=10, interval=0.02)
    ready_ms = time.time() * 1000
    (t0, h0), (t1, h1) = snapshots_after(rig, ready_ms + 1000, 2)
    rate = (h1 - h0) * 1000.0 / (t1 - t0)
    print(f"from {t0 - ready_ms:.0f} to {t1 - ready_ms:.0f} ms after READY: {rate:,.0f} "
          f"hashes/s ({rate / before:.0%} of before)")
    check(rate >= 0.6 * before, "throughput back within 1 s of the new rng's READY")
    books = rig.stop_and_check_books()
    print("books:", books)
print(f"{check.passed} passed, 0 failed")
