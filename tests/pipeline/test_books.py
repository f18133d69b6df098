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

from dcrig import Rig, free_port, sse_snapshot, wait_for

checks = 0
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
    assert rig.hashes() >= before, ("Redis came back with less", before, rig.hashes())
    wait_for("dispatcher ready again", lambda: rig.http("dispatcher", "/readyz")[0] == 200,
             timeout=10)
    start = rig.hashes()
    wait_for("hashes growing again", lambda: rig.hashes() > start + 20, timeout=15)
    assert rig.metric("dispatcher", "dc_dispatcher_books_lost_total") == 0
    assert LOST_LOG not in rig.log("dispatcher"), "a reloaded Redis taken for a loss"
    checks += 3

    # the books balance across the restart: the dispatcher's, Redis's, the wallet's
    books = rig.stop_and_check_books()
    assert books["books_lost"] == 0, books
    checks += 4
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
    assert snap["books"] == {"lost": 0, "t_ms": None, "text": None}, snap["books"]
    checks += 1

    rig.stop("redis", signal.SIGTERM)
    shutil.rmtree(os.path.join(rig.dir, "appendonlydir"))
    if os.path.exists(os.path.join(rig.dir, "dump.rdb")):
        os.remove(os.path.join(rig.dir, "dump.rdb"))
    rig.start_redis()
    assert rig.hashes() == 0 and rig.r.hlen("wallet") == 0, "Redis did not start empty"
    wait_for("the loss counted in /metrics",
             lambda: rig.metric("dispatcher", "dc_dispatcher_books_lost_total") == 1, timeout=15)
    wait_for("the loss in dc:stats:dispatcher",
             lambda: (rig.fresh_books() or {}).get("books_lost") == 1, timeout=10)
    lost_ms = rig.stats("dispatcher")["books_lost_ms"]
    checks += 2
    snap = sse_snapshot(web_port, lambda s: s["books"]["lost"] == 1, 15)
    assert snap["books"]["t_ms"] == lost_ms, (snap["books"], lost_ms)
    assert snap["books"]["text"].startswith(
        "Redis lost its data 1 time while the dispatcher ran: counts restarted from 0"), snap
    checks += 1

    # mining goes on, counting from what Redis has
    start = rig.hashes()
    wait_for("hashes growing after the loss", lambda: rig.hashes() > start + 50, timeout=20)
    took = rig.stop("dispatcher")
    books = rig.stats("dispatcher")
    log = rig.log("dispatcher")
    assert books["issued"] == books["counted"] + books["in_flight"], books
    assert 0 < rig.hashes() < books["hashes"], ("Redis", rig.hashes(), "books", books)
    assert rig.check_wallet() <= books["coins"], books  # the lost coins are not in it
    assert books["books_lost"] == 1, books  # once per loss, not once per flush
    assert log.count(LOST_LOG) == 1, [l for l in log.splitlines() if LOST_LOG in l]
    assert " E: " in next(l for l in log.splitlines() if LOST_LOG in l) or \
        next(l for l in log.splitlines() if LOST_LOG in l).startswith("E:")
    checks += 5
    print("(b) restarted empty: Redis hashes", rig.hashes(), "books", books)
    print("dispatcher:", next(l for l in log.splitlines() if LOST_LOG in l))
print(f"{checks} passed, 0 failed")
