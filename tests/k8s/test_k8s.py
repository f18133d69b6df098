#!/usr/bin/python3
"""The k8s suite: the workshop's Kubernetes chapter on a real 3-node cluster.

Builds the project images (Docker's cache makes a warm build a few seconds), starts
`tests/k8s/cluster up --nodes 3` in its own folder, imports the images into every node,
then runs two releases of the chart, each step an assertion that can fail.

Release "dockercoins" in namespace default, the chart's defaults (CURVE, Redis AUTH,
NetworkPolicies, PDBs) with pullPolicy Never:
  1. `helm install --wait`: every pod Ready; /json through `kubectl port-forward`
     (127.0.0.1, a free port) shows the hash count growing; `helm test` passes (both hook
     Pods: the hash count grows, and dc-audit).
  2. Secrets: every pod holds exactly its role's keys, equal to the Secret's; Redis
     answers NOAUTH without the password; the broker refuses an rng without CURVE and one
     keyed from another seed (its auth_refused grows, neither registers nor gets ready).
  2b. NetworkPolicies, enforced (the cluster runs kube-network-policies): a pod without
     the chart's labels connects to none of Redis, the broker and the dispatcher but gets
     the page; with a worker's labels it reaches the broker and the dispatcher only, with
     dc-audit's labels Redis only.
  3. `kubectl scale deployment/dockercoins-worker --replicas=1, 2, 3, 10`: the speed from
     the /json counter over >= 20 s fits the model with wide bands; at 10 workers the
     webui's /events snapshot names rng as the bottleneck.
  4. `helm upgrade --set rng.kind=DaemonSet`: 3 rng pods on 3 distinct nodes, and 10
     workers then mine more than 1.8x the 1-rng rate (model ~30).
  5. The bad release (`--set badRelease.enabled=true`): the worker rollout stalls
     (`kubectl rollout status` times out) with the new pod not Ready, every old pod Ready
     and mining going on; `helm rollback --wait` brings every pod back Ready.
  -  KEDA (`--set autoscaling.keda.enabled=true`, rng a Deployment, 10 workers): rng grows
     from 1 until the /events snapshot no longer names it and the speed is >= 25 hashes/s;
     workers to 1: rng shrinks back to 1.
  -  metrics-server: `kubectl top pods` shows numbers; in raw mode a CPU HPA on the workers
     scales them up from 1 to 3.
  6. `helm uninstall`: every container stops on SIGTERM within its grace period with exit
     code 0 (137 would be SIGKILL), read from a watch on the pods until they are gone.

Release "dockercoins" in namespace faults, installed before step 6, with broker, dispatcher
and Redis pinned to the first node (nodeSelector), 2 rng, 2 hasher, 2 webui and 6 worker
pods, the audit CronJob and a viewer Role. Mining is read from Redis through a port-forward
to its pod, which never moves:
  -  Namespaces: both releases mine at once, each counting only its own pods; after step 6
     the faults release has the same pods, all Ready, mining.
  -  Access control: `kubectl auth can-i --as workshop-viewer`: look yes, touch no.
  -  Canary and blue/green: 9 stable workers and 1 canary (worker.canary.*): the canary
     does 5-16 % of the hashes, from the dispatcher's per-track counts over >= 30 s, and the
     page shows the split; the webui as blue/green, its Service switched blue -> green ->
     blue (`helm upgrade --reuse-values --set webui.blueGreen.active=...`) while a pod polls
     /json through the Service's name every 150 ms: every poll answers 200, and the
     X-Dc-Instance header goes blue -> green -> blue. Then back to 6 workers, one webui.
  7. Rolling update of the worker (a changed env, maxUnavailable 0): hashes grow in every
     2 s window of the rollout. Then the Redis pod is deleted: it returns on the same
     claim and volume with the wallet and the counts, and mining goes on.
  8. `kubectl drain` of the second node: the drain respects the PodDisruptionBudgets (no
     role ever has more than maxUnavailable pods missing) and hashes grow in every 3 s
     window; then uncordon.
  9. `cluster stop-node` of the third node: its pods are replaced on the others, mining
     goes on.
 10. The books: the dispatcher (alive since the install) is stopped with SIGTERM; its
     books equal Redis (hashes, and coins = wallet entries, each a real coin); dc-audit as
     a Job passes, and fails naming a forged wallet entry.
 11. Priorities: a full cluster (big CPU requests) preempts workers, never the shared
     roles, to run 3 rng pods; mining goes on.

A run holds /tmp/dck8s.lock (flock; $DC_K8S_LOCK) for its whole life: a second run on the
machine waits for it, saying so; one started under `flock /tmp/dck8s.lock ...` goes on.
`cluster down` always runs at the end; on failure `cluster logs` writes a log bundle first
and its path is printed. Exits 0 when every check passed, 1 on failure, 77 (skip) only
when not root or no Docker engine answers.

Usage: /usr/bin/python3 tests/k8s/test_k8s.py [--dir DIR] [--keep] [--screenshot PNG]
                                              [--only STEP[,STEP]]
  --dir DIR   the cluster's state folder (default $DC_K8S_DIR or <repo>/build-k8s-test)
  --keep      leave the cluster running at the end (for debugging; `cluster down` later)
  --only      run only these steps (see --help for the names), plus the installs and
              earlier steps they need
  --screenshot PNG  save the page after step 4 (docs/k8s-scaling.png is made this way)
"""

import argparse
import base64
import calendar
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "pipeline"))
from dcrig import Checks, end_process, free_port, wait_for  # noqa: E402

CLUSTER = os.path.join(HERE, "cluster")
RELEASE = "dockercoins"
CHART = os.path.join(ROOT, "helm", "dockercoins")
IMAGE = "dockercoins:0.1.0"
REDIS_IMAGE = "dockercoins-redis:0.1.0"
NODES = 3
NODE_NAMES = ["dck8s-n%d" % i for i in range(1, NODES + 1)]
# Speed bands (hashes/s) per worker count with 1 rng: the model says 3.3 per worker up to
# rng's ceiling of 10 (one request at a time, 100 ms each); wide for a busy 2-core machine.
BANDS = {1: (2.3, 3.6), 2: (4.6, 7.0), 3: (6.5, 10.5), 10: (7.0, 10.5)}
MEASURE_S = 20.0
DAEMONSET_LIFT = 1.8
# KEDA on the broker's demand: 10 workers are worker-bound at ~33 hashes/s once rng has
# grown; at least this much shows rng is no longer the ceiling (1 rng: ~10).
KEDA_SPEED = 25.0
KEDA_SCALE_DOWN_S = 15  # the ScaledObjects' scale-down stabilization in the test
# CPU autoscaling of the workers in raw mode: the HPA's ceiling in the test.
HPA_MAX = 3
# The keys each role's pods may hold (least privilege), by the component label.
KEYS = {"broker": {"curve-key-seed", "redis-password"}, "dispatcher": {"curve-key-seed", "redis-password"},
        "rng": {"curve-key-seed"}, "hasher": {"curve-key-seed"}, "worker": {"curve-key-seed"},
        "webui": {"redis-password"}}
SECRET_DIR = "/etc/dockercoins/secret"
FAULTS_NS = "faults"
VIEWER = "workshop-viewer"
# Step 11 fills the (then 2-node) cluster: workers and rng ask this much CPU each.
FILL_CPU = "600m"
FILL_WORKERS = 12
FILL_RNG = 3
PIN = "kubernetes\\.io/hostname"
# A connection that NetworkPolicy drops gets no answer: a connect is given up after this.
NETPOL_CONNECT_S = 3

# One cluster per machine: a run takes this lock (flock) for its whole life, so a second
# run waits for the first instead of colliding with its network namespaces, ports and nodes.
LOCK = os.environ.get("DC_K8S_LOCK") or "/tmp/dck8s.lock"

check = Checks()


def say(msg):
    print("k8s: " + msg, flush=True)


def run(cmd, env=None, timeout=600, check_rc=True, quiet=False, stderr=False):
    """Run cmd (a list), return its stdout (and stderr with stderr=True); raise
    AssertionError with its output on failure."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if not quiet:
        say("$ %s  (exit %d, %.1fs)" % (" ".join(cmd), p.returncode, time.monotonic() - t0))
    if check_rc and p.returncode != 0:
        raise AssertionError("%s failed (exit %d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout + p.stderr if stderr else p.stdout


def tools_env():
    out = run(["bash", "-c", '. "$1/tools/dc-tools-env" && env -0', "-", ROOT], quiet=True)
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (network namespaces, mounts and cgroups for the cluster's nodes)"
    if not shutil.which("docker"):
        return "no docker command (the project images are built with Docker)"
    p = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if p.returncode != 0:
        return "no Docker engine answers `docker info`: %s" % p.stderr.strip().splitlines()[-1:]
    return None


def _flock_holders(path):
    """The pids /proc/locks names as holding a flock on path (not those waiting for it)."""
    st = os.stat(path)
    ident = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    try:
        with open("/proc/locks") as f:
            rows = [line.split() for line in f]
    except OSError:
        return set()
    # "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF"; a waiter's line has "->" in field 2
    return {int(r[4]) for r in rows if len(r) >= 6 and r[1] == "FLOCK" and r[5] == ident}


def _ancestors():
    """This process and every parent up to init."""
    pid, seen = os.getpid(), set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return seen


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def take_cluster_lock():
    """Hold LOCK until this process exits, waiting (and saying so) while another run has it.
    A run already under `flock LOCK ...` (the lock held by one of its parents) goes on."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    t0 = time.monotonic()
    told = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holders = _flock_holders(LOCK)
            if holders & _ancestors():
                say("%s is held by this run's parent (pid %s): going on" % (
                    LOCK, ", ".join(str(p) for p in sorted(holders))))
                os.close(fd)
                return None
            if told is None or time.monotonic() - told >= 60:
                say("waiting for %s: another run uses the cluster on this machine (%s); runs take turns, "
                    "waited %.0fs so far" % (LOCK, "; ".join("pid %d: %s" % (p, _cmdline(p)) for p in sorted(holders))
                                             or "holder unknown", time.monotonic() - t0))
                told = time.monotonic()
            time.sleep(1)
            continue
        if told is not None:
            say("got %s after %.0fs" % (LOCK, time.monotonic() - t0))
        return fd


