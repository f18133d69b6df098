"""run-local as its users drive it: start, scale while it runs (the dispatcher and the
page see it), a killed process restarted with its cause, a second copy refused, bad
arguments and a taken port refused with the cause, Ctrl-C losing no count (a Redis
recount from the append-only file after the stop), a second start on the same run
directory finding the counts, `./run-local stop`, and a raw, batched, --insecure rig
stopped by SIGTERM.

Real binaries (DC_BIN, from meson), real redis-server, the real run-local script; a
temporary run directory and free ports, never the repo's .run/ nor 5555/8000.
Run with Debian's /usr/bin/python3."""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis

from dcrig import bindir, free_port, http_get, sse_snapshot, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
RUN_LOCAL = os.path.join(ROOT, "run-local")
TMP = tempfile.mkdtemp(prefix="dc-run-local-")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("DC_")}
ENV["DC_BIN"] = bindir()
checks = 0


def passed(what):
    global checks
    checks += 1
    print("ok", checks, what, flush=True)


def port_is_free(port, host="127.0.0.1"):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(1)
            return True
        except OSError:
            return False


def free_base():
    """A base port whose plan (the ports these tests use) is free, below the kernel's
    ephemeral range so that no client socket takes one meanwhile."""
    for _ in range(200):
        base = random.randrange(20000, 31000, 10)
        used = list(range(base, base + 6)) + [base + 10, base + 11, base + 50] + \
            list(range(base + 100, base + 105))
        if all(port_is_free(p) for p in used):
            return base
    raise AssertionError("no free base port found")


