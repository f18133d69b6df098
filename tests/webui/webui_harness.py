"""Shared helpers for the webui integration tests and the SSE load bench.

Every test starts its own redis-server on a free loopback port and its own
dc-webui (on port 0: the server logs the port it got), and tears both down
even when the test fails. Conditions are polled with deadlines; nothing
sleeps to synchronise.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

SKIP = 77


def wait_until(condition, timeout, what, interval=0.05):
    """Poll condition() until it returns a true value; fail after timeout s."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - keep polling, report the last
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f" (last error: {last_error!r})" if last_error else ""))


def sanitized(exe):
    """True for a binary built with -Db_sanitize (ASan/UBSan): 2-3x slower,
    so timing promises (exit < 1 s) get a wider bound there."""
    with open(exe, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__ubsan_handle" in data


def exit_bound(exe):
    """Seconds allowed from SIGTERM to exit: the promise is 1 s."""
    return 3.0 if sanitized(exe) else 1.0


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Redis:
    """A private redis-server on a free loopback port, no persistence."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="dc-webui-redis-")
        self.proc = None

    def start(self):
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._ping, 10, f"redis-server on port {self.port}")
        return self

    def _ping(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        return self.command("PING") == "PONG"

    def command(self, *args):
        """Send one command (RESP) and return the decoded reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            payload = f"*{len(args)}\r\n".encode()
            for arg in args:
                data = str(arg).encode()
                payload += b"$%d\r\n%s\r\n" % (len(data), data)
            sock.sendall(payload)
            return _read_reply(sock.makefile("rb"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"


def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ValueError(f"bad reply {line!r}")


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
        wait_until(self._listening, 15, "dc-webui to log its port")
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


def write_stats(redis, key, fields, ts_ms=None):
    """Write one dc:stats:* hash the way the pipeline does (10 s expiry)."""
    fields = dict(fields, ts_ms=ts_ms if ts_ms is not None else int(time.time() * 1000))
    args = []
    for name, value in fields.items():
        args += [name, value]
    redis.command("HSET", key, *args)
    redis.command("EXPIRE", key, 10)


def series_sample(redis, keep=600):
    """Append one dc:series sample (now, the hashes total) as the
    dispatcher does after each flush."""
    total = redis.command("GET", "hashes") or 0
    redis.command("RPUSH", "dc:series", f"{int(time.time() * 1000)}:{total}")
    redis.command("LTRIM", "dc:series", -keep, -1)


def write_series(redis, start_ms, rate, count, step_ms=1000):
    """Write `count` dc:series samples from start_ms, one per step, the
    total rising at `rate` hashes/s (a rig's past, as the dispatcher wrote
    it); sets `hashes` to the last total. Returns that total."""
    args, total = [], 0
    for i in range(count):
        total = int(rate * i * step_ms / 1000)
        args.append(f"{start_ms + i * step_ms}:{total}")
    redis.command("RPUSH", "dc:series", *args)
    redis.command("SET", "hashes", total)
    return total


class Feeder:
    """Plays the pipeline's part in Redis: INCRBY hashes and a dc:series
    sample once a second at `rate` hashes/s, plus the stats of 10 workers
    sharing one rng (or other given stats), until stopped."""

    def __init__(self, redis, rate=10, stats=None):
        self.redis = redis
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
                self.redis.command("INCRBY", "hashes", self.rate)
                coin += 1
                self.redis.command("HSET", "wallet", f"{coin:064x}", "00" * 32)
                series_sample(self.redis)
                for key, fields in self.stats.items():
                    write_stats(self.redis, key, fields)
            except Exception as error:  # noqa: BLE001 - redis may be stopped on purpose
                self.errors.append(error)
            self.stop_event.wait(1.0)  # the pipeline's own 1 s cadence, not a sync

    def stop(self):
        self.stop_event.set()
        self.thread.join(5)


def ten_workers_one_rng():
    """Stats as the real pipeline reports them in workshop mode with 10
    workers, one rng and one hasher process of 20 slots: rng saturated with
    a queue, hasher ~5 % busy."""
    return {
        "dc:stats:rng": dict(workers=1, processes=1, idle=0, busy_pct=100, queue=9,
                             queue_max=1000, served=1000, served_per_s=10, errors=0,
                             wait_p50_ms=800, wait_p99_ms=950, svc_p50_ms=100, svc_p99_ms=103),
        "dc:stats:hasher": dict(workers=20, processes=1, idle=19, busy_pct=5, queue=0,
                                queue_max=1000, served=1000, served_per_s=10, errors=0,
                                wait_p50_ms=0, wait_p99_ms=1, svc_p50_ms=100, svc_p99_ms=102),
        "dc:stats:broker": dict(requests=2000, replies=2000, drops=0, requeued=0,
                                expired_workers=0, cpu_pct=3),
        "dc:stats:dispatcher": dict(issued=1010, counted=1000, in_flight=10, reissued=0,
                                    duplicates=0, drops=0, hashes=1000, hashes_per_s=10,
                                    batch=1, window=256),
        "dc:stats:worker": dict(workers=10, jobs_per_s=10, loop_p50_ms=1000, loop_p99_ms=1100,
                                rng_p50_ms=850, hasher_p50_ms=100),
    }


class Pipeline:
    """The real mining pipeline on free loopback ports: broker, R rng, H
    hasher, dispatcher, N workers, all with their default (workshop) delays,
    or none with raw=True. Logs go to `logdir` (a new temporary directory
    unless given)."""

    def __init__(self, exes, redis_address, workers=10, rngs=1, hashers=1, raw=False,
                 logdir=None):
        self.exes = exes  # dict: broker, rng, hasher, dispatcher, worker
        self.redis = redis_address
        self.counts = dict(worker=workers, rng=rngs, hasher=hashers)
        self.raw = ["--raw"] if raw else []
        self.broker_port, self.jobs_port, self.results_port = (free_port() for _ in range(3))
        self.procs = []
        self.logdir = logdir or tempfile.mkdtemp(prefix="dc-webui-pipeline-")
        os.makedirs(self.logdir, exist_ok=True)
        # CURVE on every link, every key derived from one throwaway seed
        self.seed = os.path.join(self.logdir, "key.seed")
        with open(self.seed, "w") as f:
            f.write(os.urandom(24).hex() + "\n")

    def _spawn(self, name, args):
        log = open(os.path.join(self.logdir, f"{name}-{len(self.procs)}.log"), "w")
        proc = subprocess.Popen([self.exes[name], *args, "--key-seed-file", self.seed],
                                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append((name, proc))
        return proc

    def start(self):
        broker = f"tcp://127.0.0.1:{self.broker_port}"
        jobs = f"tcp://127.0.0.1:{self.jobs_port}"
        results = f"tcp://127.0.0.1:{self.results_port}"
        self._spawn("broker", ["--bind", "@" + broker, "--redis", self.redis])
        self._spawn("dispatcher", ["--jobs", "@" + jobs, "--results", "@" + results,
                                   "--redis", self.redis])
        for _ in range(self.counts["rng"]):
            self.add_service("rng")
        for _ in range(self.counts["hasher"]):
            self.add_service("hasher")
        for _ in range(self.counts["worker"]):
            self.add_worker()
        return self

    def add_service(self, name):
        """One more rng or hasher process, as `scale rng=2` does."""
        self._spawn(name, ["--broker", f">tcp://127.0.0.1:{self.broker_port}", *self.raw])

    def add_worker(self):
        self._spawn("worker", ["--broker", f">tcp://127.0.0.1:{self.broker_port}",
                               "--jobs", f">tcp://127.0.0.1:{self.jobs_port}",
                               "--results", f">tcp://127.0.0.1:{self.results_port}",
                               *self.raw])

    def stop_role(self, name):
        """SIGTERM every process of one role (e.g. the dispatcher) and wait."""
        for role, proc in self.procs:
            if role == name and proc.poll() is None:
                proc.terminate()
                proc.wait(5)
        self.procs = [(role, proc) for role, proc in self.procs if role != name]

    def check_alive(self):
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}; logs in "
                                     f"{self.logdir}")

    def stop(self):
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []
