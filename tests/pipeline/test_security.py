"""CURVE on every ZeroMQ socket and Redis AUTH.

Against the broker's ROUTER and the dispatcher's two ROUTERs, a client with no key and
one with a key nobody authorised get nothing and are counted as refused (the wrong key
logged once, however often it retries: the drop rule's first line, then one per 10 s); a client with the deployment's key is
served. A real worker whose key is refused logs so itself. The pipeline mines throughout.
Redis with requirepass: a wrong password keeps the dispatcher unready with an error that
names the setting, the right one works."""
import os
import shutil
import struct
import subprocess

import zmq
import zmq.auth

from dcrig import Checks, Rig, wait_for

ctx = zmq.Context.instance()
check = Checks()


def client(kind, endpoint, keys=None, server=None):
    """A pyzmq client: keys=None speaks no CURVE; else the client cert in `keys` and the
    public key of `server` read from the rig's key directory."""
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = 1500
    if keys:
        pub, sec = zmq.auth.load_certificate(os.path.join(keys, "client.cert_secret"))
        srv, _ = zmq.auth.load_certificate(os.path.join(RIG.keys, server + ".cert"))
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = pub, sec, srv
    s.connect(endpoint)
    return s


def refused(name):
    return rig.metric(name, f"dc_{name}_auth_refused_total")


