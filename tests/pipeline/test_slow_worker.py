"""A stalled worker does not stall the rig: 8 workers, 2 rngs, 2 hashers, no delays; one
worker SIGSTOPped for 15 s. With credit-based flow control it holds at most its credit
(2 jobs), the other 7 carry on: throughput stays >= 60 % of what it was in every ~3 s
window of the stall; its jobs are re-issued to other workers after the latency-derived
deadline (well under the 10 s cap); after SIGCONT it mines again and the books are exact."""
import signal
import time

from dcrig import Checks, Rig, wait_for

STALL_S = 15
WINDOW_S = 3.0
check = Checks()


def samples(rig, seconds):
    """(ts_ms, hashes) of every dispatcher snapshot during the next `seconds`."""
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        s = rig.stats("dispatcher")
        if s and (not out or s["ts_ms"] > out[-1][0]):
            out.append((s["ts_ms"], s["hashes"]))
        time.sleep(0.1)  # polling the snapshots the dispatcher writes once a second
    return out


def window_rates(points, width_s):
    """Rates over consecutive windows of about width_s, from snapshot to snapshot."""
    rates, i = [], 0
    for j in range(1, len(points)):
        if points[j][0] - points[i][0] >= width_s * 1000:
            rates.append((points[j][1] - points[i][1]) * 1000.0 / (points[j][0] - points[i][0]))
            i = j
    return rates


with Rig() as rig:
    rig.start_all(workers=8, rngs=2, hashers=2, delay_ms=0)
    wait_for("8 workers counted", lambda: rig.stats("worker").get("workers", 0) >= 8, timeout=60)
    wait_for("8 job connections", lambda: (rig.fresh_books() or {}).get("connections") == 8,
             timeout=20)
    before = rig.rate(6)
    late_ms = rig.stats("dispatcher")["late_ms"]
    print(f"before: {before:,.0f} hashes/s; re-issue deadline {late_ms} ms")
    check(before > 100, "the rig mines with no delays")

    slow = next(n for n in rig.procs if n.startswith("worker"))
    reissued = rig.stats("dispatcher")["reissued"]
    jobs = rig.metric(slow, "dc_worker_jobs_total")
    rig.send(slow, signal.SIGSTOP)
    t0 = time.monotonic()
    during = samples(rig, STALL_S - 0.5)
    rates = window_rates(during, WINDOW_S)
    books = rig.stats("dispatcher")
    print("during the stall, per ~3 s window:", " ".join(f"{r:,.0f}" for r in rates),
          f"(min {min(rates) / before:.0%} of before)")
    check(len(rates) >= 3, "enough windows measured")
    check(min(rates) >= 0.6 * before, f"throughput during the stall {min(rates):,.0f} "
          f"< 60 % of {before:,.0f}")
    check(books["reissued"] >= reissued + 1, "the stalled worker's jobs re-issued")
    check(books["oldest_ms"] < 5000, f"no job waits on the stalled worker: {books}")
    time.sleep(max(0.0, STALL_S - (time.monotonic() - t0)))  # the rest of the stall

    rig.send(slow, signal.SIGCONT)
    t1 = time.monotonic()
    wait_for("the stalled worker mining again",
             lambda: rig.metric(slow, "dc_worker_jobs_total") > jobs + 10, timeout=15)
    print(f"{slow} back at work {time.monotonic() - t1:.2f} s after SIGCONT")
    after = rig.rate(5)
    print(f"after: {after:,.0f} hashes/s")
    check(after >= 0.6 * before, "throughput after SIGCONT")

    books = rig.stop_and_check_books()
    check(books["reissued"] >= 1 and books["duplicates"] >= 0, "books")
    print("books:", books)
print(f"{check.passed} passed, 0 failed")
