"""kill -9 of a worker, of a busy rng and of the broker mid-run: the pipeline recovers by
itself and no job is lost. "Lost" is measured by the dispatcher's books: every job is
either counted or still in flight, and the oldest job in flight never stays older than
the re-issue timeout plus a loop (a lost job would age for ever)."""
import signal

from dcrig import Checks, Rig

TIMEOUT_MS = 2000
check = Checks()


def growing(rig, what, by=20, timeout=20):
    start = rig.hashes()
    check.until(f"hashes to grow after {what}", lambda: rig.hashes() >= start + by,
                timeout=timeout)


def no_stuck_job(rig):
    check.until("no job older than the re-issue timeout + 3 s",
                lambda: (lambda s: s and s["oldest_ms"] < TIMEOUT_MS + 3000 and s)(
                    rig.fresh_books()), timeout=20)


with Rig() as rig:
    rig.start_redis()
    rig.start_broker("--heartbeat-ms", "500")
    rig.start_service("rng", "rng-slow", 200, "--heartbeat-ms", "500")
    rig.start_service("rng", "rng-fast", 20, "--heartbeat-ms", "500")
    rig.start_service("hasher", "hasher", 20, "--heartbeat-ms", "500")
    rig.start_dispatcher("--job-timeout-ms", str(TIMEOUT_MS))
    # w0 pauses 400 ms per job, so it always holds a job (and usually a queue of them)
    # when it is killed below: otherwise, with 20 ms loops, it could die holding none and
    # there would be nothing to re-issue.
    for i in range(4):
        rig.start_worker(f"w{i}", 400 if i == 0 else 20, "--timeout-ms", "2000")
    growing(rig, "start")

    rig.stop("w0", signal.SIGKILL)
    growing(rig, "killing a worker")
    check.until("the dead worker's jobs re-issued",
                lambda: rig.stats("dispatcher").get("reissued", 0) >= 1, timeout=15)
    no_stuck_job(rig)

    # The busy rng: with the fast one gone (a clean exit: it answers what it holds, then
    # says DISCONNECT, so nothing is requeued), every rng request waits for rng-slow, so it
    # surely holds one when it is killed. (With both up, the broker's least-recently-used
    # choice mostly picks rng-fast, and rng-slow was seen idle when killed.)
    rig.stop("rng-fast")
    check.until("rng-slow alone, with requests queued behind it",
                lambda: (lambda s: s.get("slots") == 1 and s.get("queue", 0) >= 1)(
                    rig.stats("rng")), timeout=10)
    before = rig.stats("broker").get("requeued", 0)
    rig.stop("rng-slow", signal.SIGKILL)
    check.until("its request requeued by the broker",
                lambda: rig.stats("broker").get("requeued", 0) > before, timeout=10)
    rig.start_service("rng", "rng-fast2", 20, "--heartbeat-ms", "500")
    growing(rig, "killing a busy rng")
    check.until("rng down to 1 slot", lambda: rig.stats("rng").get("slots") == 1, timeout=10)

    rig.stop("broker", signal.SIGKILL)
    rig.r.delete("dc:stats:rng", "dc:stats:hasher")
    rig.start_broker("--heartbeat-ms", "500")
    check.until("services rejoin the new broker",
                lambda: rig.stats("rng").get("instances") == 1
                and rig.stats("hasher").get("instances") == 1
                and rig.stats("hasher").get("slots") == 20, timeout=15)
    growing(rig, "restarting the broker")
    no_stuck_job(rig)

    books = rig.stop_and_check_books()  # asserts: exit bound, balance, Redis = books, wallet
    print("books:", books)
print(f"{check.passed} passed, 0 failed")
