"""Hostile and malformed input, sent straight to every socket with pyzmq: each is refused
and counted, nothing crashes, and the pipeline keeps mining with correct books. Also
shows 7/MDP interoperability: a plain REQ client and a hand-written Python worker use
our broker."""
import hashlib
import os
import struct

import zmq

from dcrig import Checks, Rig, free_port, wait_for

ctx = zmq.Context.instance()
check = Checks()


RIG = None


def sock(kind, endpoint, bind=False, server="broker"):
    """A pyzmq socket with the rig's keys: a CURVE client of `server`, or when bind is
    set, a CURVE server holding `server`'s certificate (standing in for it)."""
    import zmq.auth
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = 5000
    if bind:
        pub, sec = zmq.auth.load_certificate(os.path.join(RIG.keys, server + ".cert_secret"))
        s.curve_server, s.curve_publickey, s.curve_secretkey = True, pub, sec
    else:
        RIG.curve_client(s, server)
    (s.bind if bind else s.connect)(endpoint)
    return s


def mdp_call(endpoint, service, *body):
    """A Majordomo client as anyone would write it: a REQ socket."""
    req = sock(zmq.REQ, endpoint)
    req.send_multipart([b"MDPC01", service] + list(body))
    reply = req.recv_multipart()
    req.close()
    assert reply[:2] == [b"MDPC01", service], reply
    return reply[2:]


with Rig() as rig:
    RIG = rig
    rig.start_all(workers=2, delay_ms=5)
    broker = "tcp://127.0.0.1:%d" % rig.ports["broker"]
    wait_for("mining", lambda: rig.hashes() > 20, timeout=20)

    # --- broker ROUTER -------------------------------------------------------------
    before = rig.metric_sum("broker", "dc_broker_dropped_total")
    d = sock(zmq.DEALER, broker)
    garbage = [
        [b"garbage"],
        [b"", b"MDPX01", b"rng"],
        [b"", b"MDPC01"],
        [b"", b"MDPC01", b"bad name", b"32"],
        [b"", b"MDPC01", b"x" * 65, b"32"],
        [b"", b"MDPW01", b"\x09"],
        [b"", b"MDPW01", b"\x02", b"client", b"", b"body"],  # REQUEST is broker-to-worker
        [b"", b"MDPW01", b"\x04", b"extra"],
        [b"", b"MDPC01", b"rng"] + [b"1"] * 20,                # too many frames
        [b"", b"MDPC01", b"rng", os.urandom(1024 * 1024 + 8192)],  # body too large
    ]
    for frames in garbage:
        d.send_multipart(frames)
    check.until("broker drops counted",
                lambda: rig.metric_sum("broker", "dc_broker_dropped_total") >= before + len(garbage),
                timeout=5)
    # over the transport limit: libzmq drops the connection, the broker lives on
    big = sock(zmq.DEALER, broker)
    big.send_multipart([b"", b"MDPC01", b"rng", b"\0" * (5 * 1024 * 1024)])
    # a REPLY from a worker nobody knows is told to go away
    d.send_multipart([b"", b"MDPW01", b"\x03", b"someone", b"", b"200", b"x"])
    check(d.recv_multipart() == [b"", b"MDPW01", b"\x05"], "unknown worker gets DISCONNECT")

    # --- the services through the broker, as a foreign REQ client -----------------
    check(mdp_call(broker, b"mmi.service", b"rng") == [b"200"], "mmi.service rng")
    check(mdp_call(broker, b"mmi.service", b"nope") == [b"404"], "mmi.service nope")
    check(mdp_call(broker, b"mmi.frobnicate") == [b"501"], "unknown mmi")
    for bad in [b"0", b"4097", b"abc", b"", b"-1", b"99999999999"]:
        r = mdp_call(broker, b"rng", bad)
        check(r[0] == b"400" and b"rng" in r[1], f"rng refuses {bad!r}: {r}")
    check(mdp_call(broker, b"rng", b"1024", b"4096")[0] == b"400", "rng refuses N*B over 1 MiB")
    check(mdp_call(broker, b"rng", b"32", b"4097")[0] == b"400", "rng refuses B over 4096")
    ok = mdp_call(broker, b"rng", b"32")
    check(ok[0] == b"200" and len(ok[1]) == 32, "rng serves 32 bytes")
    r = mdp_call(broker, b"hasher", b"x" * (1024 * 1024 + 1))
    check(r[0] == b"400" and b"1048576" in r[1], f"hasher refuses oversize: {r[:1]}")
    r = mdp_call(broker, b"hasher", b"abcabc", b"4")
    check(r[0] == b"400", "hasher refuses a payload that is not whole chunks")
    r = mdp_call(broker, b"hasher", b"abc")
    check(r == [b"200", hashlib.sha256(b"abc").hexdigest().encode()], "hasher digest")
    r = mdp_call(broker, b"hasher", b"abcabc", b"3")
    check(r == [b"200", hashlib.sha256(b"abc").hexdigest().encode() * 2], "batched digests")
    r = mdp_call(broker, b"hasher", b"abcabc", b"3", b"2")
    check(r == [b"200", hashlib.sha256(b"abc").digest()[:2] * 2], "binary digests, K = 2")
    for bad in [b"0", b"33", b"x"]:
        r = mdp_call(broker, b"hasher", b"abcabc", b"3", bad)
        check(r[0] == b"400" and b"K" in r[1], f"hasher refuses K {bad!r}: {r}")

    # --- a foreign MDP worker on our broker ----------------------------------------
    w = sock(zmq.DEALER, broker)
    w.send_multipart([b"", b"MDPW01", b"\x01", b"echo"])
    wait_for("echo registered", lambda: mdp_call(broker, b"mmi.service", b"echo") == [b"200"])
    c = sock(zmq.REQ, broker)
    c.send_multipart([b"MDPC01", b"echo", b"ping"])
    while True:
        m = w.recv_multipart()
        if m[2] == b"\x02":
            break
    client = m[3]
    w.send_multipart([b"", b"MDPW01", b"\x03", client, b"", b"200", b"pong"])
    check(c.recv_multipart() == [b"MDPC01", b"echo", b"200", b"pong"], "foreign worker")

    # --- dispatcher ROUTERs (results, then jobs) ------------------------------------
    push = sock(zmq.DEALER, "tcp://127.0.0.1:%d" % rig.ports["results"], server="dispatcher")
    before = rig.metric_sum("dispatcher", "dc_dispatcher_dropped_total")
    stale_before = rig.stats("dispatcher")["stale"]

    def header(version=1, kind=2, job=1, hashes=1, coins=0):
        return struct.pack(">BBQIIIII", version, kind, job, hashes, coins, 0, 0, 0)

    forged = os.urandom(32)
    while hashlib.sha256(forged).hexdigest().startswith("0"):
        forged = os.urandom(32)
    coin = os.urandom(32)
    while not hashlib.sha256(coin).hexdigest().startswith("0"):
        coin = os.urandom(32)
    bad_results = [
        [b"junk"],
        [header(version=9), b"w"],
        [header(kind=1), b"w"],
        [header(hashes=0), b"w"],
        [header(), b"bad id"],
        [header(coins=1), b"w", forged],                      # its digest is no coin
        [header(coins=2), b"w", coin],                        # coin frame too short
        [header(coins=1), b"w"],                              # coin frame missing
        [header(coins=1), b"w", b"0" * 64, coin],             # the old form: pairs
        [header(hashes=5000), b"w"],
    ]
    for frames in bad_results:
        push.send_multipart(frames)
    push.send_multipart([header(job=12345), b"w"])           # valid, but no such job
    check.until("dispatcher drops counted",
                lambda: rig.metric_sum("dispatcher", "dc_dispatcher_dropped_total")
                >= before + len(bad_results), timeout=5)
    check.until("unknown job counted as stale",
                lambda: rig.stats("dispatcher")["stale"] >= stale_before + 1, timeout=5)

    def ready(version=1, kind=3, capacity=2, held=0, received=0):
        return struct.pack(">BBIIQ", version, kind, capacity, held, received)

    dealer = sock(zmq.DEALER, "tcp://127.0.0.1:%d" % rig.ports["jobs"], server="dispatcher")
    before = rig.metric_sum("dispatcher", "dc_dispatcher_dropped_total")
    bad_readies = [[b"junk"], [ready(version=9), b"w"], [ready(kind=1), b"w"],
                   [ready(capacity=0), b"w"], [ready(capacity=65), b"w"], [ready(), b"bad id"],
                   [ready()], [ready(), b"w", b"canary", b"extra"], [ready(), b"w", b"Bad_Track"],
                   [ready(), b"w", b""], [ready(), b"w", b"a" * 17]]
    for frames in bad_readies:
        dealer.send_multipart(frames)
    check.until("READY drops counted",
                lambda: rig.metric_sum("dispatcher", "dc_dispatcher_dropped_total")
                >= before + len(bad_readies), timeout=5)
    check(rig.metric("dispatcher", "dc_dispatcher_worker_connections") == 2,
          "no connection made of malformed READYs")
    # a well-formed READY gets exactly its credit: one job, then nothing
    dealer.send_multipart([ready(capacity=1), b"probe"])
    job = dealer.recv_multipart()
    check(len(job) == 1 and job[0][:2] == b"\x01\x01", "one job for one credit")
    dealer.rcvtimeo = 500
    try:
        dealer.recv_multipart()
        check(False, "a second job beyond the credit")
    except zmq.Again:
        pass
    dealer.close()  # that job is re-issued after its deadline

    # --- a worker fed by us ------------------------------------------------------------
    jobs_port, results_port = free_port(), free_port()
    jobs = sock(zmq.ROUTER, "tcp://127.0.0.1:%d" % jobs_port, bind=True, server="dispatcher")
    results = sock(zmq.ROUTER, "tcp://127.0.0.1:%d" % results_port, bind=True, server="dispatcher")
    results.rcvtimeo = 10000  # the worker sends an unacknowledged result again after 5 s
    rig.spawn("fed", [os.path.join(rig.bin, "dc-worker"), "--broker", ">" + broker,
                      "--jobs", ">tcp://127.0.0.1:%d" % jobs_port, "--results",
                      ">tcp://127.0.0.1:%d" % results_port, "--raw", "--id", "fed",
                      "--http", "127.0.0.1:%d" % rig.http_port("fed"), "--keys", rig.keys])
    wait_for("fed worker up", lambda: rig.http("fed", "/healthz")[0] == 200)
    # its first READY: capacity 8 (raw mode: 4 jobs in flight, twice that credit), none held
    rid, hdr, name = jobs.recv_multipart()
    check(struct.unpack(">BBIIQ", hdr) == (1, 3, 8, 0, 0) and name == b"fed", "fed worker READY")
    for frames in [[b"x"], [struct.pack(">BBQII", 9, 1, 1, 1, 0)],
                   [struct.pack(">BBQII", 1, 1, 1, 0, 0)], [struct.pack(">BBQII", 1, 1, 1, 5000, 0)],
                   [struct.pack(">BBQII", 1, 1, 1, 1, 0), b"extra"]]:
        jobs.send_multipart([rid] + frames)
    jobs.send_multipart([rid, struct.pack(">BBQII", 1, 1, 77, 64, 0)])
    r = results.recv_multipart()[1:]  # its routing id first
    ver, kind, job_id, hashes, coins = struct.unpack(">BBQII", r[0][:18])
    check((ver, kind, job_id, hashes, len(r)) == (1, 2, 77, 64, 3 if coins else 2),
          "fed worker result")
    check(coins == 0 or len(r[2]) == 32 * coins, "one frame of 32 bytes per coin")
    for i in range(coins):
        data = r[2][32 * i:32 * (i + 1)]
        check(hashlib.sha256(data).hexdigest().startswith("0"), "coin")
    check.until("fed worker drops counted",
                lambda: rig.metric_sum("fed", "dc_worker_dropped_total", 'message="job"') == 5, timeout=5)
    # not acknowledged: the same result comes again (after 5 s); bad ACKs are counted drops
    results_rid = results.recv_multipart()  # routing id first, then the result again
    check(results_rid[1:] == r, "an unacknowledged result is sent again, unchanged")
    rrid = results_rid[0]
    bad_acks = [[b"junk"], [struct.pack(">BBI", 9, 4, 1), struct.pack(">Q", 77)],
                [struct.pack(">BBI", 1, 4, 2), struct.pack(">Q", 77)],
                [struct.pack(">BBI", 1, 4, 0), b""], [struct.pack(">BBI", 1, 4, 1)]]
    for frames in bad_acks:
        results.send_multipart([rrid] + frames)
    check.until("fed worker ACK drops counted",
                lambda: rig.metric_sum("fed", "dc_worker_dropped_total", 'message="ACK"')
                == len(bad_acks),
                timeout=5)
    check(rig.metric("fed", "dc_worker_results_unacked") == 1, "the result still kept")
    results.send_multipart([rrid, struct.pack(">BBI", 1, 4, 1), struct.pack(">Q", 77)])
    check.until("an ACK makes the worker forget the result",
                lambda: rig.metric("fed", "dc_worker_results_unacked") == 0, timeout=5)
    check(rig.metric("fed", "dc_worker_acked_hashes_total") == 64, "acknowledged totals")

    # --- an rng fed by a fake broker -------------------------------------------------------
    fake_port = free_port()
    fake = sock(zmq.ROUTER, "tcp://127.0.0.1:%d" % fake_port, bind=True, server="broker")
    rig.spawn("rng-fed", [os.path.join(rig.bin, "dc-rng"), "--broker",
                          ">tcp://127.0.0.1:%d" % fake_port, "--raw",
                          "--http", "127.0.0.1:%d" % rig.http_port("rng-fed"), "--keys", rig.keys])
    ready = fake.recv_multipart()
    ident = ready[0]
    check(ready[1:] == [b"", b"MDPW01", b"\x01", b"rng"], f"rng says READY: {ready}")
    for frames in [[b"junk"], [b"", b"MDPW09", b"\x02"], [b"", b"MDPW01", b"\x02"],
                   [b"", b"MDPW01", b"\x03", b"c", b"", b"x"], [b"", b"MDPW01", b"\x07"]]:
        fake.send_multipart([ident] + frames)
    fake.send_multipart([ident, b"", b"MDPW01", b"\x02", b"cli", b"", b"16"])
    while True:
        m = fake.recv_multipart()
        if m[3] == b"\x03":
            break
    check(m[4] == b"cli" and m[6] == b"200" and len(m[7]) == 16, "rng answers after garbage")
    check.until("rng drops counted",
                lambda: rig.metric_sum("rng-fed", "dc_service_dropped_total") >= 5, timeout=5)

    # --- everyone is alive and the books are right -------------------------------------------
    for name in ["broker", "rng1", "hasher2", "dispatcher", "worker3", "worker4", "fed", "rng-fed"]:
        check(rig.alive(name), f"{name} alive")
    start = rig.hashes()
    wait_for("still mining", lambda: rig.hashes() > start + 20, timeout=20)
    rig.stop("dispatcher")
    books = rig.stats("dispatcher")
    check(rig.hashes() == books["hashes"], (rig.hashes(), books))
    check(rig.check_wallet() == books["coins"], books)
print(f"{check.passed} passed, 0 failed")
