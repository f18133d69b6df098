"""dcrig: the one harness of the Python suites (pipeline, webui, k8s) and the benches.

It starts a real redis-server, the real pipeline binaries and dc-webui on free loopback
ports; everything it starts is stopped by close(), also when a test fails (use Rig as a
context manager). Redis is reached through redis-py only. Conditions are polled with
deadlines (wait_for); nothing sleeps to synchronise. Time bounds promised by the binaries
(exit within 1 s of SIGTERM) are widened for sanitizer builds (exit_bound).

Also here: the webui's pieces (Webui, SseClient, http_get, raw_request), a Feeder that
plays the pipeline's part in Redis for the webui tests, what the benches read of a
process in /proc (proc_cpu, rss_kib), and raise_nofile for the many-socket runs.

Run with Debian's /usr/bin/python3 (python3-redis, python3-zmq)."""

import contextlib
import functools
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import redis

SKIP = 77  # meson: the test was skipped


_PORTS_GIVEN = set()  # every port free_port handed out in this process


def free_port():
    """A loopback TCP port free now and not handed out before by this process: a port is
    only taken when its server binds it, so the kernel may offer the same free port twice
    meanwhile (an rng and a hasher once got the same --http port; the rng exited and the
    test waited for it)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


class Checks:
    """A test's checks: check(cond, what) asserts and counts; check.until(what, cond)
    polls cond like wait_for and counts once it holds; .passed is the count."""

    def __init__(self):
        self.passed = 0

    def __call__(self, cond, what):
        assert cond, what
        self.passed += 1

    def until(self, what, cond, timeout=20.0):
        got = wait_for(what, cond, timeout)
        self.passed += 1
        return got


def wait_for(what, cond, timeout=20.0, interval=0.05):
    """Polls cond() until it returns a true value or the deadline passes; an exception
    (a server still starting refuses connections) counts as not yet."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as e:  # noqa: BLE001 - keep polling, report the last
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@functools.lru_cache(maxsize=None)
def sanitized(exe):
    """True for a binary built with -Db_sanitize (ASan, UBSan, TSan): 2-3x slower."""
    with open(exe, "rb") as f:
        data = f.read()
    return any(m in data for m in (b"__asan_init", b"__ubsan_handle", b"__tsan_init"))


def exit_bound(exe):
    """Seconds allowed from SIGTERM to exit for this binary: the promise is 1 s; a
    sanitizer build (its exit checks walk the heap) gets 3 s."""
    return 3.0 if sanitized(exe) else 1.0


def end_process(proc, grace):
    """SIGTERM proc if it still runs, then SIGKILL after grace seconds; reaps it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def proc_cpu(pid):
    """(user, system) CPU seconds a process has used so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def rss_kib(pid):
    """A process's resident memory in KiB (VmRSS of /proc/PID/status; 0 if none)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_nofile(want):
    """Raises this process's soft RLIMIT_NOFILE to want (at most the hard limit); returns
    the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def bindir():
    d = os.environ.get("DC_BIN")
    if not d:
        sys.exit("DC_BIN must name the directory holding dc-broker etc.")
    return d


def redis_argv(port, workdir, password=None, extra=()):
    """A private redis-server on 127.0.0.1:port, no snapshots, data in workdir."""
    return (["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--dir", workdir, "--loglevel", "warning"]
            + (["--requirepass", password] if password else []) + list(extra))


