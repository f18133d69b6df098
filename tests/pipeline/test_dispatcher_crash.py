"""Results survive a dispatcher crash: kill -9 of the dispatcher mid-run (4 workers, no
delays), a new one started on the same ports. Workers keep every result until
the dispatcher acknowledges it durable in Redis and send it again to the new one; the
per-epoch ledger in Redis, written in the same script as the counts, makes each job count
exactly once. Re-issues are turned off (--reissue-min-ms 60000), so no job is computed
twice: then every hash and coin the workers computed (their own totals, from their exit
lines) is in Redis exactly once."""
import re
import signal
import time

from dcrig import Checks, Rig, wait_for

check = Checks()
ARGS = ["--reissue-min-ms", "60000", "--job-timeout-ms", "60000"]
WORKERS = 4


def workers(rig):
    return [n for n in rig.procs if n.startswith("worker")]


with Rig() as rig:
    rig.start_all(workers=WORKERS, delay_ms=0, dispatcher_args=ARGS)
    wait_for("mining", lambda: rig.hashes() >= 2000, timeout=30)
    # kill it half-way between two flushes: about half a second of counts only in memory
    first = rig.stats("dispatcher")["ts_ms"]
    before = wait_for("a new snapshot", lambda: (lambda s: s if s["ts_ms"] > first else None)(
        rig.stats("dispatcher")))
    time.sleep(0.5)  # placing the kill between flushes, not synchronising
    rig.stop("dispatcher", signal.SIGKILL)
    at_kill = rig.hashes()
    print(f"killed the dispatcher: Redis had {at_kill} hashes; its last snapshot: "
          f"{before['hashes']} counted, {before['acked']} acknowledged")
    unacked = sum(rig.metric(n, "dc_worker_results_unacked") for n in workers(rig))
    print(f"workers hold {unacked:.0f} results not acknowledged")
    rig.start_dispatcher(*ARGS)
    restart = time.monotonic()
    wait_for("mining again", lambda: rig.hashes() > at_kill + 2000, timeout=30)
    # every result sent before the crash gets acknowledged (results are sent again after
    # 5 s): counted by the new dispatcher, or found in the ledger as counted already
    for name in workers(rig):
        check.until(f"{name}: no result from before the restart awaits an ACK",
                    lambda: rig.metric(name, "dc_worker_oldest_unacked_ms")
                    < (time.monotonic() - restart) * 1000 - 1500, timeout=30)
        check(rig.metric(name, "dc_worker_acked_hashes_total") > 0, f"{name}: acknowledged")
    resent = sum(rig.metric(n, "dc_worker_results_resent_total") for n in workers(rig))
    books = wait_for("a fresh snapshot", rig.fresh_books)
    print(f"new dispatcher: {books['recovered_jobs']} jobs recovered ("
          f"{books['recovered_hashes']} hashes, {books['recovered_coins']} coins) by ledger "
          f"checks out of {books['checks']}; {resent:.0f} results resent by workers")
    check(books["recovered_jobs"] >= 1 and resent >= 1, "the crash lost results, recovered")
    check(books["refused_checks"] == 0 and books["reissued"] == 0, f"nothing refused: {books}")

    # stop the workers (each says what it computed), then the dispatcher (it writes all)
    computed = {"hashes": 0, "coins": 0}
    for name in workers(rig):
        rig.stop(name)
        line = re.search(r"stopped after (\d+) jobs, (\d+) hashes, (\d+) coins", rig.log(name))
        check(line is not None, f"{name}'s exit line")
        computed["hashes"] += int(line.group(2))
        computed["coins"] += int(line.group(3))
    took = rig.stop("dispatcher")
    check(took < rig.exit_bound, f"dispatcher exit took {took:.2f} s")
    last = rig.stats("dispatcher")
    check(last["issued"] == last["counted"] + last["in_flight"], f"books balance: {last}")
    redis_hashes, wallet = rig.hashes(), rig.check_wallet()
    print("last books:", last)
    print(f"workers computed {computed['hashes']} hashes and {computed['coins']} coins; "
          f"Redis holds {redis_hashes} and {wallet}")
    check(redis_hashes == computed["hashes"], "every hash counted exactly once")
    check(wallet == computed["coins"], "every coin counted exactly once")
print(f"{check.passed} passed, 0 failed")