def processes_of(run_dir):
    """Pids of processes whose command line names run_dir (keys, redis dir, run-local)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                words = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if any(run_dir.encode() in w for w in words):
            found.append(int(pid))
    return found


def run(*args, timeout=60):
    return subprocess.run([RUN_LOCAL] + list(args), env=ENV, capture_output=True, text=True,
                          timeout=timeout)


class RunLocal:
    """One supervisor started as a background process (own session: SIGINT is ours to
    send), its output collected line by line."""

    def __init__(self, run_dir, base, web, *args):
        self.run_dir, self.base, self.web = run_dir, base, web
        self.flags = ["--run-dir", run_dir]
        # SIGINT ignored, as bash leaves it for a job started with & from a script
        self.p = subprocess.Popen([RUN_LOCAL, "--no-install", "--base-port", str(base),
                                   "--web-port", str(web)] + self.flags + list(args),
                                  env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, start_new_session=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.r = redis.Redis(port=base + 3, socket_timeout=2)

    def _read(self):
        for line in self.p.stdout:
            sys.stdout.write("  | " + line)
            self.lines.append(line.rstrip("\n"))

    def output(self):
        return "\n".join(self.lines)

    def wait_line(self, pattern, timeout=30, after=0):
        """Index of the first output line from `after` on that matches; fails early if
        run-local exits."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            exited = self.p.poll() is not None
            if exited:
                self.reader.join(2)
            for i in range(after, len(self.lines)):
                if rx.search(self.lines[i]):
                    return i
            if exited:
                raise AssertionError(f"run-local exited ({self.p.returncode}) before printing "
                                     f"/{pattern}/")
            if time.monotonic() > deadline:
                raise AssertionError(f"run-local did not print /{pattern}/ within {timeout} s")
            time.sleep(0.05)

    def ctl(self, *words, timeout=60):
        return run(*(list(words) + self.flags), timeout=timeout)

    def status(self):
        """{role: [pids]} from `./run-local status`."""
        done = self.ctl("status")
        assert done.returncode == 0, done.stderr
        roles = {}
        for line in done.stdout.splitlines():
            m = re.match(r"^(redis|broker|rng|hasher|dispatcher|worker|webui)\s+(\d+)\s*(.*)$",
                         line)
            if m:
                roles[m.group(1)] = [int(x.split("(")[0]) for x in m.group(3).split()]
                assert len(roles[m.group(1)]) == int(m.group(2)), line
        return roles

    def stats(self, key):
        return {k.decode(): int(v) for k, v in self.r.hgetall("dc:stats:" + key).items()}

    def hashes(self):
        return int(self.r.get("hashes") or 0)

    def page_instances(self, stage):
        """The web UI's own count of a stage's instances, from one /events snapshot."""
        snap = sse_snapshot(self.web, lambda s: "stages" in s, 3)
        return next((st["instances"] for st in snap["stages"] if st["name"] == stage), None)

    def kill(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()


def http_status(port, path):
    return http_get(f"http://127.0.0.1:{port}{path}", timeout=2)[0]


def main():
    run_dir = os.path.join(TMP, "run")
    base, web = free_base(), free_port()
    rig = RunLocal(run_dir, base, web, "--workers", "1")
    try:
        part_start(rig)
        part_scale(rig)
        part_restart(rig)
        part_second_copy(rig)
        part_ctrl_c(rig)
        part_restart_keeps_counts(run_dir, base, web)
        part_bad_arguments()
    finally:
        rig.kill()
        for pid in processes_of(TMP):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(TMP, ignore_errors=True)
    print(f"{checks} passed, 0 failed")


# 1. start: "running" only once every process answers /readyz; hashes increase ---------
def part_start(rig):
    rig.wait_line(r"dockercoins is running", timeout=60)
    # at once, before anything had time to settle: every process is already ready
    b = rig.base
    for name, port in (("broker", b + 4), ("dispatcher", b + 5), ("rng1", b + 10),
                       ("hasher1", b + 50), ("worker1", b + 100), ("webui", rig.web)):
        assert http_status(port, "/readyz") == 200, f"{name} not ready when 'running' printed"
    passed("'dockercoins is running' printed with every /readyz answering 200")
    assert rig.r.config_get("appendonly")["appendonly"] == "yes"
    assert rig.r.config_get("dir")["dir"] == os.path.join(rig.run_dir, "redis")
    passed("Redis runs with the append-only file in RUN_DIR/redis")
    h0 = wait_for("first hashes", lambda: rig.hashes() >= 2, timeout=20) and rig.hashes()
    wait_for("hashes to increase", lambda: rig.hashes() > h0, timeout=10)
    wait_for("one worker in the dispatcher's stats",
             lambda: rig.stats("worker").get("workers") == 1, timeout=10)
    passed(f"hashes increase (>{h0}) with 1 worker")


# 2. scale up and down while it runs ---------------------------------------------------------
def part_scale(rig):
    before = rig.status()
    done = rig.ctl("scale", "worker=4")
    t0 = time.monotonic()
    assert done.returncode == 0, done.stderr
    assert "worker 1 -> 4" in done.stdout, done.stdout
    wait_for("4 workers in dc:stats:worker", lambda: rig.stats("worker").get("workers") == 4,
             timeout=5)
    t_books = time.monotonic() - t0
    wait_for("4 workers on the page", lambda: rig.page_instances("worker") == 4,
             timeout=max(0.5, 5 - t_books))
    print(f"scale worker=4: dispatcher saw it {t_books:.1f} s, the page "
          f"{time.monotonic() - t0:.1f} s after the command returned")
    rig.wait_line(r"scale: worker 1 -> 4")
    passed("scale worker=4: dispatcher and page see 4 workers within 5 s")

    after = rig.status()
    assert len(after["worker"]) == 4 and after["worker"][0] == before["worker"][0], after
    done = rig.ctl("scale", "workers=1")
    assert done.returncode == 0 and "worker 4 -> 1" in done.stdout, done
    assert rig.status()["worker"] == before["worker"], "scaling down must stop the newest"
    for pid in after["worker"][1:]:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    # the dispatcher forgets a worker after 5 s of silence
    wait_for("1 worker in dc:stats:worker", lambda: rig.stats("worker").get("workers") == 1,
             timeout=12)
    wait_for("1 worker on the page", lambda: rig.page_instances("worker") == 1, timeout=5)
    passed("scale workers=1 stops the 3 newest; dispatcher and page see 1")

    done = rig.ctl("scale", "rng=2")
    t0 = time.monotonic()
    assert done.returncode == 0 and "rng 1 -> 2" in done.stdout, done
    wait_for("2 rng in dc:stats:rng", lambda: rig.stats("rng").get("slots", 0) >= 2
             and rig.stats("rng").get("instances") == 2, timeout=5)
    wait_for("2 rng on the page", lambda: rig.page_instances("rng") >= 2,
             timeout=max(0.5, 5 - (time.monotonic() - t0)))
    passed("scale rng=2: broker stats and page see 2 rng within 5 s")

    for words, rc, cause in ((["worker=x"], 2, "whole number"), (["rng=0"], 2, "nothing"),
                             (["cpu=3"], 2, "ROLE=N"), ([], 2, "ROLE=N"),
                             (["worker=401"], 2, "from 0 to 400")):
        done = rig.ctl("scale", *words)
        assert done.returncode == rc and cause in done.stderr, (words, done)
    assert len(rig.status()["worker"]) == 1
    passed("scale refuses bad arguments with the cause (exit 2), the rig unchanged")


# 3. a killed process is restarted, and run-local says so with the cause ---------------------
def part_restart(rig):
    old = rig.status()["worker"][0]
    mark = len(rig.lines)
    os.kill(old, signal.SIGKILL)
    i = rig.wait_line(rf"worker1 \(pid {old}\) was killed by SIGKILL.*restarting in", after=mark,
                      timeout=10)
    assert "Last lines of" in rig.lines[i] and "worker" in rig.lines[i + 1], rig.lines[i:i + 3]
    j = rig.wait_line(r"worker1 restarted \(pid (\d+)\)", after=i, timeout=10)
    new = int(re.search(r"pid (\d+)", rig.lines[j]).group(1))
    assert new != old
    wait_for("the new worker1 in status", lambda: rig.status()["worker"] == [new], timeout=10)
    h = rig.hashes()
    wait_for("hashes after the restart", lambda: rig.hashes() > h + 2, timeout=15)
    passed(f"kill -9 worker1 ({old}): restarted as {new} with its log tail printed; mining goes on")


# 4. a second copy is refused and leaves the first one's logs alone ------------------------
def part_second_copy(rig):
    logs = os.path.join(rig.run_dir, "logs")
    sizes = {n: os.path.getsize(os.path.join(logs, n)) for n in os.listdir(logs)}
    supervisor = rig.p.pid
    # same run dir, other ports: the lock refuses it
    done = run("--no-install", "--run-dir", rig.run_dir, "--base-port", str(free_base()),
               "--web-port", str(free_port()))
    assert done.returncode == 1, done
    assert f"pid {supervisor}" in done.stderr and "./run-local stop" in done.stderr, done.stderr
    # another run dir, same ports: the port check refuses it and names the rig
    other = os.path.join(TMP, "other")
    done = run("--no-install", "--run-dir", other, "--base-port", str(rig.base),
               "--web-port", str(rig.web))
    assert done.returncode == 1, done
    assert f"port {rig.base} " in done.stderr and f"pid {supervisor}" in done.stderr, done.stderr
    assert not processes_of(other), "a refused copy must start nothing"
    for name, size in sizes.items():
        path = os.path.join(logs, name)
        assert os.path.getsize(path) >= size, f"{name} shrank"
        with open(path) as f:
            assert f.readline().startswith("=== run-local:"), f"{name} was rewritten"
    assert rig.ctl("status").returncode == 0
    passed("a second copy (same run dir, or same ports) is refused naming the running pid; "
           "the first copy's logs are intact")


# 5. Ctrl-C: stop order, Redis last, no count lost ---------------------------------------
def part_ctrl_c(rig):
    wait_for("several hashes", lambda: rig.hashes() >= 10, timeout=30)
    i = rig.wait_line(r"^\d\d:\d\d:\d\d  hashes \d+  \(\+\d+\.\d/s\)  coins \d+", timeout=10)
    passed(f"a speed line every 5 s: {rig.lines[i]!r}")
    published = rig.stats("dispatcher")["hashes"]
    pids = [p for ps in rig.status().values() for p in ps]
    mark = len(rig.lines)
    t0 = time.monotonic()
    os.kill(rig.p.pid, signal.SIGINT)
    rc = rig.p.wait(30)
    rig.reader.join(5)
    print(f"run-local exited {rc} {time.monotonic() - t0:.2f} s after SIGINT")
    assert rc == 0, rig.output()
    out = rig.lines[mark:]
    order = [next(i for i, l in enumerate(out) if l.strip().startswith(g + ":"))
             for g in ("worker", "rng/hasher", "dispatcher", "broker", "webui", "redis")]
    assert order == sorted(order), out
    assert any(re.match(r"All stopped in \d+ ms", l) for l in out), out
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), f"pid {pid} still there after the stop"
    assert not processes_of(rig.run_dir)
    assert not os.path.exists(os.path.join(rig.run_dir, "control.sock"))
    passed("SIGINT to a background run-local stops everything in order, exit 0")

    logs = os.path.join(rig.run_dir, "logs")
    with open(os.path.join(logs, "dispatcher.log")) as f:
        books = [l for l in f if "dispatcher: books:" in l]
    logged = int(re.search(r"\((\d+) hashes, (\d+) coins", books[-1]).group(1))
    coins = int(re.search(r"\((\d+) hashes, (\d+) coins", books[-1]).group(2))
    with open(os.path.join(logs, "redis.log")) as f:
        redis_log = f.read()
    assert "Received SIGTERM" in redis_log and "ready to exit" in redis_log, redis_log[-800:]
    t_disp = books[-1].split()[3]  # "I: (dc-dispatcher) YY-MM-DD HH:MM:SS ..."
    t_redis = re.search(r"Received SIGTERM.*\n.*? (\d\d:\d\d:\d\d)\.\d+ #", redis_log).group(1)
    assert t_disp <= t_redis, (t_disp, t_redis)

    port = free_port()
    recount = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                "--dir", os.path.join(rig.run_dir, "redis"), "--appendonly",
                                "yes", "--save", ""],
                               stdout=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port, socket_timeout=2)
        wait_for("the recount Redis", lambda: r.ping())
        total = int(r.get("hashes"))
        wallet = r.hlen("wallet")
    finally:
        recount.terminate()
        recount.wait(10)
    print(f"published {published} before the stop; dispatcher logged {logged} hashes, "
          f"{coins} coins at exit; Redis recount {total} hashes, {wallet} coins")
    assert published <= total == logged, (published, total, logged)
    assert wallet == coins
    passed("after Ctrl-C the append-only file holds exactly the dispatcher's final books; "
           "Redis was stopped after the dispatcher")


