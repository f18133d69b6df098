"""Hashes and coins reach Redis exactly as the dispatcher counted them, and the wallet
holds only real coins. Raw mode, 3 workers, then a clean SIGTERM of the dispatcher."""
import signal

from dcrig import Rig, wait_for

with Rig() as rig:
    rig.start_all(workers=3, delay_ms=0)
    wait_for("some coins", lambda: rig.r.hlen("wallet") >= 20, timeout=30)
    took = rig.stop("dispatcher", signal.SIGTERM)
    assert took < 1.0, f"dispatcher took {took:.2f}s to exit"
    books = rig.stats("dispatcher")
    assert books["issued"] == books["counted"] + books["in_flight"], books
    assert books["hashes"] > 0 and books["coins"] > 0, books
    assert rig.hashes() == books["hashes"], (rig.hashes(), books)
    coins = rig.check_wallet()
    assert coins == books["coins"], (coins, books)
    # about one digest in 16 starts with '0'
    assert books["hashes"] / 40 < coins < books["hashes"] / 6, (coins, books["hashes"])
    print(f"counted {books['hashes']} hashes, {coins} coins; Redis agrees")