class RedisServer:
    """A redis-server of its own (for the webui tests): start(), stop() (the data is
    lost: no persistence), start() again on the same port, close(). .r is a redis-py
    client that decodes replies to str."""

    def __init__(self, port=None, password=None):
        self.port = port or free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="dc-redis-")
        self.proc = None
        self.r = redis.Redis(port=self.port, password=password, decode_responses=True,
                             socket_timeout=2)

    def start(self):
        self.proc = subprocess.Popen(redis_argv(self.port, self.dir, self.password),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(f"redis-server on port {self.port}", self._ping, timeout=10)
        return self

    def _ping(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        return self.r.ping()

    def stop(self):
        end_process(self.proc, 5)
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"


class Rig:
    """The pipeline on loopback: its own redis-server (start_redis) or, with redis=
    HOST:PORT, one started elsewhere. secure: True (a key directory from dc-keygen),
    "seed" (every key from one seed file) or False (--insecure). Logs go to workdir (a
    temporary directory removed by close() unless given, DC_KEEP_LOGS is set or a test
    failed)."""

    def __init__(self, workdir=None, redis_args=(), secure=True, redis_password=None,
                 bin=None, redis=None):
        self.bin = bin or bindir()
        self.keep = workdir is not None
        self.dir = workdir or tempfile.mkdtemp(prefix="dcrig-")
        os.makedirs(self.dir, exist_ok=True)
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
        self.kinds = {}  # name -> what it runs: broker, rng, hasher, dispatcher, worker...
        self.ports = {k: free_port() for k in ("redis", "broker", "jobs", "results")}
        self.redis_args = list(redis_args)
        self.redis_address = redis or "127.0.0.1:%d" % self.ports["redis"]
        if redis:
            host, port = redis.rsplit(":", 1)
            self.r = self.redis_client(host, int(port))
        self.counter = 0
        self.exit_bound = exit_bound(os.path.join(self.bin, "dc-dispatcher"))

    # -- processes ------------------------------------------------------------------
    def spawn(self, name, argv, env=None, kind=None):
        with open(os.path.join(self.dir, name + ".log"), "ab") as log:
            full_env = dict(os.environ)
            full_env.update(env or {})
            p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full_env)
        self.procs[name] = p
        self.kinds[name] = kind or name
        return p

    def redis_client(self, host="127.0.0.1", port=None):
        return redis.Redis(host=host, port=port or self.ports["redis"], decode_responses=False,
                           socket_timeout=2, password=self.redis_password)

    def start_redis(self):
        self.spawn("redis", redis_argv(self.ports["redis"], self.dir, self.redis_password,
                                       self.redis_args))
        self.r = self.redis_client()
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

    @staticmethod
    def delay(delay_ms):
        """--delay-ms, or nothing for None (the binary's workshop default)."""
        return [] if delay_ms is None else ["--delay-ms", str(delay_ms)]

    def start_broker(self, *extra):
        return self.spawn("broker", [os.path.join(self.bin, "dc-broker"), "--bind",
                                     self.ep("broker", True), "--redis", self.redis_address]
                          + self.redis_auth() + self.common("broker") + list(extra))

    def start_service(self, kind, name=None, delay_ms=100, *extra):
        name = name or self.next_name(kind)
        return self.spawn(name, [os.path.join(self.bin, "dc-" + kind), "--broker",
                                 self.ep("broker")] + self.delay(delay_ms)
                          + self.common(name) + list(extra), kind=kind)

    def start_dispatcher(self, *extra):
        return self.spawn("dispatcher", [os.path.join(self.bin, "dc-dispatcher"), "--jobs",
                                         self.ep("jobs", True), "--results",
                                         self.ep("results", True), "--redis",
                                         self.redis_address]
                          + self.redis_auth() + self.common("dispatcher") + list(extra))

    def start_worker(self, name=None, delay_ms=100, *extra):
        name = name or self.next_name("worker")
        return self.spawn(name, [os.path.join(self.bin, "dc-worker"), "--broker",
                                 self.ep("broker"), "--jobs", self.ep("jobs"), "--results",
                                 self.ep("results")] + self.delay(delay_ms) + ["--id", name]
                          + self.common(name) + list(extra), kind="worker")

    def next_name(self, kind):
        self.counter += 1
        return "%s%d" % (kind, self.counter)

    def start_all(self, workers=1, rngs=1, hashers=1, delay_ms=100, worker_delay_ms=None,
                  dispatcher_args=(), broker_args=()):
        """Redis, then the pipeline (start_pipeline)."""
        self.start_redis()
        self.start_pipeline(workers, rngs, hashers, delay_ms, worker_delay_ms,
                            dispatcher_args, broker_args)

    def start_pipeline(self, workers=1, rngs=1, hashers=1, delay_ms=100, worker_delay_ms=None,
                       dispatcher_args=(), broker_args=(), raw=False):
        """Broker, rng, hasher, dispatcher, workers, in that order (named broker, rng1,
        hasher2, dispatcher, worker3...). delay_ms=None: the binaries' workshop delays;
        raw=True: no delays at all (--raw)."""
        extra = ["--raw"] if raw else []
        self.start_broker(*broker_args)
        for _ in range(rngs):
            self.start_service("rng", None, delay_ms, *extra)
        for _ in range(hashers):
            self.start_service("hasher", None, delay_ms, *extra)
        self.start_dispatcher(*dispatcher_args)
        wd = delay_ms if worker_delay_ms is None else worker_delay_ms
        for _ in range(workers):
            self.start_worker(None, wd, *extra)

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

    def stop_kind(self, kind, timeout=5.0):
        """Stops every process of one kind (e.g. all workers)."""
        for name in [n for n in self.procs if self.kinds.get(n) == kind]:
            self.stop(name, timeout=timeout)

    def alive(self, name):
        return self.procs[name].poll() is None

    def check_alive(self):
        """Raises if a process the rig started has exited."""
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise AssertionError(f"{name} exited with {p.returncode}; logs in {self.dir}")
        return True

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
        if os.environ.get("DC_KEEP_LOGS") or self.keep:
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
        """(status, body text) of GET path on a process's --http listener."""
        url = "http://127.0.0.1:%d%s" % (self.ports["http-" + name], path)
        status, _, body = http_get(url, timeout=2)
        return status, body.decode()

    def metric(self, name, metric):
        _, text = self.http(name, "/metrics")
        for line in text.splitlines():
            if line.startswith(metric + " ") or line.startswith(metric + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{metric} not in {name}'s /metrics")

    def metric_sum(self, name, metric, label=""):
        """The sum of the samples of a labelled family whose labels hold `label` (e.g.
        'message="job"'; 0 when there are none yet); the family must be declared (its
        # TYPE line), so a misspelt name fails."""
        _, text = self.http(name, "/metrics")
        if f"# TYPE {metric} " not in text:
            raise AssertionError(f"{metric} not in {name}'s /metrics")
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if (line.startswith(metric + " ") or line.startswith(metric + "{"))
                   and label in line.rsplit(" ", 1)[0])

    def rate(self, seconds, since_ms=0):
        """Hashes per second counted by the dispatcher over about `seconds`, from two
        of its snapshots (each stamped with its own time), the first taken at since_ms
        (Redis clock, ms) or later."""
        a = wait_for("a fresh dispatcher snapshot",
                     lambda: (lambda s: s if s and s["ts_ms"] >= since_ms else None)(
                         self.fresh_books()), timeout=10)
        time.sleep(seconds)  # measuring a rate over a window, not synchronising
        b = wait_for("a later dispatcher snapshot",
                     lambda: (lambda s: s if s.get("ts_ms", 0) > a["ts_ms"] else None)(
                         self.stats("dispatcher")))
        return (b["hashes"] - a["hashes"]) * 1000.0 / (b["ts_ms"] - a["ts_ms"])

    def fresh_books(self):
        s = self.stats("dispatcher")
        return s if s and time.time() * 1000 - s["ts_ms"] < 1500 else None

    def stop_and_check_books(self, wallet=True):
        """SIGTERMs the dispatcher, which must exit within a second (exit_bound), and
        checks its books: issued = counted + in flight, and Redis holds exactly its hashes
        (and, with wallet, exactly its coins, every one real). Returns the books."""
        took = self.stop("dispatcher")
        print(f"dispatcher exited {took * 1000:.0f} ms after SIGTERM")
        assert took < self.exit_bound, f"dispatcher took {took:.2f}s to exit"
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


# -- the web UI ---------------------------------------------------------------------
class Webui:
    """dc-webui on an ephemeral loopback port; output kept for diagnosis."""

    LISTEN = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")

    def __init__(self, exe, redis_address, extra=(), env=None):
        self.exe = exe
        self.args = [exe, "--port", "127.0.0.1:0", "--redis", redis_address, *extra]
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.output = []
        self._reader = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=self.env, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for("dc-webui to log its port", self._listening, timeout=15)
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"dc-webui exited with {self.proc.returncode}:\n"
                                 + "\n".join(self.output))
        for line in self.output:
            match = self.LISTEN.search(line)
            if match:
                self.port = int(match.group(1))
                return True
        return False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout=5):
        """SIGTERM; returns (exit code, seconds taken)."""
        if not self.proc or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None), 0.0
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        elapsed = time.monotonic() - start
        if self._reader:
            self._reader.join(2)
        self.proc.stdout.close()
        return code, elapsed

    def log(self):
        return "\n".join(self.output)


def http_get(url, method="GET", headers=None, timeout=5):
    """(status, headers dict lower-cased, body bytes); 4xx/5xx do not raise."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, \
                response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def raw_request(port, data, timeout=5):
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        with contextlib.suppress(socket.timeout, ConnectionResetError):
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)


class SseClient:
    """A minimal blocking SSE reader over a raw socket (what a browser's
    EventSource does): parses retry, event, id and data fields."""

    def __init__(self, port, path="/events", timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        self.file = self.sock.makefile("rb")
        status = self.file.readline().decode()
        self.status = int(status.split()[1])
        self.headers = {}
        while True:
            line = self.file.readline().decode().rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.retry = None

    def next_event(self):
        """(event type, id, data, arrival time) of the next event; None at EOF."""
        kind, event_id, data = "message", None, []
        while True:
            raw = self.file.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\n")
            if line == "":
                if data:
                    return kind, event_id, "\n".join(data), time.time()
                kind, event_id = "message", None
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "retry":
                self.retry = int(value)
            elif field == "event":
                kind = value
            elif field == "id":
                event_id = value
            elif field == "data":
                data.append(value)

    def next_snapshot(self):
        while True:
            event = self.next_event()
            if event is None:
                return None
            if event[0] == "message":
                return int(event[1]), json.loads(event[2]), event[3]

    def close(self):
        with contextlib.suppress(OSError):
            self.file.close()
            self.sock.close()


def write_stats(r, key, fields, ts_ms=None):
    """Write one dc:stats:* hash the way the pipeline does (10 s expiry); r is a
    redis-py client."""
    fields = dict(fields, ts_ms=ts_ms if ts_ms is not None else int(time.time() * 1000))
    r.hset(key, mapping=fields)
    r.expire(key, 10)


def series_sample(r, keep=600):
    """Append one dc:series sample (now, the hashes total) as the
    dispatcher does after each flush."""
    total = r.get("hashes") or 0
    r.rpush("dc:series", f"{int(time.time() * 1000)}:{total}")
    r.ltrim("dc:series", -keep, -1)


def write_series(r, start_ms, rate, count, step_ms=1000):
    """Write `count` dc:series samples from start_ms, one per step, the
    total rising at `rate` hashes/s (a rig's past, as the dispatcher wrote
    it); sets `hashes` to the last total. Returns that total."""
    samples, total = [], 0
    for i in range(count):
        total = int(rate * i * step_ms / 1000)
        samples.append(f"{start_ms + i * step_ms}:{total}")
    r.rpush("dc:series", *samples)
    r.set("hashes", total)
    return total


class Feeder:
    """Plays the pipeline's part in Redis: INCRBY hashes and a dc:series
    sample once a second at `rate` hashes/s, plus the stats of 10 workers
    sharing one rng (or other given stats), until stopped."""

    def __init__(self, r, rate=10, stats=None):
        self.r = r  # a redis-py client
        self.rate = rate
        self.stats = stats or ten_workers_one_rng()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.errors = []

    def start(self):
        self.thread.start()
        return self

    def _advance(self):
        """Move the stats' counters on by one second at `rate`, as a rig
        mining at that speed would (rng and hasher serve one request per
        hash, the broker sees both)."""
        for key, field, per_hash in (("dc:stats:rng", "served", 1),
                                     ("dc:stats:hasher", "served", 1),
                                     ("dc:stats:broker", "requests", 2),
                                     ("dc:stats:dispatcher", "counted", 1),
                                     ("dc:stats:dispatcher", "hashes", 1)):
            fields = self.stats.get(key)
            if fields is not None and field in fields:
                fields[field] += per_hash * self.rate

    def _run(self):
        coin = 0
        while not self.stop_event.is_set():
            try:
                self._advance()
                self.r.incrby("hashes", self.rate)
                coin += 1
                self.r.hset("wallet", f"{coin:064x}", "00" * 32)
                series_sample(self.r)
                for key, fields in self.stats.items():
                    write_stats(self.r, key, fields)
            except Exception as error:  # noqa: BLE001 - redis may be stopped on purpose
                self.errors.append(error)
            self.stop_event.wait(1.0)  # the pipeline's own 1 s cadence, not a sync

    def stop(self):
        self.stop_event.set()
        self.thread.join(5)


STATS_HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto",
                            "dc_stats.h")


def stats_schema(header=STATS_HEADER):
    """The dc:stats:* schema as proto/dc_stats.h defines it, the one source the writers
    and the reader compile from: {key: [field, ...]} in the header's order. Service
    hashes (written per service) are under "dc:stats:<service>"."""
    text = open(header, encoding="utf-8").read()
    names = dict(re.findall(r'#define (DC_STATS_\w+) "([^"]*)"', text))
    prefix = names["DC_STATS_KEY_PREFIX"]
    for macro, suffix in re.findall(r'#define (DC_STATS_KEY_\w+) DC_STATS_KEY_PREFIX "(\w+)"',
                                     text):
        names[macro] = prefix + suffix
    schema = {}
    for hash_name, body in re.findall(r"#define DC_STATS_(\w+)_FIELDS\(F, L\)((?:[^\n]*\\\n)*[^\n]*)",
                                      text):
        fields = []
        for kind, macro in re.findall(r"\b([FL])\((DC_STATS_\w+)\)", body):
            fields += [names[macro]] if kind == "F" else [names[macro] + "_ms",
                                                           names[macro] + "_us"]
        key = names.get("DC_STATS_KEY_" + hash_name, prefix + "<service>")
        schema[key] = fields
    return schema


def complete_stats(key, values, schema=None):
    """A whole stats hash for key: every field of the schema, 0 unless given in values.
    A value for a field the schema does not list is an error (a renamed field breaks
    the fixture instead of going unread)."""
    schema = schema or stats_schema()
    fields = schema[key if key in schema else STATS_PREFIX + "<service>"]
    unknown = set(values) - set(fields)
    if unknown:
        raise KeyError(f"{key}: not in proto/dc_stats.h: {sorted(unknown)}")
    return {field: values.get(field, 0) for field in fields if field != "ts_ms"}


STATS_PREFIX = "dc:stats:"


def ten_workers_one_rng():
    """Stats as the real pipeline reports them in workshop mode with 10
    workers, one rng and one hasher instance of 20 slots: rng saturated with
    a queue, hasher ~5 % busy. Every field of proto/dc_stats.h is there."""
    return {key: complete_stats(key, values) for key, values in {
        "dc:stats:rng": dict(slots=1, instances=1, idle=0, busy_pct=100, queue=9,
                             queue_max=1000, served=1000, served_per_s=10, errors=0,
                             wait_p50_ms=800, wait_p99_ms=950, svc_p50_ms=100, svc_p99_ms=103,
                             wait_p50_us=800000, wait_p99_us=950000, svc_p50_us=100000,
                             svc_p99_us=103000),
        "dc:stats:hasher": dict(slots=20, instances=1, idle=19, busy_pct=5, queue=0,
                                queue_max=1000, served=1000, served_per_s=10, errors=0,
                                wait_p50_ms=0, wait_p99_ms=1, svc_p50_ms=100, svc_p99_ms=102,
                                wait_p50_us=200, wait_p99_us=1000, svc_p50_us=100000,
                                svc_p99_us=102000),
        "dc:stats:broker": dict(requests=2000, replies=2000, drops=0, requeued=0,
                                expired_slots=0, cpu_pct=3),
        "dc:stats:dispatcher": dict(issued=1010, counted=1000, in_flight=10, reissued=0,
                                    duplicates=0, drops=0, hashes=1000, hashes_per_s=10,
                                    batch=1, window=256),
        "dc:stats:worker": dict(workers=10, jobs_per_s=10, loop_p50_ms=1000, loop_p99_ms=1100,
                                rng_p50_ms=850, hasher_p50_ms=100, loop_p50_us=1000000,
                                loop_p99_us=1100000, rng_p50_us=850000, hasher_p50_us=100000),
    }.items()}


def sse_snapshot(port, cond, timeout):
    """The first SSE snapshot from dc-webui for which cond(snapshot) holds, within timeout
    seconds in all (a live stream never ends by itself: the deadline is checked on every
    line); else AssertionError with the last snapshot seen."""
    deadline = time.monotonic() + timeout
    snap = None
    with urllib.request.urlopen("http://127.0.0.1:%d/events" % port, timeout=timeout) as r:
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: {") and '"ts_ms"' in line:
                snap = json.loads(line[6:])
                if cond(snap):
                    return snap
            if time.monotonic() > deadline:
                raise AssertionError(f"no snapshot met the condition in {timeout} s; "
                                     f"the last: {snap}")
    raise AssertionError(f"the stream ended; the last snapshot: {snap}")
