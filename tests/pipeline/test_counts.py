"""Hashes and coins reach Redis exactly as the dispatcher counted them, and the wallet
holds only real coins. Two rigs, each ended by a clean SIGTERM of the dispatcher: raw
mode with 3 workers, then raw and batched (--batch 4096) with 8 workers."""
import os

from dcrig import Rig, wait_for


def stop_and_check_books(rig):
    """SIGTERM the dispatcher (exit within the rig's exit_bound: 1 s, more under
    sanitizers); its books balance and Redis holds their hashes. Returns the books."""
    books = rig.stop_and_check_books(wallet=False)  # each rig checks the wallet its way
    assert books["hashes"] > 0 and books["coins"] > 0, books
    return books


with Rig() as rig:
    rig.start_all(workers=3, delay_ms=0)
    wait_for("some coins", lambda: rig.r.hlen("wallet") >= 20, timeout=30)
    books = stop_and_check_books(rig)
    coins = rig.check_wallet()
    assert coins == books["coins"], (coins, books)
    # about one digest in 16 starts with '0'
    assert books["hashes"] / 40 < coins < books["hashes"] / 6, (coins, books["hashes"])
    print(f"counted {books['hashes']} hashes, {coins} coins; Redis agrees")

# Raw and batched, 8 workers: tens of thousands of coins a second, so each Redis batch is
# large and Redis shares 2 cores with 12 busy processes. The writer must not give up on
# a batch it sent (a fixed 250 ms reply timeout did, 4 times in 12 s here, resending
# each batch bigger); snapshots keep coming, and the books land exactly once.
with Rig() as rig:
    rig.start_all(workers=8, delay_ms=0, dispatcher_args=["--batch", "4096"])
    wait_for("all workers reporting", lambda: rig.stats("worker").get("workers", 0) >= 8,
             timeout=60)
    last = 0
    for _ in range(4):  # four newer snapshots, a few seconds apart at most
        s = wait_for("a newer dispatcher snapshot",
                     lambda: (lambda b: b if b and b["ts_ms"] > last else None)(
                         rig.stats("dispatcher")), timeout=8)
        last = s["ts_ms"]
    books = stop_and_check_books(rig)
    assert rig.r.hlen("wallet") == books["coins"], (rig.r.hlen("wallet"), books)
    with open(os.path.join(rig.dir, "dispatcher.log")) as f:
        log = f.read()
    assert "redis: lost" not in log, [l for l in log.splitlines() if "redis:" in l][:5]
    print(f"batched: counted {books['hashes']} hashes, {books['coins']} coins, "
          "no Redis reply given up on; Redis agrees")