def is_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def component(pod):
    return pod["metadata"].get("labels", {}).get("app.kubernetes.io/component")


class Forward:
    """`kubectl port-forward` of one target to a free port on 127.0.0.1. It binds to one pod,
    so it is restarted when it dies, or when it runs but nothing answers through it (kubectl
    keeps running after its pod is deleted, refusing every connection)."""

    def __init__(self, suite, ns, target, remote):
        self.suite, self.ns, self.target, self.remote = suite, ns, target, remote
        self.proc = None
        self.port = None

    def ensure(self, ready, timeout=60):
        """Starts the forward unless it runs, then waits until ready() holds; a forward that
        gets no answer for 10 s is replaced by a new one, until the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is None or self.proc.poll() is not None:
                self.port = free_port()
                self.proc = subprocess.Popen(
                    [self.suite.kubectl_bin, "-n", self.ns, "port-forward", "--address", "127.0.0.1", self.target,
                     "%d:%d" % (self.port, self.remote)],
                    env=self.suite.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
                say("kubectl -n %s port-forward %s on 127.0.0.1:%d" % (self.ns, self.target, self.port))
            left = deadline - time.monotonic()
            try:
                return wait_for("%s through port-forward on 127.0.0.1:%d" % (self.target, self.port), ready,
                                timeout=max(1.0, min(10.0, left)), interval=0.5)
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise
                say("nothing answers through the port-forward of %s: a new one" % self.target)
                end_process(self.proc, 5)

    def _drain(self, proc):
        for line in proc.stdout:
            if "Handling connection" not in line:
                print("port-forward %s: %s" % (self.target, line.rstrip()), flush=True)

    def stop(self):
        end_process(self.proc, 10)


class Release:
    """One helm release of the chart in one namespace, with its page and its Redis."""

    def __init__(self, suite, ns):
        self.s, self.ns = suite, ns
        self.web = Forward(suite, ns, "service/%s-webui" % RELEASE, 80)
        self.rfwd = Forward(suite, ns, "pod/%s-redis-0" % RELEASE, 6379)
        self._redis = None

    def kubectl(self, *args, **kw):
        return self.s.kubectl("-n", self.ns, *args, **kw)

    def helm(self, *args, **kw):
        return self.s.helm(args[0], "-n", self.ns, *args[1:], **kw)

    def pods(self, selector=None, live=True):
        args = ["get", "pods", "-o", "json"] + (["-l", selector] if selector else [])
        pods = json.loads(self.kubectl(*args, quiet=True))["items"]
        if live:
            pods = [p for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed")
                    and not p["metadata"].get("deletionTimestamp")]
        return pods

    def role_pods(self, role):
        return self.pods("app.kubernetes.io/component=%s,app.kubernetes.io/instance=%s" % (role, RELEASE))

    def deployment(self, role):
        return json.loads(self.kubectl("get", "deployment/%s-%s" % (RELEASE, role), "-o", "json", quiet=True))

    def secret(self):
        data = json.loads(self.kubectl("get", "secret", RELEASE + "-secret", "-o", "json", quiet=True))["data"]
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    # --- the page ------------------------------------------------------------------------
    def json(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/json" % self.web.port, timeout=5) as r:
            return json.loads(r.read())

    def hashes(self):
        try:
            h = self.json().get("hashes")
        except (OSError, ValueError):
            return None
        return int(h) if h is not None else None

    def ensure_web(self):
        self.web.ensure(lambda: self.hashes() is not None)

    # --- Redis -----------------------------------------------------------------------------
    def redis(self):
        """A client of the release's Redis (port-forward to its pod, the Secret's password)."""
        def ping():
            if self._redis is None or self._redis.connection_pool.connection_kwargs["port"] != self.rfwd.port:
                self._redis = redis.Redis(host="127.0.0.1", port=self.rfwd.port, password=self.secret().get(
                    "redis-password"), socket_timeout=5)
            return self._redis.ping()
        self.rfwd.ensure(ping)
        return self._redis

    def redis_hashes(self):
        try:
            return int(self.redis().get("hashes") or 0)
        except (redis.RedisError, AssertionError):
            return None

    def wait_mining(self, what, timeout=30):
        """(before, after): Redis's hash count now, then once it has grown by more than 5."""
        h0 = self.redis_hashes()
        h1 = wait_for("%s's hashes to grow %s" % (self.ns, what), lambda: (
            lambda h: h if h is not None and h0 is not None and h > h0 + 5 else None)(self.redis_hashes()),
            timeout=timeout, interval=0.5)
        return h0, h1

    def stop(self):
        self.web.stop()
        self.rfwd.stop()


class Sampler:
    """Reads a counter once a second in a thread, for checks of 'it grows in every window'."""

    def __init__(self, read):
        self.read = read
        self.samples = []  # (monotonic, value or None)
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join()

    def _loop(self):
        while not self.stop_ev.is_set():
            self.samples.append((time.monotonic(), self.read()))
            self.stop_ev.wait(1.0)

    def stalls(self, window):
        """Windows of `window` seconds in which the counter did not grow (or was unreadable)."""
        bad = []
        pts = self.samples
        for i, (t0, v0) in enumerate(pts):
            later = [(t, v) for t, v in pts[i + 1:] if t - t0 >= window]
            if not later:
                break
            t1, v1 = later[0]
            if v0 is None or v1 is None or v1 <= v0:
                bad.append("%.0f-%.0fs: %s -> %s" % (t0 - pts[0][0], t1 - pts[0][0], v0, v1))
        return bad

    def summary(self):
        vals = [v for _, v in self.samples if v is not None]
        span = self.samples[-1][0] - self.samples[0][0] if len(self.samples) > 1 else 0
        rate = (vals[-1] - vals[0]) / span if len(vals) > 1 and span > 0 else 0
        return "%d samples over %.0fs, %s -> %s (%.1f hashes/s)" % (
            len(self.samples), span, vals[0] if vals else None, vals[-1] if vals else None, rate)