# 6. run-local again on the same run dir finds the counts; `stop`; a raw, batched rig ------
def part_restart_keeps_counts(run_dir, base, web):
    # the count left by the last run, from the append-only file
    with open(os.path.join(run_dir, "logs", "dispatcher.log")) as f:
        logged = int(re.findall(r"\((\d+) hashes", f.read())[-1])
    rig = RunLocal(run_dir, base, web, "--workers", "0")
    try:
        rig.wait_line(r"dockercoins is running", timeout=60)
        assert rig.hashes() == logged, (rig.hashes(), logged)
        assert rig.status()["worker"] == []
        passed(f"run-local again on the same run dir (0 workers) finds hashes = {logged}")
        t0 = time.monotonic()
        done = rig.ctl("stop")
        assert done.returncode == 0 and "stopped in" in done.stdout, done
        assert rig.p.wait(10) == 0
        print(f"./run-local stop returned after {time.monotonic() - t0:.2f} s")
        assert not processes_of(run_dir)
        done = rig.ctl("scale", "worker=2")
        assert done.returncode == 1 and "no rig is running" in done.stderr, done
        passed("./run-local stop stops it (exit 0); scale then says no rig is running")
    finally:
        rig.kill()

    # raw, batched, no CURVE, stopped by SIGTERM
    run_dir = os.path.join(TMP, "raw")
    rig = RunLocal(run_dir, free_base(), free_port(), "--raw", "--batch", "64", "--insecure",
                   "--workers", "2")
    try:
        rig.wait_line(r"dockercoins is running \(raw mode\)", timeout=60)
        assert not os.path.exists(os.path.join(run_dir, "keys"))
        wait_for("raw hashes", lambda: rig.hashes() >= 64 * 20, timeout=20)
        wait_for("batch 64 in the books", lambda: rig.stats("dispatcher").get("batch") == 64)
        mined = rig.hashes()
        rig.p.send_signal(signal.SIGTERM)
        assert rig.p.wait(30) == 0, rig.output()
        rig.reader.join(5)
        assert any(l.startswith("All stopped in") for l in rig.lines), rig.output()
        assert not processes_of(run_dir)
        passed(f"--raw --batch 64 --insecure: {mined} hashes at once; SIGTERM stops it, exit 0")
    finally:
        rig.kill()