with Rig(redis_password="s3cret-for-tests") as rig:
    RIG = rig
    rig.start_all(workers=2, delay_ms=10)
    wait_for("mining", lambda: rig.hashes() > 10, timeout=20)
    stranger = os.path.join(rig.dir, "stranger")
    subprocess.run([os.path.join(rig.bin, "dc-keygen"), "--keys", stranger], check=True,
                   capture_output=True)
    broker = "tcp://127.0.0.1:%d" % rig.ports["broker"]
    jobs = "tcp://127.0.0.1:%d" % rig.ports["jobs"]
    results = "tcp://127.0.0.1:%d" % rig.ports["results"]

    # --- broker ROUTER --------------------------------------------------------------
    for label, keys in [("no key", None), ("wrong key", stranger)]:
        before = refused("broker")
        c = client(zmq.REQ, broker, keys, "broker")
        c.send_multipart([b"MDPC01", b"mmi.service", b"rng"])
        try:
            c.recv_multipart()
            check(False, f"broker answered a client with {label}")
        except zmq.Again:
            pass
        check.until(f"broker counts the {label} refusal", lambda: refused("broker") > before,
                    timeout=5)
        c.close()
    good = client(zmq.REQ, broker, rig.keys, "broker")
    good.send_multipart([b"MDPC01", b"mmi.service", b"rng"])
    check(good.recv_multipart() == [b"MDPC01", b"mmi.service", b"200"], "valid key served")
    # the stranger comes back again and again within seconds: counted each time, logged
    # once (the drop rule: the first, then at most one line per 10 s)
    before = refused("broker")
    for _ in range(5):
        n = refused("broker")
        c = client(zmq.DEALER, broker, stranger, "broker")
        wait_for("one more refusal", lambda: refused("broker") > n, timeout=5)
        c.close()
    log = rig.log("broker")
    check(log.count("is not authorised") == 1, "a wrong key is logged once, not per retry")

    # --- a client refused says so in its own log, not only the server ----------------
    mixed = os.path.join(rig.dir, "mixed")  # the servers' public keys, a stranger's own
    shutil.copytree(stranger, mixed)
    for f in ("broker.cert", "dispatcher.cert"):  # what a client holds of the servers
        shutil.copy(os.path.join(rig.keys, f), os.path.join(mixed, f))
        os.remove(os.path.join(mixed, f + "_secret"))
    rig.spawn("intruder", [os.path.join(rig.bin, "dc-worker"), "--broker", rig.ep("broker"),
                           "--jobs", rig.ep("jobs"), "--results", rig.ep("results"),
                           "--keys", mixed, "--id", "intruder"])
    wait_for("the refused worker logs why", lambda: "refused our key" in rig.log("intruder")
             and "--key-seed-file" in rig.log("intruder"), timeout=10)
    check(rig.stop("intruder") < rig.exit_bound, "a refused worker still exits at once")

    # --- dispatcher ROUTER (jobs): only a keyed worker gets work -------------------------
    ready = [struct.pack(">BBIIQ", 1, 3, 1, 0, 0), b"probe"]
    for label, keys in [("no key", None), ("wrong key", stranger)]:
        before = refused("dispatcher")
        p = client(zmq.DEALER, jobs, keys, "dispatcher")
        p.send_multipart(ready)
        try:
            p.recv_multipart()
            check(False, f"dispatcher gave a job to a worker with {label}")
        except zmq.Again:
            pass
        check.until(f"dispatcher counts the {label} refusal",
                    lambda: refused("dispatcher") > before, timeout=5)
        p.close()
    p = client(zmq.DEALER, jobs, rig.keys, "dispatcher")
    p.send_multipart(ready)
    check(len(p.recv_multipart()[0]) == 18, "a keyed worker gets a job")
    p.close()  # that job is simply re-issued after its deadline

    # --- dispatcher ROUTER (results): forged results from keyless peers never arrive ----
    drops = rig.metric_sum("dispatcher", "dc_dispatcher_dropped_total")
    for label, keys in [("no key", None), ("wrong key", stranger)]:
        before = refused("dispatcher")
        s = client(zmq.DEALER, results, keys, "dispatcher")
        check.until(f"result socket refuses {label}", lambda: refused("dispatcher") > before,
                    timeout=5)
        s.close()
    s = client(zmq.DEALER, results, rig.keys, "dispatcher")
    s.send_multipart([b"junk"])
    check.until("a keyed peer's junk reaches the decoder (and is dropped)",
                lambda: rig.metric_sum("dispatcher", "dc_dispatcher_dropped_total") == drops + 1,
                timeout=5)
    s.close()

    # --- mining never stopped ----------------------------------------------------------
    start = rig.hashes()
    check.until("still mining", lambda: rig.hashes() > start + 10, timeout=15)

    # --- Redis AUTH ------------------------------------------------------------------------
    check(rig.http("dispatcher", "/readyz")[0] == 200, "right password: ready")
    rig.stop("dispatcher")
    # what Redis holds now; a dispatcher's books count what it counted itself since it started
    hashes0, coins0 = rig.hashes(), rig.r.hlen("wallet")
    with open(rig.password_file, "w") as f:
        f.write("wrong\n")
    rig.start_dispatcher()
    wait_for("wrong password logged",
             lambda: "wrong password? see --redis-password-file" in rig.log("dispatcher"), timeout=10)
    check(rig.http("dispatcher", "/readyz")[0] == 503, "wrong password: not ready")
    with open(rig.password_file, "w") as f:
        f.write("s3cret-for-tests\n")
    rig.stop("dispatcher")
    rig.start_dispatcher()
    check.until("right password again: ready",
                lambda: rig.http("dispatcher", "/readyz")[0] == 200, timeout=10)
    # the dispatcher with the wrong password wrote nothing; the one after it wrote exactly its
    # own books on top of what Redis held
    check(rig.stop("dispatcher") < rig.exit_bound, "the dispatcher exits at once")
    books = rig.stats("dispatcher")
    check(books["issued"] == books["counted"] + books["in_flight"], f"books balance: {books}")
    check(rig.hashes() == hashes0 + books["hashes"], (hashes0, rig.hashes(), books))
    check(rig.check_wallet() == coins0 + books["coins"], (coins0, books))
# the simple deployment: every key derived from one shared seed
with Rig(secure="seed") as rig:
    rig.start_all(workers=2, delay_ms=10)
    wait_for("mining with seed-derived keys", lambda: rig.hashes() > 10, timeout=20)
    check(rig.metric("broker", "dc_broker_auth_refused_total") == 0, "no refusals")
print(f"{check.passed} passed, 0 failed")