class Suite:
    def __init__(self, cluster_dir):
        self.dir = cluster_dir
        self.tools = tools_env()
        self.kubectl_bin = os.path.join(self.tools["DC_K8S_BIN"], "kubectl")
        self.helm_bin = self.tools["DC_HELM_BIN"]
        self.env = dict(os.environ, KUBECONFIG=os.path.join(self.dir, "pki", "admin.kubeconfig"),
                        HELM_CACHE_HOME=os.path.join(self.dir, "helm-cache"),
                        HELM_CONFIG_HOME=os.path.join(self.dir, "helm-config"),
                        HELM_DATA_HOME=os.path.join(self.dir, "helm-data"))
        self.measured = {}
        self.releases = []
        self.stopped_node = None
        self.screenshot = None

    # --- tools ---------------------------------------------------------------------------
    def kubectl(self, *args, **kw):
        return run([self.kubectl_bin] + list(args), env=self.env, **kw)

    def helm(self, *args, **kw):
        return run([self.helm_bin] + list(args), env=self.env, **kw)

    def cluster(self, *args, **kw):
        out = run([CLUSTER] + list(args) + ["--dir", self.dir], **kw)
        print(out, end="", flush=True)
        return out

    # --- setup ---------------------------------------------------------------------------
    def prepare(self):
        t0 = time.monotonic()
        run([os.path.join(ROOT, "tools", "build-k8s-node")], timeout=3600)
        if not os.access(self.helm_bin, os.X_OK):
            run([os.path.join(ROOT, "tools", "install-helm-tools")], timeout=3600)
        base = os.environ.get("DC_BASE_IMAGE") or "dockercoins/debian:bookworm"
        if subprocess.run(["docker", "image", "inspect", base], capture_output=True).returncode != 0:
            run([os.path.join(ROOT, "compose", "make-base-image"), base], timeout=1800)
        run(["docker", "build", "-q", "-t", IMAGE, "--build-arg", "BASE_IMAGE=" + base, ROOT], timeout=1800)
        run(["docker", "build", "-q", "--target", "redis", "-t", REDIS_IMAGE, "--build-arg",
             "BASE_IMAGE=" + base, ROOT], timeout=1800)
        self.measured["build_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        if os.path.exists(os.path.join(self.dir, "state.json")):
            say("%s holds an earlier cluster's state: cluster down first" % self.dir)
            self.cluster("down", timeout=600)
        self.cluster("up", "--nodes", str(NODES), timeout=900)
        self.measured["up_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        self.cluster("images", IMAGE, REDIS_IMAGE, timeout=900)
        self.measured["import_s"] = time.monotonic() - t0
        nodes = json.loads(self.kubectl("get", "nodes", "-o", "json", quiet=True))["items"]
        ready = [n["metadata"]["name"] for n in nodes if is_ready(n)]
        say("nodes Ready: %s (up %.1fs, images imported in %.1fs)" % (
            ready, self.measured["up_s"], self.measured["import_s"]))
        check(sorted(ready) == NODE_NAMES, "%d nodes Ready, got %s" % (NODES, ready))

    def release(self, ns):
        rel = Release(self, ns)
        self.releases.append(rel)
        return rel

    def cleanup(self):
        for rel in self.releases:
            rel.stop()
        if self.stopped_node:
            subprocess.run([CLUSTER, "start-node", self.stopped_node, "--dir", self.dir], timeout=300)

    # --- shared waits ----------------------------------------------------------------------
    @staticmethod
    def wait_all_ready(rel, timeout=180):
        def cond():
            pods = rel.pods()
            return pods if pods and all(is_ready(p) for p in pods) else None
        return wait_for("every pod Ready in %s" % rel.ns, cond, timeout=timeout, interval=1)

    @staticmethod
    def wait_rollout(rel, role, n, timeout=180):
        def cond():
            st = rel.deployment(role)["status"]
            return (st.get("readyReplicas", 0) == n and st.get("replicas") == n and st.get("updatedReplicas") == n
                    and st.get("unavailableReplicas", 0) == 0)
        wait_for("%d %s pods Ready and updated" % (n, role), cond, timeout=timeout, interval=1)

    # --- autoscaling: KEDA on the broker's signal; CPU with metrics-server --------------
    def deploy_replicas(self, rel, role):
        return int(rel.deployment(role)["spec"].get("replicas") or 0)

    def step_keda(self, rel):
        say("step keda: autoscaling.keda.enabled=true, 10 workers on 1 rng: rng grows until the page "
            "stops naming it; workers to 1: rng shrinks back to 1")
        # From the DaemonSet to a new Deployment that leaves its replicas to KEDA: it starts at 1.
        t0 = time.monotonic()
        rel.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set", "rng.kind=Deployment", "--set",
                 "worker.replicas=10", "--set", "autoscaling.keda.enabled=true", "--set",
                 "autoscaling.keda.scaleDownStabilizationSeconds=%d" % KEDA_SCALE_DOWN_S, "--set",
                 "autoscaling.keda.pollingInterval=2", timeout=120)
        start = self.deploy_replicas(rel, "rng")
        objs = json.loads(rel.kubectl("get", "scaledobjects.keda.sh", "-o", "json", quiet=True))["items"]
        say("ScaledObjects: %s; the new rng Deployment at %d replica(s)" % (
            sorted(o["metadata"]["name"] for o in objs), start))
        check(sorted(o["metadata"]["name"] for o in objs) == ["%s-hasher" % RELEASE, "%s-rng" % RELEASE],
              "a ScaledObject for rng and one for hasher")
        check(start == 1, "rng starts from 1 (the new Deployment), got %d" % start)
        self.wait_rollout(rel, "worker", 10)
        rel.ensure_web()
        most = [start]

        def settled():
            n = self.deploy_replicas(rel, "rng")
            most[0] = max(most[0], n)
            st = rel.deployment("rng")["status"]
            if n < 2 or st.get("readyReplicas", 0) != n:
                return None
            rate, _, _ = self.speed(rel, seconds=6)
            snap = self.snapshot(rel, lambda x: True, timeout=10)
            stage = (snap.get("bottleneck") or {}).get("stage")
            say("  rng %d pods Ready (most %d), %.1f hashes/s, page names %s, %.0fs" % (
                n, most[0], rate, stage, time.monotonic() - t0))
            return (n, rate, snap) if stage != "rng" and rate >= KEDA_SPEED else None
        n, rate, snap = wait_for("rng to grow until the page no longer names it", settled, timeout=240, interval=1)
        grow_s = time.monotonic() - t0
        hpa = json.loads(rel.kubectl("get", "hpa", "keda-hpa-%s-rng" % RELEASE, "-o", "json", quiet=True))
        metric = [m for m in hpa["status"].get("currentMetrics") or [] if m.get("type") == "External"]
        say("KEDA: rng 1 -> %d pods (most %d) in %.1fs, %.1f hashes/s, page: %s; HPA metric %s" % (
            n, most[0], grow_s, rate, snap["bottleneck"].get("text"),
            metric and metric[0]["external"]["current"]))
        self.measured["keda_rng_pods"] = n
        self.measured["keda_rng_most"] = most[0]
        self.measured["keda_grow_s"] = grow_s
        self.measured["keda_hashes_s"] = rate
        check(metric, "the HPA KEDA made reads the broker's demand (external metric)")
        t0 = time.monotonic()
        rel.kubectl("scale", "deployment/%s-worker" % RELEASE, "--replicas=1")
        wait_for("rng to shrink back to 1", lambda: self.deploy_replicas(rel, "rng") == 1, timeout=180, interval=1)
        self.measured["keda_shrink_s"] = time.monotonic() - t0
        say("workers 10 -> 1: rng back to 1 pod in %.1fs (stabilization %ds)" % (
            self.measured["keda_shrink_s"], KEDA_SCALE_DOWN_S))

    def step_cpu_hpa(self, rel):
        say("step hpa: metrics-server: kubectl top pods; a CPU HPA on the workers in raw mode scales up from 1")

        def top():
            out = rel.kubectl("top", "pods", "--no-headers", check_rc=False, quiet=True)
            rows = [line.split() for line in out.splitlines() if len(line.split()) == 3]
            rows = [r for r in rows if r[1].endswith("m") and r[1][:-1].isdigit() and r[2].endswith("Mi")]
            return rows if len(rows) >= 5 else None
        t0 = time.monotonic()
        rows = wait_for("kubectl top pods with numbers", top, timeout=90, interval=2)
        say("kubectl top pods (%.1fs): %s" % (time.monotonic() - t0, ", ".join("%s %s %s" % tuple(r) for r in rows)))
        check(any(int(r[1][:-1]) > 0 for r in rows), "kubectl top shows CPU in use")
        t0 = time.monotonic()
        # The worker Deployment leaves its replicas to the HPA: the upgrade drops them to 1.
        # (KEDA off again: the step before may have turned it on)
        rel.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set", "raw=true", "--set",
                 "worker.autoscaling.enabled=true", "--set", "worker.autoscaling.maxReplicas=%d" % HPA_MAX,
                 "--set", "autoscaling.keda.enabled=false", timeout=120)
        hpa_name = "%s-worker" % RELEASE
        first = self.deploy_replicas(rel, "worker")
        say("raw mode, worker HPA (max %d): the worker Deployment at %d replica(s)" % (HPA_MAX, first))
        check(first == 1, "the worker Deployment starts from 1 under the HPA, got %d" % first)
        seen = {}

        def grown():
            h = json.loads(rel.kubectl("get", "hpa", hpa_name, "-o", "json", quiet=True))
            cur = [m["resource"]["current"] for m in h["status"].get("currentMetrics") or []
                   if m.get("type") == "Resource"]
            if cur:
                seen["cpu"] = cur[0]
            n = self.deploy_replicas(rel, "worker")
            return n if n >= HPA_MAX and cur else None
        n = wait_for("the worker HPA to scale up on CPU", grown, timeout=180, interval=2)
        self.measured["hpa_workers"] = n
        self.measured["hpa_up_s"] = time.monotonic() - t0
        say("CPU HPA: workers 1 -> %d in %.1fs (current %s)" % (n, self.measured["hpa_up_s"], seen.get("cpu")))
        check(seen.get("cpu", {}).get("averageUtilization", 0) > 80, "the HPA read a real CPU use above its target")
        rel.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set", "raw=false", "--set",
                 "worker.autoscaling.enabled=false", "--set", "worker.replicas=10", "--wait", "--timeout", "5m",
                 timeout=400)

    # --- release 1: the workshop on the chart's defaults -------------------------------------
    def step1_install(self, rel):
        say("step 1: helm install, every pod Ready, /json growing, helm test")
        t0 = time.monotonic()
        rel.helm("install", RELEASE, CHART, "--set", "image.pullPolicy=Never", "--wait", "--timeout", "5m",
                 timeout=400)
        pods = self.wait_all_ready(rel)
        self.measured["install_ready_s"] = time.monotonic() - t0
        roles = sorted({component(p) for p in pods})
        say("%d pods Ready %.1fs after helm install started: %s" % (
            len(pods), self.measured["install_ready_s"], ", ".join(
                "%s@%s" % (p["metadata"]["name"], p["spec"].get("nodeName")) for p in pods)))
        check(roles == ["broker", "dispatcher", "hasher", "redis", "rng", "webui", "worker"],
              "every role has a Ready pod, got %s" % roles)
        rel.ensure_web()
        first = wait_for("a hash count on /json", rel.hashes, timeout=60, interval=0.5)
        later = wait_for("the hash count to grow past %d" % first,
                         lambda: (lambda h: h if h is not None and h > first else None)(rel.hashes()),
                         timeout=60, interval=0.5)
        say("/json hashes %d -> %d" % (first, later))
        check(later > first, "hashes grow")
        # No --logs: the hook pod is deleted as soon as it succeeds (hook-succeeded policy).
        t0 = time.monotonic()
        out = rel.helm("test", RELEASE, "--timeout", "3m", timeout=240)
        phase = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Phase:")]
        say("helm test: phase %s in %.1fs" % (phase, time.monotonic() - t0))
        # two hook Pods: the hash count grows (webui), and dc-audit (the wallet agrees with the books)
        check(phase == ["Succeeded", "Succeeded"] and "test-audit" in out, "helm test passes, both Pods:\n" + out)

    def step2_secrets(self, rel):
        say("step 2: each pod holds only its role's keys; Redis and the broker refuse strangers")
        secret = rel.secret()
        seed, password = secret.get("curve-key-seed", ""), secret.get("redis-password", "")
        check(len(seed) >= 32 and len(password) >= 16, "the Secret holds a generated seed (%d chars) and "
              "password (%d chars)" % (len(seed), len(password)))
        script = ('for f in %s/*; do [ -f "$f" ] && printf "file %%s %%s\\n" "${f##*/}" "$(cat "$f")"; done; '
                  'env | grep "^DC_" | sed "s/^/env /"' % SECRET_DIR)
        seen = 0
        for pod in rel.pods():
            role = component(pod)
            if role not in KEYS:
                continue
            name = pod["metadata"]["name"]
            out = rel.kubectl("exec", name, "-c", role, "--", "sh", "-c", script, quiet=True)
            files = dict(line.split(" ", 2)[1:] for line in out.splitlines()
                         if line.startswith("file ") and len(line.split(" ", 2)) == 3)
            envs = dict(line[4:].split("=", 1) for line in out.splitlines() if line.startswith("env "))
            check(set(files) == KEYS[role], "%s (%s) holds %s, wanted %s" % (name, role, sorted(files),
                                                                             sorted(KEYS[role])))
            check(files.get("curve-key-seed", seed) == seed and files.get("redis-password", password) == password,
                  "%s: its keys are the Secret's" % name)
            check("DC_INSECURE" not in envs, "%s runs without DC_INSECURE" % name)
            if "curve-key-seed" in KEYS[role]:
                check(envs.get("DC_KEY_SEED_FILE") == SECRET_DIR + "/curve-key-seed",
                      "%s reads its CURVE seed from the Secret: %s" % (name, envs.get("DC_KEY_SEED_FILE")))
            seen += 1
        say("%d pods hold exactly their role's keys, equal to the Secret's" % seen)
        check(seen >= 6, "every pipeline pod checked, %d" % seen)
        r0 = f"{RELEASE}-redis-0"
        noauth = rel.kubectl("exec", r0, "--", "redis-cli", "ping", check_rc=False, stderr=True, quiet=True)
        pong = rel.kubectl("exec", r0, "--", "redis-cli", "--no-auth-warning", "-a", password, "ping",
                           quiet=True).strip()
        say("redis-cli ping without the password: %r; with it: %r" % (noauth.strip(), pong))
        check("NOAUTH" in noauth and pong == "PONG", "Redis refuses a client without the password")
        endpoint = [e["value"] for e in rel.role_pods("rng")[0]["spec"]["containers"][0]["env"]
                    if e["name"] == "DC_BROKER"][0]
        self.intruder(rel, "intruder-insecure", endpoint, "exec dc-rng --insecure")
        self.intruder(rel, "intruder-other-seed", endpoint,
                      "head -c 36 /dev/urandom | base64 > /tmp/seed && DC_KEY_SEED_FILE=/tmp/seed exec dc-rng")

    def intruder(self, rel, name, endpoint, script):
        """An rng pod of the same image without the release's key: the broker refuses it.
        It carries the rng's labels, so the NetworkPolicies let it reach the broker and the
        refusal is CURVE's (no ReplicaSet adopts it: theirs select a pod-template-hash)."""
        r = rel.redis()
        refused0 = int(r.hget("dc:stats:broker", "auth_refused") or 0)
        procs = len(rel.role_pods("rng"))
        labels = "dockercoins-test=intruder,app.kubernetes.io/name=%s,app.kubernetes.io/instance=%s," \
                 "app.kubernetes.io/component=rng" % (RELEASE, RELEASE)
        rel.kubectl("run", name, "--image", IMAGE, "--image-pull-policy", "Never", "--restart", "Never",
                    "--labels", labels, "--env", "DC_BROKER=" + endpoint, "--env", "DC_HTTP=9100",
                    "--command", "--", "sh", "-c", script)
        try:
            refused = wait_for("the broker to refuse %s" % name, lambda: (lambda v: v if v > refused0 else None)(
                int(r.hget("dc:stats:broker", "auth_refused") or 0)), timeout=60, interval=0.5)
            wait_for("%s running" % name, lambda: json.loads(rel.kubectl("get", "pod", name, "-o", "json",
                                                                         quiet=True))["status"].get("phase")
                     == "Running", timeout=60, interval=0.5)
            ready = rel.kubectl("exec", name, "--", "dc-healthcheck", "/readyz", check_rc=False, quiet=True,
                                stderr=True)
            rngs = int(r.hget("dc:stats:rng", "instances") or 0)
            say("%s: broker auth_refused %d -> %d, rng processes %d (rng pods %d), its /readyz: %s" % (
                name, refused0, refused, rngs, procs, ready.strip() or "refused"))
            check(rngs == procs, "%s never registers with the broker (rng processes %d, pods %d)" % (
                name, rngs, procs))
            probe = subprocess.run([self.kubectl_bin, "-n", rel.ns, "exec", name, "--", "dc-healthcheck", "/readyz"],
                                   env=self.env, capture_output=True)
            check(probe.returncode != 0, "%s is never ready (its /readyz fails)" % name)
        finally:
            rel.kubectl("delete", "pod", name, "--grace-period", "1", "--wait=true", timeout=120)

    def step_netpol(self, rel):
        """NetworkPolicies enforced (the cluster runs kube-network-policies): a pod without
        the chart's labels connects to none of Redis, the broker and the dispatcher, but
        gets the page; the same pod with a worker's labels reaches the broker and the
        dispatcher, not Redis; with dc-audit's labels Redis and nothing else."""
        say("network policies: pods with and without the chart's labels try every link")
        targets = {"redis": ("%s-redis" % RELEASE, 6379), "broker": ("%s-broker" % RELEASE, 5555),
                   "dispatcher-5556": ("%s-dispatcher" % RELEASE, 5556),
                   "dispatcher-5557": ("%s-dispatcher" % RELEASE, 5557)}
        # Each connect gets NETPOL_CONNECT_S; they run side by side. Then GET /json on the page.
        probe = " ".join('p %s %s %d &' % (name, host, port) for name, (host, port) in targets.items())
        script = ('p() { t0=$(date +%%s%%N); if timeout %d bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; '
                  'then r=open; else r=closed; fi; echo "link $1 $r $(( ($(date +%%s%%N) - t0) / 1000000 ))"; }; '
                  '%s wait; exec 3<>/dev/tcp/%s-webui/80 && printf "GET /json HTTP/1.0\\r\\n\\r\\n" >&3 '
                  '&& echo "webui $(head -n 1 <&3)"' % (NETPOL_CONNECT_S, probe, RELEASE))
        labels = "app.kubernetes.io/name=%s,app.kubernetes.io/instance=%s" % (RELEASE, RELEASE)
        pods = {"netpol-none": ("dockercoins-test=netpol", set()),
                "netpol-worker": ("dockercoins-test=netpol,%s,app.kubernetes.io/component=worker" % labels,
                                  {"broker", "dispatcher-5556", "dispatcher-5557"}),
                "netpol-audit": ("dockercoins-test=netpol,%s,app.kubernetes.io/component=audit" % labels,
                                 {"redis"})}
        t0 = time.monotonic()
        # The pods sleep; the probes run once the API server has each pod's address (the
        # engine tells pods apart by address: a connection from an address it does not
        # know yet matches no podSelector).
        for name, (lab, _) in pods.items():
            rel.kubectl("run", name, "--image", IMAGE, "--image-pull-policy", "Never", "--restart", "Never",
                        "--labels", lab, "--command", "--", "sleep", "300")
        try:
            for name in pods:
                wait_for("%s running with an address" % name, lambda: (lambda st: st.get("phase") == "Running" and
                                                                       st.get("podIP"))(json.loads(rel.kubectl(
                                                                           "get", "pod", name, "-o", "json",
                                                                           quiet=True))["status"]),
                         timeout=60, interval=0.5)
            procs = {name: subprocess.Popen([self.kubectl_bin, "-n", rel.ns, "exec", name, "--", "bash", "-c",
                                             script], env=self.env, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True) for name in pods}
            for name, (_, allowed) in pods.items():
                out = procs[name].communicate(timeout=60)[0]
                links = {f[1]: (f[2], int(f[3])) for f in (line.split() for line in out.splitlines())
                         if len(f) == 4 and f[0] == "link"}
                web = [line[6:] for line in out.splitlines() if line.startswith("webui ")]
                say("%s: %s; webui: %s" % (name, ", ".join(
                    "%s %s in %d ms" % (k, v[0], v[1]) for k, v in sorted(links.items())), web))
                check(set(links) == set(targets), "%s tried every link: %s" % (name, out))
                opened = {k for k, v in links.items() if v[0] == "open"}
                check(opened == allowed, "%s connects to exactly %s, got %s" % (
                    name, sorted(allowed) or "nothing", sorted(opened)))
                check(web and " 200 " in web[0], "%s gets /json from the webui: %s" % (name, web))
                closed = [v[1] for k, v in links.items() if v[0] == "closed"]
                if closed:
                    self.measured["netpol_closed_ms_max"] = max(self.measured.get("netpol_closed_ms_max", 0),
                                                                max(closed))
        finally:
            rel.kubectl("delete", "pod", *pods, "--grace-period", "1", "--wait=true", timeout=120)
        self.measured["netpol_s"] = time.monotonic() - t0

    def step3_scale(self, rel):
        say("step 3: kubectl scale worker 1, 2, 3, 10 with 1 rng")
        for n in (1, 2, 3, 10):
            t0 = time.monotonic()
            rel.kubectl("scale", "deployment/%s-worker" % RELEASE, "--replicas=%d" % n)
            self.wait_rollout(rel, "worker", n)
            t_ready = time.monotonic() - t0
            rel.ensure_web()
            rate, dh, dt = self.speed(rel)
            lo, hi = BANDS[n]
            self.measured["workers_%d" % n] = rate
            say("%2d workers: Ready in %.1fs, %.2f hashes/s (%d hashes in %.1fs), band %.1f-%.1f" % (
                n, t_ready, rate, dh, dt, lo, hi))
            check(lo <= rate <= hi, "%d workers: %.2f hashes/s outside %.1f-%.1f" % (n, rate, lo, hi))
        snap = self.snapshot(rel, lambda s: (s.get("bottleneck") or {}).get("stage") == "rng", timeout=30)
        say("10 workers: /events bottleneck %s: %s" % (snap["bottleneck"]["stage"], snap["bottleneck"].get("text")))
        check(snap["bottleneck"]["stage"] == "rng", "the page names rng at 10 workers")

    def step4_daemonset(self, rel):
        say("step 4: helm upgrade --set rng.kind=DaemonSet (and worker.replicas=10, or helm resets them)")
        rel.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set", "rng.kind=DaemonSet", "--set",
                 "worker.replicas=10", "--wait", "--timeout", "5m", timeout=400)

        def rng_spread():
            pods = rel.role_pods("rng")
            owners = {o["kind"] for p in pods for o in p["metadata"].get("ownerReferences", [])}
            if len(pods) == NODES and all(is_ready(p) for p in pods) and owners == {"DaemonSet"}:
                return pods
            return None
        pods = wait_for("%d rng pods of the DaemonSet, all Ready" % NODES, rng_spread, timeout=120, interval=1)
        nodes = sorted(p["spec"]["nodeName"] for p in pods)
        say("rng pods: %s" % ", ".join("%s@%s" % (p["metadata"]["name"], p["spec"]["nodeName"]) for p in pods))
        check(len(set(nodes)) == NODES, "one rng pod per node, got nodes %s" % nodes)
        self.wait_rollout(rel, "worker", 10)
        rel.ensure_web()
        rate, dh, dt = self.speed(rel)
        base = self.measured["workers_10"]
        self.measured["daemonset_10"] = rate
        say("DaemonSet (3 rng), 10 workers: %.2f hashes/s (%d in %.1fs), %.2fx the 1-rng %.2f" % (
            rate, dh, dt, rate / base, base))
        check(rate > DAEMONSET_LIFT * base, "3 rng lift the speed above %.1fx %.2f, got %.2f" % (
            DAEMONSET_LIFT, base, rate))
        self.measured["cluster_rss_mib"] = self.cluster_rss() / 1024.0
        say("memory: %.0f MiB RSS in the cluster's processes and pods (%d pods)" % (
            self.measured["cluster_rss_mib"], len(rel.pods())))
        if self.screenshot:
            self.save_page(rel, self.screenshot)

    def cluster_rss(self):
        """KiB of RSS of every process of the cluster: the control plane and node daemons
        (their arguments name its folder) and everything in the nodes' cgroups (the pods)."""
        total = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    mine = self.dir.encode() in f.read()
                if not mine:
                    with open("/proc/%s/cgroup" % pid) as f:
                        mine = any(":/dck8s-n" in line for line in f)
                if mine:
                    with open("/proc/%s/status" % pid) as f:
                        total += sum(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            except OSError:
                pass  # the process ended while being read
        return total

    @staticmethod
    def save_page(rel, path):
        """A real headless Chromium's picture of the page (its chart holds the scale steps)."""
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        options = webdriver.ChromeOptions()
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1180", "--hide-scrollbars"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
        try:
            driver.set_page_load_timeout(20)
            driver.get("http://127.0.0.1:%d/" % rel.web.port)
            wait_for("the page's speed and chart", lambda: driver.execute_script(
                "const t = document.getElementById('speed').textContent.trim();"
                "return t !== '' && t !== '\u2014'"), timeout=30, interval=0.5)
            time.sleep(2)  # the chart animates its first draw; this is the picture, not a sync
            driver.save_screenshot(path)
            say("page saved to %s (verdict: %s)" % (path, driver.find_element("id", "verdict").text))
        finally:
            driver.quit()

    def step5_bad_release(self, rel):
        say("step 5: the bad release stalls with the old pods mining; helm rollback recovers")
        before = {p["metadata"]["name"] for p in rel.role_pods("worker")}
        rel.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set", "badRelease.enabled=true", timeout=120)
        t0 = time.monotonic()
        status = subprocess.run([self.kubectl_bin, "-n", rel.ns, "rollout", "status", "deployment/%s-worker" % RELEASE,
                                 "--timeout", "30s"], env=self.env, capture_output=True, text=True, timeout=90)
        say("kubectl rollout status --timeout 30s: exit %d after %.0fs: %s" % (
            status.returncode, time.monotonic() - t0, (status.stdout + status.stderr).strip().splitlines()[-1:]))
        check(status.returncode != 0, "the bad release's rollout does not complete")
        pods = rel.role_pods("worker")
        new = [p for p in pods if p["metadata"]["name"] not in before]
        old_ready = [p for p in pods if p["metadata"]["name"] in before and is_ready(p)]
        say("worker pods: %d old Ready, %d new (%s)" % (
            len(old_ready), len(new), ", ".join("%s ready=%s" % (p["metadata"]["name"], is_ready(p)) for p in new)))
        check(len(old_ready) == 10, "every old worker pod is still Ready (%d)" % len(old_ready))
        check(new and not any(is_ready(p) for p in new), "the new worker pods exist and are not Ready")
        rel.ensure_web()
        rate, dh, dt = self.speed(rel, 10.0)
        say("during the stalled rollout: %.2f hashes/s" % rate)
        check(rate > 0.5 * self.measured["daemonset_10"], "the old pods keep mining at speed (%.2f)" % rate)
        t0 = time.monotonic()
        rel.helm("rollback", RELEASE, "--wait", "--timeout", "3m", timeout=240)
        self.wait_rollout(rel, "worker", 10)
        self.wait_all_ready(rel, timeout=120)
        self.measured["rollback_s"] = time.monotonic() - t0
        say("helm rollback: every pod Ready %.1fs later" % self.measured["rollback_s"])
        probes = {json.dumps(c.get("readinessProbe"), sort_keys=True)
                  for p in rel.role_pods("worker") for c in p["spec"]["containers"]}
        check(len(probes) == 1, "after the rollback every worker has the same readiness probe: %s" % probes)

    def step6_sigterm(self, rel):
        say("step 6: helm uninstall; every container stops on SIGTERM, none SIGKILLed")
        rel.stop()
        before = {p["metadata"]["name"]: p for p in rel.pods() if p["status"].get("phase") == "Running"}
        grace = {n: p["spec"].get("terminationGracePeriodSeconds", 30) for n, p in before.items()}
        watch = subprocess.Popen([self.kubectl_bin, "-n", rel.ns, "get", "pods", "--watch", "--output-watch-events",
                                  "-o", "json"], env=self.env, stdout=subprocess.PIPE, text=True)
        seen = {}      # (pod, container) -> terminated state, the last one reported
        deleted_at = {}  # pod -> deletionTimestamp
        gone = set()
        listed = set()
        done = threading.Event()

        def reader():
            dec = json.JSONDecoder()
            buf = ""
            for chunk in iter(lambda: watch.stdout.readline(), ""):
                buf += chunk
                while True:
                    buf = buf.lstrip()
                    try:
                        ev, end = dec.raw_decode(buf)
                    except ValueError:
                        break
                    buf = buf[end:]
                    pod = ev["object"]
                    name = pod["metadata"]["name"]
                    listed.add(name)
                    if pod["metadata"].get("deletionTimestamp"):
                        deleted_at.setdefault(name, pod["metadata"]["deletionTimestamp"])
                    for cs in pod["status"].get("containerStatuses", []):
                        term = cs.get("state", {}).get("terminated") or cs.get("lastState", {}).get("terminated")
                        if term:
                            seen[(name, cs["name"])] = term
                    if ev["type"] == "DELETED":
                        gone.add(name)
                        if before and set(before) <= gone:
                            done.set()
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        # The watch lists the existing pods first; wait until it has, so no event is missed.
        wait_for("the pod watch to list every pod", lambda: set(before) <= listed, timeout=30, interval=0.1)
        t0 = time.monotonic()
        rel.helm("uninstall", RELEASE, "--wait", "--timeout", "3m", timeout=240)
        done.wait(timeout=120)
        elapsed = time.monotonic() - t0
        watch.terminate()
        watch.wait()
        say("uninstall: %d of %d pods gone in %.1fs" % (len(set(before) & gone), len(before), elapsed))
        check(set(before) <= gone, "every pod deleted, left: %s" % sorted(set(before) - gone))
        killed, missing = [], []
        for name, pod in sorted(before.items()):
            for c in pod["spec"]["containers"]:
                term = seen.get((name, c["name"]))
                if term is None:
                    missing.append("%s/%s" % (name, c["name"]))
                    continue
                took = None
                if term.get("finishedAt") and name in deleted_at:
                    took = _ts(term["finishedAt"]) - (_ts(deleted_at[name]) - grace[name])
                say("  %-44s %-10s exit %s, %s%s" % (name, c["name"], term.get("exitCode"), term.get("reason"),
                                                     "" if took is None else ", stopped %.0fs after delete" % took))
                # 137 is SIGKILL (the grace period ran out); every role exits 0 on SIGTERM.
                if term.get("exitCode") != 0 or (took is not None and took > grace[name] + 2):
                    killed.append("%s/%s exit %s" % (name, c["name"], term.get("exitCode")))
        check(not missing, "a terminated state seen for every container, none for %s" % missing)
        check(not killed, "every container exits 0 on SIGTERM within its grace period (137 = SIGKILL): %s"
              % killed)
        self.measured["uninstall_s"] = elapsed

    # --- release 2: faults, with broker, dispatcher and Redis pinned to the first node ----
    def install_faults(self, rel):
        say("release in namespace %s: broker, dispatcher, redis on %s; 2 rng, 2 hasher, 2 webui, 6 workers" % (
            rel.ns, NODE_NAMES[0]))
        pins = []
        for role in ("broker", "dispatcher", "redis"):
            pins += ["--set", "%s.nodeSelector.%s=%s" % (role, PIN, NODE_NAMES[0])]
        rel.helm("install", RELEASE, CHART, "--create-namespace", "--set", "image.pullPolicy=Never",
                 "--set", "rng.replicas=2", "--set", "hasher.replicas=2", "--set", "webui.replicas=2",
                 "--set", "worker.replicas=6", "--set", "audit.cronJob.enabled=true",
                 "--set", "audit.cronJob.schedule=0 0 1 1 *", "--set", "viewer.enabled=true", "--set-json",
                 'viewer.subjects=[{"kind":"User","name":"%s","apiGroup":"rbac.authorization.k8s.io"}]' % VIEWER,
                 *pins, "--wait", "--timeout", "5m", timeout=400)
        self.wait_all_ready(rel)
        pods = rel.pods()
        say("pods: %s" % ", ".join("%s@%s" % (p["metadata"]["name"], p["spec"].get("nodeName")) for p in pods))
        self.dispatcher_uid = rel.role_pods("dispatcher")[0]["metadata"]["uid"]
        wait_for("Redis hashes to grow", lambda: (rel.redis_hashes() or 0) > 0, timeout=60, interval=0.5)

    def step7_rolling(self, rel):
        say("step 7: rolling update of the worker (maxUnavailable 0): hashes grow in every 2 s window")
        with Sampler(rel.redis_hashes) as smp:
            wait_for("two samples", lambda: len(smp.samples) >= 3, timeout=10, interval=0.2)
            t0 = time.monotonic()
            rel.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set-json",
                     'worker.extraEnv=[{"name":"DC_TEST_ROLLOUT","value":"2"}]', timeout=120)
            self.kubectl("-n", rel.ns, "rollout", "status", "deployment/%s-worker" % RELEASE, "--timeout", "180s",
                         timeout=200)
            self.wait_rollout(rel, "worker", 6)
            self.measured["rollout_s"] = time.monotonic() - t0
            n = len(smp.samples)
            wait_for("two samples after the rollout", lambda: len(smp.samples) >= n + 2, timeout=10, interval=0.2)
        envs = {e["value"] for p in rel.role_pods("worker") for e in p["spec"]["containers"][0]["env"]
                if e["name"] == "DC_TEST_ROLLOUT"}
        stalls = smp.stalls(2.0)
        say("rollout of 6 workers in %.1fs; Redis hashes: %s; stalls: %s" % (
            self.measured["rollout_s"], smp.summary(), stalls or "none"))
        check(envs == {"2"}, "every worker pod runs the new template (%s)" % envs)
        check(not stalls, "hashes grow in every 2 s window of the rollout: %s" % stalls)

    def step7b_redis_restart(self, rel):
        """Redis's pod deleted: the StatefulSet brings it back on the same claim, with the
        wallet and the counts (append-only file on the PersistentVolume)."""
        say("step 7b: delete the Redis pod; it returns on the same claim with the books")
        pod = "%s-redis-0" % RELEASE

        def volume():
            p = json.loads(rel.kubectl("get", "pod", pod, "-o", "json", quiet=True))
            claim = [v["persistentVolumeClaim"]["claimName"] for v in p["spec"]["volumes"]
                     if "persistentVolumeClaim" in v][0]
            pvc = json.loads(rel.kubectl("get", "pvc", claim, "-o", "json", quiet=True))
            return p["metadata"]["uid"], claim, pvc["metadata"]["uid"], pvc["spec"]["volumeName"]
        uid0, claim, pvc0, pv0 = volume()
        pv = json.loads(self.kubectl("get", "pv", pv0, "-o", "json", quiet=True))
        by = pv["metadata"].get("annotations", {}).get("pv.kubernetes.io/provisioned-by")
        say("Redis's claim %s is bound to %s, provisioned by %s (class %s, hostPath %s)" % (
            claim, pv0, by, pv["spec"].get("storageClassName"), pv["spec"].get("hostPath", {}).get("path")))
        check(by == "rancher.io/local-path", "the Redis volume was made on demand by the provisioner: %s" % by)
        r = rel.redis()
        h0, c0 = int(r.get("hashes") or 0), r.hlen("wallet")
        t0 = time.monotonic()
        rel.kubectl("delete", "pod", pod, "--wait=true", timeout=120)
        wait_for("the Redis pod back and Ready", lambda: (lambda p: p if p and is_ready(p[0]) and p[0][
            "metadata"]["uid"] != uid0 else None)(rel.role_pods("redis")), timeout=120, interval=0.5)
        self.measured["redis_restart_s"] = time.monotonic() - t0
        uid1, claim1, pvc1, pv1 = volume()
        r = rel.redis()
        h1, c1 = int(r.get("hashes") or 0), r.hlen("wallet")
        say("Redis pod back %.1fs after the delete on claim %s (volume %s, same: %s); hashes %d -> %d, "
            "wallet %d -> %d" % (self.measured["redis_restart_s"], claim1, pv1, (claim1, pvc1, pv1) == (
                claim, pvc0, pv0), h0, h1, c0, c1))
        check((claim1, pvc1, pv1) == (claim, pvc0, pv0), "the new Redis pod uses the same claim and volume")
        check(h1 >= h0 and c1 >= c0, "the wallet and the counts survive the Redis pod: hashes %d -> %d, wallet "
              "%d -> %d" % (h0, h1, c0, c1))
        books_lost = int(r.hget("dc:stats:dispatcher", "books_lost") or 0)
        check(books_lost == 0, "the dispatcher never found its books gone (books_lost %d)" % books_lost)
        h2, h3 = rel.wait_mining("after the Redis restart", timeout=60)
        check(h3 > h2, "mining goes on after the Redis restart: %d -> %d" % (h2, h3))

    def step8_drain(self, rel):
        node = NODE_NAMES[1]
        say("step 8: kubectl drain %s with the chart's PodDisruptionBudgets" % node)
        budget = {}
        for role in ("worker", "rng", "hasher", "webui"):
            budget[role] = rel.deployment(role)["spec"]["replicas"]
        on_node = [p["metadata"]["name"] for p in rel.pods() if p["spec"].get("nodeName") == node]
        say("on %s before the drain: %s" % (node, on_node))
        check(on_node, "the drained node runs pods of the release")
        worst = {}
        stop = threading.Event()

        def watch_ready():
            while not stop.is_set():
                try:
                    pods = rel.pods()
                except AssertionError:  # the API server busy for a moment: ask again
                    pods = None
                for role, want in budget.items() if pods is not None else ():
                    ready = len([p for p in pods if component(p) == role and is_ready(p)])
                    worst[role] = min(worst.get(role, want), ready)
                stop.wait(0.5)
        watcher = threading.Thread(target=watch_ready, daemon=True)
        with Sampler(rel.redis_hashes) as smp:
            watcher.start()
            t0 = time.monotonic()
            self.kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout", "240s",
                         timeout=300)
            self.measured["drain_s"] = time.monotonic() - t0
            for role, want in budget.items():
                self.wait_rollout(rel, role, want)
            n = len(smp.samples)
            wait_for("two samples after the drain", lambda: len(smp.samples) >= n + 2, timeout=10, interval=0.2)
            stop.set()
            watcher.join()
        left = [p["metadata"]["name"] for p in rel.pods() if p["spec"].get("nodeName") == node]
        stalls = smp.stalls(3.0)
        say("drain took %.1fs; fewest Ready pods per role during it: %s (replicas %s); Redis hashes: %s; stalls: %s"
            % (self.measured["drain_s"], worst, budget, smp.summary(), stalls or "none"))
        self.kubectl("uncordon", node)
        check(not left, "no pod of the release left on %s: %s" % (node, left))
        check(all(worst[r] >= budget[r] - 1 for r in budget), "the drain never took more than 1 pod of a role "
              "(maxUnavailable): %s of %s" % (worst, budget))
        check(not stalls, "hashes grow in every 3 s window of the drain: %s" % stalls)

    def step9_stop_node(self, rel):
        node = NODE_NAMES[2]
        say("step 9: cluster stop-node %s (not the node holding Redis, broker, dispatcher)" % node)
        budget = {role: rel.deployment(role)["spec"]["replicas"] for role in ("worker", "rng", "hasher", "webui")}
        on_node = [p["metadata"]["name"] for p in rel.pods() if p["spec"].get("nodeName") == node]
        say("on %s: %s" % (node, on_node))
        t0 = time.monotonic()
        self.cluster("stop-node", node, timeout=120)
        self.stopped_node = node

        def replaced():
            pods = rel.pods()
            for role, want in budget.items():
                ok = [p for p in pods if component(p) == role and is_ready(p) and p["spec"].get("nodeName") != node]
                if len(ok) < want:
                    return None
            return pods
        pods = wait_for("every role back to its replicas on the other nodes", replaced, timeout=180, interval=1)
        self.measured["node_replaced_s"] = time.monotonic() - t0
        say("%.1fs after the stop every role has its replicas Ready elsewhere: %s" % (
            self.measured["node_replaced_s"], ", ".join("%s@%s" % (p["metadata"]["name"], p["spec"].get("nodeName"))
                                                         for p in pods if is_ready(p))))
        h0, h1 = rel.wait_mining("after the node loss")
        check(h1 > h0, "mining goes on without %s: %d -> %d" % (node, h0, h1))

    def step10_books(self, rel):
        say("step 10: the books: SIGTERM the dispatcher (alive since the install), compare with Redis")
        disp = rel.role_pods("dispatcher")
        check(len(disp) == 1 and disp[0]["metadata"]["uid"] == self.dispatcher_uid and
              disp[0]["status"]["containerStatuses"][0]["restartCount"] == 0,
              "the dispatcher pod is the one installed, never restarted")
        r = rel.redis()
        rel.kubectl("scale", "deployment/%s-dispatcher" % RELEASE, "--replicas=0")
        wait_for("the dispatcher pod gone", lambda: not rel.role_pods("dispatcher") and not [
            p for p in rel.pods(live=False) if component(p) == "dispatcher"], timeout=60, interval=0.2)
        books = {k.decode(): v.decode() for k, v in r.hgetall("dc:stats:dispatcher").items()}
        check(books, "the dispatcher's last stats are in Redis (they expire 10 s after its last write)")
        issued, counted, in_flight = (int(books[k]) for k in ("issued", "counted", "in_flight"))
        hashes, coins = int(r.get("hashes") or 0), int(books["coins"])
        wallet = r.hgetall("wallet")
        forged = [d for d, data in wallet.items()
                  if hashlib.sha256(data).hexdigest() != d.decode() or not d.startswith(b"0")]
        self.measured["books_hashes"] = hashes
        say("books: issued %d = counted %d + in flight %d; hashes %s (Redis %d), coins %d (wallet %d entries), "
            "reissued %s, duplicates %s, stale %s" % (issued, counted, in_flight, books["hashes"], hashes, coins,
                                                      len(wallet), books.get("reissued"), books.get("duplicates"),
                                                      books.get("stale")))
        check(issued == counted + in_flight, "issued = counted + in flight")
        check(int(books["hashes"]) == hashes, "Redis holds exactly the dispatcher's hashes")
        check(len(wallet) == coins, "the wallet holds exactly the dispatcher's coins")
        check(not forged, "every wallet entry is a real coin: %s" % forged[:3])

    def step_namespaces(self, a, b):
        """Two releases at once in two namespaces: each its own Redis and pipeline."""
        say("namespaces: releases in %s and %s mine at once, each with its own Redis and pipeline" % (a.ns, b.ns))
        for rel in (a, b):
            r = rel.redis()
            h0, _ = rel.wait_mining("with both releases up")
            rngs, workers = len(rel.role_pods("rng")), len(rel.role_pods("worker"))
            seen = wait_for("%s's broker and dispatcher to count only its own pods" % rel.ns, lambda: (
                lambda st: st if st[0] == rngs and st[1] == workers else None)(
                (int(r.hget("dc:stats:rng", "instances") or 0), int(r.hget("dc:stats:worker", "workers") or 0))),
                timeout=30, interval=0.5)
            say("%s: hashes grow from %d; its broker sees %d rng processes and its dispatcher %d workers "
                "(its own pods: %d rng, %d workers)" % (rel.ns, h0, seen[0], seen[1], rngs, workers))
            check(seen == (rngs, workers), "%s counts only its own rng and workers" % rel.ns)
        self.faults_uids = {p["metadata"]["uid"] for p in b.pods()}

    def step_untouched(self, rel):
        """After the other release's uninstall, this one has the same pods, all Ready, mining."""
        pods = rel.pods()
        uids = {p["metadata"]["uid"] for p in pods}
        h0, h1 = rel.wait_mining("after the other release's uninstall")
        say("%s after the other release's uninstall: %d pods, the same %s, all Ready: %s; hashes %d -> %d" % (
            rel.ns, len(pods), uids == self.faults_uids, all(is_ready(p) for p in pods), h0, h1))
        check(uids == self.faults_uids and all(is_ready(p) for p in pods),
              "uninstalling one release leaves the other's pods untouched")

    def step_viewer(self, rel):
        say("access control: %s (the chart's viewer Role) can look but not touch" % VIEWER)
        want = {("get", "pods"): "yes", ("list", "deployments"): "yes", ("get", "pods/log"): "yes",
                ("delete", "pods"): "no", ("get", "secrets"): "no", ("create", "pods/exec"): "no",
                ("patch", "deployments"): "no"}
        got = {}
        for (verb, res), ans in want.items():
            got[(verb, res)] = rel.kubectl("auth", "can-i", verb, res, "--as", VIEWER, check_rc=False,
                                           quiet=True).strip()
        other = self.kubectl("-n", "kube-system", "auth", "can-i", "get", "pods", "--as", VIEWER, check_rc=False,
                             quiet=True).strip()
        say("kubectl auth can-i --as %s: %s; get pods in kube-system: %s" % (
            VIEWER, ", ".join("%s %s %s" % (v, r, a) for (v, r), a in got.items()), other))
        check(got == want, "the viewer may get/list/watch and read logs, not delete, patch, exec or read "
              "Secrets: %s" % got)
        check(other == "no", "the viewer sees nothing outside the release's namespace")
        sa = [p["metadata"]["name"] for p in rel.pods() if p["spec"].get("automountServiceAccountToken") is not False]
        check(not sa, "no pod mounts a ServiceAccount token: %s" % sa)

    def step_canary(self, rel):
        """Canary and blue/green: 1 canary worker of 10 does ~10 % of the hashes (the
        dispatcher's per-track counts over >= 30 s); the webui's Service switched blue ->
        green -> blue with `helm upgrade --reuse-values` while a pod polls /json through the
        Service's DNS name every 150 ms: no poll fails and the answering color changes.
        Then back to the release's own values (6 stable workers, one webui Deployment)."""
        say("canary: 9 stable + 1 canary worker; the webui as blue/green (blue active)")
        t0 = time.monotonic()
        stable = int(rel.deployment("worker")["spec"]["replicas"])
        rel.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set", "worker.replicas=9",
                 "--set", "worker.canary.enabled=true", "--set", "worker.canary.replicas=1",
                 "--set", "webui.blueGreen.enabled=true", "--set", "webui.blueGreen.active=blue",
                 "--wait", "--timeout", "3m", timeout=200)
        canary = rel.pods("track=canary")
        check(len(canary) == 1 and len(rel.pods("track=stable")) == 9,
              "1 canary and 9 stable worker pods: %s" % [p["metadata"]["name"] for p in canary])
        check(all(e["value"] == "canary" for e in canary[0]["spec"]["containers"][0]["env"]
                  if e["name"] == "DC_TRACK"), "the canary pod runs with DC_TRACK=canary")
        r = rel.redis()

        def tracks():
            return {k.decode(): int(v) for k, v in r.hgetall("dc:stats:tracks").items()}
        wait_for("the dispatcher to count 10 workers", lambda: int(r.hget("dc:stats:worker", "workers") or 0) == 10,
                 timeout=60, interval=0.5)
        a = wait_for("both tracks counted", lambda: (lambda t: t if t.get("hashes.canary") else None)(tracks()),
                     timeout=30, interval=0.5)
        b = wait_for("a snapshot >= 30 s later", lambda: (
            lambda t: t if t.get("ts_ms", 0) >= a["ts_ms"] + 30000 else None)(tracks()), timeout=60, interval=1)
        grown = {k[7:]: b[k] - a.get(k, 0) for k in b if k.startswith("hashes.")}
        share = grown.get("canary", 0) / max(1, sum(grown.values()))
        self.measured["canary_share_pct"] = 100 * share
        say("over %.1f s: %s; canary %.1f %% of the hashes (1 of 10 workers)" % (
            (b["ts_ms"] - a["ts_ms"]) / 1000, grown, 100 * share))
        check(sum(grown.values()) > 100 and 0.05 <= share <= 0.16,
              "the canary does 5-16 %% of the hashes: %.1f %% of %s" % (100 * share, grown))
        rel.ensure_web()
        snap = self.snapshot(rel, lambda sn: (sn.get("tracks") or {}).get("text"), timeout=20)
        say("the page says: hashes by track: %s" % snap["tracks"]["text"])
        check("canary" in snap["tracks"]["text"] and "stable" in snap["tracks"]["text"],
              "the page shows each track's share")
        self.blue_green(rel)
        rel.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set", "worker.replicas=%d" % stable,
                 "--set", "worker.canary.enabled=false", "--set", "webui.blueGreen.enabled=false",
                 "--wait", "--timeout", "3m", timeout=200)
        self.wait_rollout(rel, "worker", stable)
        check(not rel.pods("track=canary") and not rel.pods("color"),
              "canary and blue/green off again: no canary or colored pod left")
        self.measured["canary_step_s"] = time.monotonic() - t0

    def blue_green(self, rel):
        """Switches the webui Service blue -> green -> blue while a pod in the namespace polls
        /json through it every 150 ms, each poll a new connection, logging status and the
        X-Dc-Instance header. Every poll must answer 200 with the counts."""
        host = "%s-webui" % RELEASE
        script = r"""
while :; do
  t=$EPOCHREALTIME st=ERR inst=- ok=0
  if exec 3<>/dev/tcp/$HOST/${PORT:-80}; then
    printf 'GET /json HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&3
    while IFS= read -r -t 3 line <&3 || [ -n "$line" ]; do
      line=${line%$'\r'}
      case "$line" in
        HTTP/*) st=${line#* }; st=${st%% *} ;;
        X-Dc-Instance:*) inst=${line#*: } ;;
        *'"hashes"'*) ok=1 ;;
      esac
      line=
    done
    exec 3<&-
  fi
  echo "poll $t $st $inst $ok"
  sleep 0.15
done"""
        sec = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
               "runAsUser": 10001, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "poll-webui"},
               "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                        "terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "poll", "image": IMAGE, "imagePullPolicy": "Never",
                                        "command": ["bash", "-c", script], "env": [{"name": "HOST", "value": host}],
                                        "securityContext": sec}]}}
        p = subprocess.run([self.kubectl_bin, "-n", rel.ns, "apply", "-f", "-"], input=json.dumps(pod), text=True,
                           env=self.env, capture_output=True, timeout=60)
        check(p.returncode == 0, "poller pod created: %s%s" % (p.stdout, p.stderr))
        polls = []

        def fetch():
            """Every poll so far, from the pod's log: (t, status, instance, counts seen)."""
            out = rel.kubectl("logs", "poll-webui", check_rc=False, quiet=True, stderr=True)
            got = []
            for line in out.split("\n"):
                f = line.split(" ")
                if len(f) == 5 and f[0] == "poll":
                    got.append((float(f[1]), f[2], f[3], f[4] == "1"))
            polls[:] = got
            return got

        def color_now(color, n=5):
            """The last n polls all answered by `color`."""
            last = fetch()[-n:]
            return len(last) == n and all("-webui-%s-" % color in p[2] for p in last)
        try:
            # (a new pod's container has taken up to a minute to start on this busy machine)
            t0 = time.monotonic()
            wait_for("the poller's first poll", fetch, timeout=180, interval=1)
            say("the poller polls %.1f s after its creation" % (time.monotonic() - t0))
            wait_for("blue answering", lambda: color_now("blue"), timeout=30, interval=0.5)
            for color in ("green", "blue"):
                t0 = time.monotonic()
                rel.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set", "webui.blueGreen.active=" + color,
                         timeout=120)
                wait_for("%s answering" % color, lambda: color_now(color), timeout=60, interval=0.5)
                self.measured["switch_to_%s_s" % color] = time.monotonic() - t0
            n = len(polls)
            wait_for("20 more polls", lambda: len(fetch()) >= n + 20, timeout=30, interval=0.5)
        finally:
            fetch()
            say("poller: %d polls; last: %s" % (len(polls), polls[-1:]))
            rel.kubectl("delete", "pod", "poll-webui", "--wait=false", check_rc=False, quiet=True)
        failed = [p for p in polls if p[1] != "200" or not p[3]]
        order = []
        for p in polls:
            c = "blue" if "-webui-blue-" in p[2] else "green" if "-webui-green-" in p[2] else p[2]
            if not order or order[-1][0] != c:
                order.append([c, 0])
            order[-1][1] += 1
        gaps = [b[0] - a[0] for a, b in zip(polls, polls[1:])]
        self.measured["bluegreen_polls"] = len(polls)
        self.measured["bluegreen_failed"] = len(failed)
        say("blue/green: %d polls of /json through service/%s over %.1f s (max gap %.2f s), %d failed; "
            "answered by %s" % (len(polls), host, polls[-1][0] - polls[0][0] if polls else 0,
                                max(gaps) if gaps else 0, len(failed), " -> ".join("%s x%d" % tuple(o) for o in order)))
        check(len(polls) > 50 and not failed, "every poll of /json answered 200 through the switches: %s" % failed[:5])
        check([o[0] for o in order] == ["blue", "green", "blue"],
              "the answering color goes blue -> green -> blue: %s" % order)

    def step10b_audit(self, rel):
        """dc-audit as a Job of the chart's CronJob: passes on the real books, fails at once
        naming one forged entry."""
        say("step 10b: dc-audit as a batch Job: passes on these books, fails on a forged coin")
        r = rel.redis()

        def job(name):
            rel.kubectl("create", "job", name, "--from=cronjob/%s-audit" % RELEASE)
            st = wait_for("job %s to finish" % name, lambda: (lambda st: st if st.get("succeeded") or st.get(
                "failed") else None)(json.loads(rel.kubectl("get", "job", name, "-o", "json", quiet=True))["status"]),
                timeout=120, interval=0.5)
            return st, rel.kubectl("logs", "job/" + name, quiet=True)
        st, log = job("audit-ok")
        say("audit-ok: %s; %s" % ({k: v for k, v in st.items() if k in ("succeeded", "failed")},
                                  log.strip().splitlines()[-1:]))
        check(st.get("succeeded") == 1 and "dc-audit: OK" in log, "dc-audit passes on the books:\n" + log)
        forged = "0" * 64
        r.hset("wallet", forged, b"forged")
        try:
            st, log = job("audit-forged")
            say("audit-forged: %s; %s" % ({k: v for k, v in st.items() if k in ("succeeded", "failed")},
                                          log.strip().splitlines()[-1:]))
            check(st.get("failed") == 1 and "Failed" in {c["type"] for c in st.get("conditions", [])},
                  "a forged entry fails the Job at once, no retry: %s" % st)
            check(forged in log and "dc-audit: FAILED" in log, "its log names the entry:\n" + log)
        finally:
            r.hdel("wallet", forged)

    def step11_priorities(self, rel):
        say("step 11: a full cluster preempts workers, never the pipeline's shared roles")
        classes = {p["spec"].get("priorityClassName") for p in rel.pods() if component(p) != "worker"}
        wclasses = {p["spec"].get("priorityClassName") for p in rel.role_pods("worker")}
        say("priority classes: shared roles %s, workers %s" % (classes, wclasses))
        check(classes == {"%s-%s-pipeline" % (rel.ns, RELEASE)} and wclasses == {"%s-%s-worker" % (rel.ns, RELEASE)},
              "every pod has its class")
        rel.kubectl("scale", "deployment/%s-dispatcher" % RELEASE, "--replicas=1")
        rel.kubectl("scale", "deployment/%s-worker" % RELEASE, "--replicas=0")
        self.wait_rollout(rel, "dispatcher", 1)
        # Big CPU requests make the nodes full with a few pods; the sleeping roles use
        # next to nothing, so the machine itself is not loaded by this.
        rel.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set", "worker.replicas=%d" % FILL_WORKERS,
                 "--set", "worker.resources.requests.cpu=%s" % FILL_CPU, "--set", "rng.replicas=1",
                 "--set", "rng.resources.requests.cpu=%s" % FILL_CPU, timeout=120)
        self.wait_rollout(rel, "rng", 1)

        def full():
            pods = rel.role_pods("worker")
            running = [p for p in pods if is_ready(p)]
            pending = [p for p in pods if any(c["type"] == "PodScheduled" and c["status"] == "False"
                                              for c in p["status"].get("conditions", []))]
            return (running, pending) if running and pending and len(running) + len(pending) == len(pods) else None
        running, pending = wait_for("the cluster full: workers Ready and workers Pending", full, timeout=180,
                                    interval=1)
        say("cluster full: %d workers Ready, %d Pending (each asks %s CPU)" % (len(running), len(pending), FILL_CPU))
        t0 = time.monotonic()
        rel.kubectl("scale", "deployment/%s-rng" % RELEASE, "--replicas=%d" % FILL_RNG)
        self.wait_rollout(rel, "rng", FILL_RNG)
        self.measured["preempt_s"] = time.monotonic() - t0
        events = json.loads(rel.kubectl("get", "events", "--field-selector", "reason=Preempted", "-o", "json",
                                        quiet=True))["items"]
        victims = sorted({e["involvedObject"]["name"] for e in events})
        ready_workers = [p for p in rel.role_pods("worker") if is_ready(p)]
        say("%d rng pods Ready %.1fs after the scale; preempted: %s; %d workers still Ready" % (
            FILL_RNG, self.measured["preempt_s"], victims, len(ready_workers)))
        check(victims and all(v.startswith("%s-worker-" % RELEASE) for v in victims),
              "the new rng pods preempted workers, and only workers: %s" % victims)
        h0, h1 = rel.wait_mining("after the preemption")
        check(h1 > h0, "mining goes on: %d -> %d" % (h0, h1))

    # --- page helpers ----------------------------------------------------------------------
    def snapshot(self, rel, cond, timeout=30):
        """The first /events snapshot for which cond(snapshot) holds (raises at the deadline)."""
        deadline = time.monotonic() + timeout
        last = None
        with socket.create_connection(("127.0.0.1", rel.web.port), timeout=10) as sock:
            sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
            f = sock.makefile("rb")
            status = f.readline().decode()
            check(" 200 " in status, "/events answers 200, got %r" % status)
            while f.readline().strip():
                pass
            kind, data = "message", []
            while time.monotonic() < deadline:
                line = f.readline()
                if not line:
                    break
                line = line.decode().rstrip("\r\n")
                if line == "":
                    if data and kind == "message":
                        last = json.loads("\n".join(data))
                        if cond(last):
                            return last
                    kind, data = "message", []
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
        raise AssertionError("no /events snapshot matched within %ds; last: %s" % (
            timeout, json.dumps(last)[:2000] if last else None))

    @staticmethod
    def speed(rel, seconds=MEASURE_S):
        """Hashes per second from the /json counter, between two of its changes >= seconds apart.
        The dispatcher writes the counter once a second, so measuring from change to change
        keeps the window aligned with its writes."""
        def changed(since):
            return lambda: (lambda h: (h, time.monotonic()) if h is not None and h != since else None)(
                rel.hashes())
        h0 = rel.hashes()
        h_a, t_a = wait_for("the hash count to move", changed(h0), timeout=30, interval=0.1)
        end = t_a + seconds
        while time.monotonic() < end:
            time.sleep(min(0.5, max(0.0, end - time.monotonic())))  # the window being measured
        h_b, t_b = wait_for("the hash count to move", changed(rel.hashes()), timeout=30, interval=0.1)
        return (h_b - h_a) / (t_b - t_a), h_b - h_a, t_b - t_a


