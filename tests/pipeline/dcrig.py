"""dcrig: starts a real redis-server and the real pipeline binaries on free loopback
ports, for the integration tests and the benchmark. Everything it starts is stopped by
close(), also when a test fails (use it as a context manager).

Run with Debian's /usr/bin/python3 (python3-redis, python3-zmq)."""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import redis


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Checks:
    """A test's checks: check(cond, what) asserts and counts; .passed is the count."""

    def __init__(self):
        self.passed = 0

    def __call__(self, cond, what):
        assert cond, what
        self.passed += 1


def wait_for(what, cond, timeout=20.0, interval=0.05):
    """Polls cond() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as e:  # a server still starting refuses connections
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def bindir():
    d = os.environ.get("DC_BIN")
    if not d:
        sys.exit("DC_BIN must name the directory holding dc-broker etc.")
    return d


class Rig:
    def __init__(self, workdir=None, redis_args=(), secure=True, redis_password=None):
        self.bin = bindir()
        self.dir = workdir or tempfile.mkdtemp(prefix="dcrig-")
        self.keys = os.path.join(self.dir, "keys")
        self.secure = secure
        self.redis_password = redis_password
        self.password_file = os.path.join(self.dir, "redis.password")
        if redis_password:
            with open(self.password_file, "w") as f:
                f.write(redis_password + "\n")
        self.seed_file = os.path.join(self.dir, "key.seed")
        if secure == "seed":
            with open(self.seed_file, "w") as f:
                f.write(os.urandom(24).hex() + "\n")
        elif secure:
            subprocess.run([os.path.join(self.bin, "dc-keygen"), "--keys", self.keys],
                           check=True, capture_output=True)
        self.procs = {}  # name -> Popen
        self.ports = {k: free_port() for k in ("redis", "broker", "jobs", "results")}
        self.redis_args = list(redis_args)
        self.counter = 0

    # -- processes ------------------------------------------------------------------
    def spawn(self, name, argv, env=None):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full_env)
        self.procs[name] = p
        return p

    def start_redis(self):
        port = self.ports["redis"]
        self.spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--dir", self.dir, "--loglevel", "warning"]
                   + (["--requirepass", self.redis_password] if self.redis_password else [])
                   + self.redis_args)
        self.r = redis.Redis(port=port, decode_responses=False, socket_timeout=2,
                             password=self.redis_password)
        wait_for("redis", lambda: self.r.ping())

    def ep(self, key, bind=False):
        return ("@tcp://127.0.0.1:%d" if bind else ">tcp://127.0.0.1:%d") % self.ports[key]

    def http_port(self, name):
        return self.ports.setdefault("http-" + name, free_port())

    def common(self, name):
        security = (["--key-seed-file", self.seed_file] if self.secure == "seed"
                    else ["--keys", self.keys] if self.secure else ["--insecure"])
        return ["--http", "127.0.0.1:%d" % self.http_port(name)] + security

    def curve_client(self, sock, server="broker", who="client"):
        """Makes a pyzmq socket a CURVE client with this rig's keys (before connect)."""
        import zmq.auth
        pub, sec = zmq.auth.load_certificate(os.path.join(self.keys, who + ".cert_secret"))
        server_pub, _ = zmq.auth.load_certificate(os.path.join(self.keys, server + ".cert"))
        sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = pub, sec, server_pub
        return sock

    def redis_auth(self):
        return ["--redis-password-file", self.password_file] if self.redis_password else []

    def start_broker(self, *extra):
        return self.spawn("broker", [os.path.join(self.bin, "dc-broker"), "--bind",
                                     self.ep("broker", True), "--redis",
                                     "127.0.0.1:%d" % self.ports["redis"]]
                          + self.redis_auth() + self.common("broker") + list(extra))

    def start_service(self, kind, name=None, delay_ms=100, *extra):
        name = name or self.next_name(kind)
        return self.spawn(name, [os.path.join(self.bin, "dc-" + kind), "--broker",
                                 self.ep("broker"), "--delay-ms", str(delay_ms)]
                          + self.common(name) + list(extra))

    def start_dispatcher(self, *extra):
        return self.spawn("dispatcher", [os.path.join(self.bin, "dc-dispatcher"), "--jobs",
                                         self.ep("jobs", True), "--results",
                                         self.ep("results", True), "--redis",
                                         "127.0.0.1:%d" % self.ports["redis"]]
                          + self.redis_auth() + self.common("dispatcher") + list(extra))

    def start_worker(self, name=None, delay_ms=100, *extra):
        name = name or self.next_name("worker")
        return self.spawn(name, [os.path.join(self.bin, "dc-worker"), "--broker",
                                 self.ep("broker"), "--jobs", self.ep("jobs"), "--results",
                                 self.ep("results"), "--delay-ms", str(delay_ms), "--id", name]
                          + self.common(name) + list(extra))

    def next_name(self, kind):
        self.counter += 1
        return "%s%d" % (kind, self.counter)

    def start_all(self, workers=1, rngs=1, hashers=1, delay_ms=100, worker_delay_ms=None,
                  dispatcher_args=(), broker_args=()):
        self.start_redis()
        self.start_broker(*broker_args)
        for _ in range(rngs):
            self.start_service("rng", None, delay_ms)
        for _ in range(hashers):
            self.start_service("hasher", None, delay_ms)
        self.start_dispatcher(*dispatcher_args)
        wd = delay_ms if worker_delay_ms is None else worker_delay_ms
        for _ in range(workers):
            self.start_worker(None, wd)

    def send(self, name, sig):
        self.procs[name].send_signal(sig)

    def stop(self, name, sig=signal.SIGTERM, timeout=5.0):
        """Stops one process; returns seconds it took to exit."""
        p = self.procs.pop(name)
        t0 = time.monotonic()
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"{name} did not exit within {timeout}s of {sig!r}")
        return time.monotonic() - t0

    def alive(self, name):
        return self.procs[name].poll() is None

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

    def sanitizer_reports(self):
        """Names of the logs where a sanitizer complained (sanitizer builds only)."""
        bad = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                text = open(os.path.join(self.dir, name), "rb").read().decode(errors="replace")
                if any(m in text for m in self.SANITIZER_MARKS):
                    bad.append(name)
        return bad

    def close(self):
        # SIGTERM first so that sanitizer builds run their exit checks
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for name in list(self.procs):
            p = self.procs.pop(name)
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        bad = self.sanitizer_reports()
        if bad:
            for name in bad:
                sys.stderr.write(f"--- sanitizer report in {name}\n{self.log(name[:-4])[-4000:]}\n")
            self.keep = True
            raise AssertionError(f"sanitizer reports in {bad}; logs kept in {self.dir}")
        if os.environ.get("DC_KEEP_LOGS") or getattr(self, "keep", False):
            print("logs kept in", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self, name):
        with open(os.path.join(self.dir, name + ".log"), "rb") as f:
            return f.read().decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            for name in sorted(os.listdir(self.dir)):
                if name.endswith(".log"):
                    tail = open(os.path.join(self.dir, name), "rb").read()[-1500:]
                    sys.stderr.write(f"--- {name} (tail)\n{tail.decode(errors='replace')}\n")
        self.close()

    # -- observations ---------------------------------------------------------------
    def stats(self, key):
        raw = self.r.hgetall("dc:stats:" + key)
        return {k.decode(): int(v) for k, v in raw.items()}

    def hashes(self):
        return int(self.r.get("hashes") or 0)

    def http(self, name, path):
        url = "http://127.0.0.1:%d%s" % (self.ports["http-" + name], path)
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name, metric):
        _, text = self.http(name, "/metrics")
        for line in text.splitlines():
            if line.startswith(metric + " ") or line.startswith(metric + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{metric} not in {name}'s /metrics")

    def rate(self, seconds):
        """Hashes per second counted by the dispatcher over about `seconds`, from two
        of its snapshots (each stamped with its own time)."""
        a = wait_for("a fresh dispatcher snapshot", lambda: self.fresh_books())
        time.sleep(seconds)  # measuring a rate over a window, not synchronising
        b = wait_for("a later dispatcher snapshot",
                     lambda: (lambda s: s if s.get("ts_ms", 0) > a["ts_ms"] else None)(
                         self.stats("dispatcher")))
        return (b["hashes"] - a["hashes"]) * 1000.0 / (b["ts_ms"] - a["ts_ms"])

    def fresh_books(self):
        s = self.stats("dispatcher")
        return s if s and time.time() * 1000 - s["ts_ms"] < 1500 else None

    def stop_and_check_books(self, wallet=True):
        """SIGTERMs the dispatcher, which must exit within a second, and checks its books:
        issued = counted + in flight, and Redis holds exactly its hashes (and, with
        wallet, exactly its coins, every one real). Returns the books."""
        took = self.stop("dispatcher")
        print(f"dispatcher exited {took * 1000:.0f} ms after SIGTERM")
        assert took < 1.0, f"dispatcher took {took:.2f}s to exit"
        books = self.stats("dispatcher")
        assert books["issued"] == books["counted"] + books["in_flight"], books
        assert self.hashes() == books["hashes"], ("Redis", self.hashes(), "books", books)
        if wallet:
            assert self.check_wallet() == books["coins"], books
        return books

    def check_wallet(self):
        """Every wallet entry is a real coin: SHA-256 of its bytes, starting with 0."""
        wallet = self.r.hgetall("wallet")
        for digest, data in wallet.items():
            assert hashlib.sha256(data).hexdigest() == digest.decode(), digest
            assert digest.startswith(b"0"), digest
        return len(wallet)
