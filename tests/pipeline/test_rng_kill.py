"""kill -9 of the only rng under load (4 workers, no delays), then a new rng: throughput is
back within 1 s of the new rng's READY. The READY moment is found by asking the broker's
mmi.service for rng every 20 ms. Throughput after it is what the workers computed: the sum
of their dc_worker_hashes_total, read at set times after the READY. The rate from 1 s to
2 s after the READY must be >= 60 % of the steady rate from 3 s to 6 s after it, measured
the same way under the same load (a rate taken before the kill may have been measured
under another load on a busy machine). The steady rate must be out of the stall band
(>= 30 % of the dispatcher's rate before the kill), so a rig that never recovers fails."""
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


def workers_hashes(rig):
    """(monotonic time, sum of the workers' dc_worker_hashes_total): the time is the middle
    of the reads."""
    t0 = time.monotonic()
    total = sum(rig.metric(n, "dc_worker_hashes_total") for n in rig.procs
                if n.startswith("worker"))
    return (t0 + time.monotonic()) / 2, total


def sample_at(rig, ready, offsets):
    """workers_hashes at each of `offsets` seconds after the monotonic time `ready`."""
    out = []
    for off in offsets:
        time.sleep(max(0.0, ready + off - time.monotonic()))  # a window's edge, not a sync
        out.append(workers_hashes(rig))
    return out


def rate(a, b):
    return (b[1] - a[1]) / (b[0] - a[0])


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
    ready = time.monotonic()
    at = dict(zip((0.5, 1, 2, 3, 6), sample_at(rig, ready, (0.5, 1, 2, 3, 6))))
    early, back, steady = rate(at[0.5], at[1]), rate(at[1], at[2]), rate(at[3], at[6])
    print(f"workers after READY: {early:,.0f} hashes/s at 0.5-1 s, {back:,.0f} at 1-2 s, "
          f"{steady:,.0f} at 3-6 s (steady: {steady / before:.0%} of before)")
    check(steady >= 0.3 * before, "the rig recovered at all (steady rate out of the stall band)")
    check(back >= 0.6 * steady,
          f"throughput back within 1 s of the new rng's READY ({back / steady:.0%} of steady)")
    books = rig.stop_and_check_books()
    print("books:", books)
print(f"{check.passed} passed, 0 failed")