def _ts(s):
    """Seconds since the epoch of an RFC 3339 timestamp like 2026-12-02T14:00:00Z."""
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


# The driver's steps in order; --only picks some, and each brings the steps it needs
# (the installs of its releases, and the state a step reads from an earlier one).
STEPS = ["install", "secrets", "netpol", "scale", "daemonset", "bad-release", "keda", "hpa", "faults", "namespaces",
         "sigterm", "untouched", "viewer", "canary", "rolling", "redis-restart", "drain", "stop-node", "books",
         "audit", "priorities"]
FAULTS_STEPS = STEPS[STEPS.index("faults") + 1:]
NEEDS = {"daemonset": {"scale"}, "namespaces": {"install", "faults"}, "sigterm": {"install"},
         "untouched": {"namespaces", "sigterm"}}


def plan(s, only):
    """[(name, call)] of the steps to run for the set of step names only."""
    want = set(only)
    while True:
        more = set(want)
        for name in want:
            more |= NEEDS.get(name, set())
            if name in FAULTS_STEPS:
                more.add("faults")
            elif name != "faults":
                more.add("install")
        if more == want:
            break
        want = more
    rel = s.release("default")
    faults = s.release(FAULTS_NS)
    calls = {
        "install": lambda: s.step1_install(rel), "secrets": lambda: s.step2_secrets(rel),
        "netpol": lambda: s.step_netpol(rel), "scale": lambda: s.step3_scale(rel),
        "daemonset": lambda: s.step4_daemonset(rel), "bad-release": lambda: s.step5_bad_release(rel),
        "keda": lambda: s.step_keda(rel), "hpa": lambda: s.step_cpu_hpa(rel),
        "faults": lambda: s.install_faults(faults), "namespaces": lambda: s.step_namespaces(rel, faults),
        "sigterm": lambda: s.step6_sigterm(rel), "untouched": lambda: s.step_untouched(faults),
        "viewer": lambda: s.step_viewer(faults), "canary": lambda: s.step_canary(faults),
        "rolling": lambda: s.step7_rolling(faults),
        "redis-restart": lambda: s.step7b_redis_restart(faults), "drain": lambda: s.step8_drain(faults),
        "stop-node": lambda: s.step9_stop_node(faults), "books": lambda: s.step10_books(faults),
        "audit": lambda: s.step10b_audit(faults), "priorities": lambda: s.step11_priorities(faults)}
    return [(name, calls[name]) for name in STEPS if name in want]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.environ.get("DC_K8S_DIR") or os.path.join(ROOT, "build-k8s-test"),
                    help="the cluster's state folder")
    ap.add_argument("--keep", action="store_true", help="leave the cluster running at the end")
    ap.add_argument("--screenshot", metavar="PNG", help="save the page after the DaemonSet step (a real "
                    "headless Chromium; docs/k8s-scaling.png is made this way)")
    ap.add_argument("--only", metavar="STEP[,STEP]", help="run only these steps (and the installs they "
                    "need), in the usual order: " + ", ".join(STEPS))
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else set(STEPS)
    unknown = only - set(STEPS)
    if unknown:
        ap.error("unknown step(s) %s; the steps: %s" % (", ".join(sorted(unknown)), ", ".join(STEPS)))
    why = skip_reason()
    if why:
        print("k8s: SKIP: " + why, flush=True)
        return 77
    lock = take_cluster_lock()  # noqa: F841 - held (open) until the process exits
    t0 = time.monotonic()
    s = Suite(os.path.abspath(args.dir))
    s.screenshot = args.screenshot and os.path.abspath(args.screenshot)
    ok = False
    try:
        s.prepare()
        for name, step in plan(s, only):
            say("--- %s" % name)
            step()
        ok = True
    except BaseException:
        traceback.print_exc()
        say("FAILED after %d checks passed" % check.passed)
        try:
            out = run([CLUSTER, "logs", "--dir", s.dir], timeout=300, check_rc=False)
            say("log bundle: " + out.strip())
        except Exception as e:  # noqa: BLE001 - the bundle is best effort; the failure is reported above
            say("writing the log bundle failed: %s" % e)
    finally:
        s.cleanup()
        if not args.keep:
            p = subprocess.run([CLUSTER, "down", "--dir", s.dir], timeout=600)
            if p.returncode != 0:
                say("cluster down failed (exit %d): run `%s down --dir %s`" % (p.returncode, CLUSTER, s.dir))
                ok = False
    say("measured: " + ", ".join("%s=%.2f" % kv for kv in s.measured.items()))
    say("%s: %d checks passed in %.0fs" % ("PASS" if ok else "FAIL", check.passed, time.monotonic() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
