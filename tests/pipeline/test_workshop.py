"""Workshop mode (100 ms per rng call, per hasher call and per loop) follows
min(workers / loop time, rng x 10, hasher x 10), and the broker's stats name the
saturated service. Rates are averaged over ~8 s windows; the tolerances allow for the
~1 ms of messaging per call and one loop of ramp-up at the window's edges."""
import time

from dcrig import Rig, wait_for


def phase(rig, label, lo, hi):
    rate = rig.rate(8)
    print(f"{label}: {rate:.2f} hashes/s (want {lo}..{hi})")
    assert lo <= rate <= hi, f"{label}: {rate:.2f} hashes/s not in {lo}..{hi}"
    return rate


def workers_seen(rig, n):
    return wait_for(f"{n} workers reporting",
                    lambda: rig.stats("worker").get("workers", 0) >= n, timeout=20)


with Rig() as rig:
    rig.start_all(workers=1)
    wait_for("first hashes", lambda: rig.hashes() > 0)
    # the model (one loop per 300 ms) is an upper bound, but a window can catch one more
    # snapshot's hash than it spans: allow exactly that (1 hash / 8 s) above it
    phase(rig, "1 worker", 2.9, 1 / 0.3 + 1 / 8)

    for _ in range(9):
        rig.start_worker()
    workers_seen(rig, 10)
    phase(rig, "10 workers, 1 rng, 1 hasher", 9.0, 10.3)
    rng, hasher = rig.stats("rng"), rig.stats("hasher")
    print("rng:", rng, "\nhasher:", hasher)
    assert rng["busy_pct"] >= 90 and rng["queue_max"] >= 3, rng
    assert rng["wait_p50_ms"] > 5 * max(hasher["wait_p50_ms"], 1), (rng, hasher)

    rig.start_service("rng")
    wait_for("2 rng workers", lambda: rig.stats("rng").get("workers") == 2)
    time.sleep(2)  # let the rng queue drain before measuring the new regime
    phase(rig, "10 workers, 2 rng, 1 hasher", 9.0, 10.3)
    rng, hasher = rig.stats("rng"), rig.stats("hasher")
    assert hasher["wait_p50_ms"] > rng["wait_p50_ms"], (rng, hasher)

    rig.start_service("hasher")
    wait_for("2 hasher workers", lambda: rig.stats("hasher").get("workers") == 2)
    time.sleep(2)
    phase(rig, "10 workers, 2 rng, 2 hasher", 18.0, 20.6)