# 7. bad arguments, a taken port, a process that cannot start ---------------------------
def part_bad_arguments():
    done = run("--help")
    assert done.returncode == 0 and "./run-local scale ROLE=N" in done.stdout, done
    run_dir = os.path.join(TMP, "bad")
    base, web = free_base(), free_port()
    common = ["--no-install", "--run-dir", run_dir, "--base-port", str(base)]
    cases = [(["--workers"], 2, "--workers needs a value"),
             (["--workers", "x"], 2, "'x'"),
             (["--rng", "0"], 2, "nothing would ever be mined"),
             (["--hasher", "0"], 2, "nothing would ever be mined"),
             (["--batch", "0"], 2, "--batch must be from 1 to 4096"),
             (["--batch", "5000"], 2, "--batch must be from 1 to 4096"),
             (["--frobnicate"], 2, "unknown option '--frobnicate'"),
             (["--web-port", "70000"], 2, "--web-port"),
             (["--web-port", str(base + 1)], 2, "falls in the base port's plan")]
    for args, rc, cause in cases:
        done = run(*(common + ["--web-port", str(web)] + args))
        assert done.returncode == rc and cause in done.stderr, (args, done)
        assert "Traceback" not in done.stderr
    done = run(*common[:-2], "--base-port", "99999", "--web-port", str(web))
    assert done.returncode == 2 and "--base-port" in done.stderr, done
    assert not processes_of(run_dir)
    passed(f"{len(cases) + 1} bad arguments: exit 2 with the cause, nothing started")

    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", web))
        taken.listen(1)
        done = run(*(common + ["--web-port", str(web)]))
        assert done.returncode == 1, done
        assert f"port {web} (web UI) is already in use" in done.stderr, done.stderr
        assert "--web-port" in done.stderr and f"pid {os.getpid()}" in done.stderr, done.stderr
        assert "dockercoins is running" not in done.stdout
    assert not processes_of(run_dir)
    passed("a taken web port: exit 1 naming the port, its owner and --web-port; nothing started")

    # a process that cannot start: its cause from its log, everything stopped, exit 1
    broken = os.path.join(TMP, "broken")
    os.makedirs(broken)
    subprocess.run([os.path.join(bindir(), "dc-keygen"), "--keys", os.path.join(broken, "keys")],
                   check=True, capture_output=True)
    with open(os.path.join(broken, "keys", "dispatcher.cert_secret"), "w") as f:
        f.write("not a certificate\n")
    done = run("--no-install", "--run-dir", broken, "--base-port", str(base),
               "--web-port", str(web))
    assert done.returncode == 1, done
    assert "dispatcher exited with status" in done.stderr, done.stderr
    assert "curve:" in done.stderr, "the cause from the dispatcher's log"
    assert "dockercoins is running" not in done.stdout
    assert "All stopped" in done.stdout, done.stdout
    assert not processes_of(broken)
    assert all(port_is_free(p) for p in (base, base + 3, base + 4, web))
    passed("a dispatcher that cannot start: exit 1 with its log's cause; all else stopped")

    done = run("scale", "worker=3", "--run-dir", os.path.join(TMP, "nothing"))
    assert done.returncode == 1 and "no rig is running" in done.stderr, done
    done = run("status", "--run-dir", os.path.join(TMP, "nothing"))
    assert done.returncode == 1 and "no rig is running" in done.stderr, done
    passed("scale / status without a rig: exit 1, 'no rig is running'")


if __name__ == "__main__":
    main()
