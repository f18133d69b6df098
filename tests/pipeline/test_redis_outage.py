"""Redis stopped for 5 s and restarted (AOF keeps its data), and Redis frozen with
SIGSTOP for 3 s (so writes time out and may still land later): no count is lost and none
is written twice. The dispatcher turns unready while Redis is away and holds the counts."""
import os
import signal
import time

from dcrig import Rig, wait_for

checks = 0

with Rig(redis_args=["--appendonly", "yes", "--appendfsync", "always"]) as rig:
    rig.start_all(workers=3, delay_ms=10)
    wait_for("hashes", lambda: rig.hashes() >= 50, timeout=20)

    # 1. stopped for 5 s, then restarted on the same port and data directory
    rig.stop("redis", signal.SIGTERM)
    wait_for("dispatcher unready without Redis",
             lambda: rig.http("dispatcher", "/readyz")[0] == 503, timeout=5)
    wait_for("counts held in memory",
             lambda: rig.metric("dispatcher", "dc_dispatcher_redis_pending_hashes") > 0, timeout=5)
    checks += 2
    time.sleep(5)  # the outage itself
    rig.start_redis()
    wait_for("dispatcher ready again", lambda: rig.http("dispatcher", "/readyz")[0] == 200,
             timeout=10)
    checks += 1

    # 2. frozen: commands time out mid-transaction and run when Redis wakes up
    for _ in range(2):
        rig.send("redis", signal.SIGSTOP)
        time.sleep(3)  # the freeze itself
        rig.send("redis", signal.SIGCONT)
        wait_for("dispatcher ready after the freeze",
                 lambda: rig.http("dispatcher", "/readyz")[0] == 200, timeout=10)
    start = rig.hashes()
    wait_for("hashes growing again", lambda: rig.hashes() > start + 20, timeout=15)
    checks += 1

    books = rig.stop_and_check_books()
    checks += 3
    print("books:", books)
    print("dispatcher log:\n" + "\n".join(l for l in rig.log("dispatcher").splitlines() if "redis" in l))
print(f"{checks} passed, 0 failed")
