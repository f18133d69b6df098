"""Redis keeps the books, on the real binaries and a real redis-server:
(a) Redis stopped with SIGTERM and started again on the same port and data directory,
    append-only: nothing is lost, and the dispatcher does not mistake it for a loss;
(b) Redis restarted empty (stopped, its files deleted, started): the dispatcher logs the
    loss once, counts it in /metrics and dc:stats:dispatcher, the webui's SSE snapshot
    shows it, and mining goes on from what Redis has."""
import os
import shutil
import signal
import urllib.request

from dcrig import Checks, Rig, free_port, sse_snapshot, wait_for

check = Checks()
LOST_LOG = "the books are gone"


with Rig(redis_args=["--appendonly", "yes"]) as rig:
    rig.start_all(workers=3, delay_ms=10)
    wait_for("hashes", lambda: rig.hashes() >= 50, timeout=20)

    # (a) SIGTERM: Redis writes its append-only file out and reloads it on start
    before = rig.hashes()
    rig.stop("redis", signal.SIGTERM)
    wait_for("counts held while Redis is away",
             lambda: rig.metric("dispatcher", "dc_dispatcher_redis_pending_hashes") > 0, timeout=5)
    rig.start_redis()
    check(rig.hashes() >= before, ("Redis came back with less", before, rig.hashes()))
    wait_for("dispatcher ready again", lambda: rig.http("dispatcher", "/readyz")[0] == 200,
             timeout=10)
    start = rig.hashes()
    wait_for("hashes growing again", lambda: rig.hashes() > start + 20, timeout=15)
    check(rig.metric("dispatcher", "dc_dispatcher_books_lost_total") == 0, "no loss counted")
    check(LOST_LOG not in rig.log("dispatcher"), "a reloaded Redis taken for a loss")

    # the books balance across the restart: the dispatcher's, Redis's, the wallet's
    books = rig.stop_and_check_books()
    check(books["books_lost"] == 0, books)
    print("(a) restarted with its AOF: books", books)

    # (b) restarted empty, under a new dispatcher that has written the books
    rig.start_dispatcher()
    # Redis grows again only when the new dispatcher has written its books
    wait_for("the new dispatcher's books in Redis", lambda: rig.hashes() > books["hashes"] + 20,
             timeout=20)
    web_port = free_port()
    rig.spawn("webui", [os.path.join(rig.bin, "..", "webui", "dc-webui"), "--port",
                        "127.0.0.1:%d" % web_port, "--redis", "127.0.0.1:%d" % rig.ports["redis"]])
    wait_for("the webui listening", lambda: urllib.request.urlopen(
        "http://127.0.0.1:%d/json" % web_port, timeout=2).status == 200, timeout=15)
    snap = sse_snapshot(web_port, lambda s: s["redis"]["ok"], 10)
    check(snap["books"] == {"lost": 0, "t_ms": None, "text": None}, snap["books"])

    rig.stop("redis", signal.SIGTERM)
    shutil.rmtree(os.path.join(rig.dir, "appendonlydir"))
    if os.path.exists(os.path.join(rig.dir, "dump.rdb")):
        os.remove(os.path.join(rig.dir, "dump.rdb"))
    rig.start_redis()
    check(rig.hashes() == 0 and rig.r.hlen("wallet") == 0, "Redis did not start empty")
    wait_for("the loss counted in /metrics",
             lambda: rig.metric("dispatcher", "dc_dispatcher_books_lost_total") == 1, timeout=15)
    wait_for("the loss in dc:stats:dispatcher",
             lambda: (rig.fresh_books() or {}).get("books_lost") == 1, timeout=10)
    lost_ms = rig.stats("dispatcher")["books_lost_ms"]
    snap = sse_snapshot(web_port, lambda s: s["books"]["lost"] == 1, 15)
    check(snap["books"]["t_ms"] == lost_ms, (snap["books"], lost_ms))
    check(snap["books"]["text"].startswith(
        "Redis lost its data 1 time while the dispatcher ran: counts restarted from 0"), snap)

    # mining goes on, counting from what Redis has
    start = rig.hashes()
    wait_for("hashes growing after the loss", lambda: rig.hashes() > start + 50, timeout=20)
    took = rig.stop("dispatcher")
    check(took < rig.exit_bound, f"the dispatcher exits at once: {took:.2f} s")
    books = rig.stats("dispatcher")
    log = rig.log("dispatcher")
    check(books["issued"] == books["counted"] + books["in_flight"], books)
    check(0 < rig.hashes() < books["hashes"], ("Redis", rig.hashes(), "books", books))
    check(rig.check_wallet() <= books["coins"], books)  # the lost coins are not in it
    check(books["books_lost"] == 1, books)  # once per loss, not once per flush
    check(log.count(LOST_LOG) == 1, [l for l in log.splitlines() if LOST_LOG in l])
    lost_line = next(l for l in log.splitlines() if LOST_LOG in l)
    check(" E: " in lost_line or lost_line.startswith("E:"), f"logged as an error: {lost_line}")
    print("(b) restarted empty: Redis hashes", rig.hashes(), "books", books)
    print("dispatcher:", next(l for l in log.splitlines() if LOST_LOG in l))
print(f"{check.passed} passed, 0 failed")
