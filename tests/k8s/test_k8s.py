#!/usr/bin/python3
"""The k8s suite's driver: the workshop's Kubernetes chapter on a real 3-node cluster.

Builds the project images (Docker's cache makes a warm build a few seconds), starts
`tests/k8s/cluster up --nodes 3` in its own folder, imports the images into every node,
then runs, in order, each step an assertion that can fail:

  1. `helm install dockercoins ./helm/dockercoins --wait` (pullPolicy Never, security on):
     every pod Ready; /json through `kubectl port-forward` (127.0.0.1, a free port) shows
     the hash count growing; `helm test` passes.
  2. `kubectl scale deployment/dockercoins-worker --replicas=1, 2, 3, 10`: the speed, from
     the /json hashes counter over >= 20 s, fits the model with wide bands for a busy
     machine; at 10 workers the webui's /events snapshot names rng as the bottleneck.
  3. `helm upgrade --reuse-values --set rng.kind=DaemonSet`: 3 rng pods on 3 distinct
     nodes, and 10 workers then mine more than 1.8x the 1-rng rate (model ~30).
  4. `helm uninstall`: every container stops on SIGTERM within its grace period with exit
     code 0 (137 would be SIGKILL), read from a watch on the pods until they are gone.

`cluster down` always runs at the end; on failure `cluster logs` writes a log bundle first
and its path is printed. Exits 0 when every check passed, 1 on failure, 77 (skip) only
when not root or no Docker engine answers.

Usage: [DC_K8S_DIR=DIR] /usr/bin/python3 tests/k8s/test_k8s.py [--keep]
  DC_K8S_DIR  the cluster's state folder (default <repo>/build-k8s-test). An environment
              variable, not an option, on purpose: `cluster down` refuses to finish while a
              live process has the folder as an argument, and this one would.
  --keep      leave the cluster running at the end (for debugging; `cluster down` later)
"""

import argparse
import calendar
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "pipeline"))
from dcrig import Checks, free_port, wait_for  # noqa: E402

CLUSTER = os.path.join(HERE, "cluster")
RELEASE = "dockercoins"
CHART = os.path.join(ROOT, "helm", "dockercoins")
IMAGE = "dockercoins:0.1.0"
REDIS_IMAGE = "dockercoins-redis:0.1.0"
NODES = 3
# Speed bands (hashes/s) per worker count with 1 rng: the model says 3.3 per worker up to
# rng's ceiling of 10 (one request at a time, 100 ms each); wide for a busy 2-core machine.
BANDS = {1: (2.3, 3.6), 2: (4.6, 7.0), 3: (6.5, 10.5), 10: (7.0, 10.5)}
MEASURE_S = 20.0
DAEMONSET_LIFT = 1.8

check = Checks()


def say(msg):
    print("k8s: " + msg, flush=True)


def run(cmd, env=None, timeout=600, check_rc=True, quiet=False):
    """Run cmd (a list), return its stdout; raise AssertionError with its output on failure."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if not quiet:
        say("$ %s  (exit %d, %.1fs)" % (" ".join(cmd), p.returncode, time.monotonic() - t0))
    if check_rc and p.returncode != 0:
        raise AssertionError("%s failed (exit %d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout


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
        self.forward = None
        self.port = None
        self.measured = {}

    # --- tools ---------------------------------------------------------------------------
    def kubectl(self, *args, **kw):
        return run([self.kubectl_bin] + list(args), env=self.env, **kw)

    def helm(self, *args, **kw):
        return run([self.helm_bin] + list(args), env=self.env, **kw)

    def cluster(self, *args, **kw):
        out = run([CLUSTER] + list(args) + ["--dir", self.dir], **kw)
        print(out, end="", flush=True)
        return out

    def pods(self, selector=None):
        args = ["get", "pods", "-o", "json"] + (["-l", selector] if selector else [])
        return json.loads(self.kubectl(*args, quiet=True))["items"]

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
        try:
            self.cluster("up", "--nodes", str(NODES), timeout=900)
        except AssertionError as e:
            # Known race in `cluster up` (not in the chart): the kubelets share the mount
            # namespace and the fixed /var/lib/kubelet/device-plugins/kubelet.sock, so two
            # starting at once can fail with "bind: address already in use". One retry.
            if "kubelet exited" not in str(e):
                raise
            say("cluster up failed with a kubelet exit (device-plugin socket race?): %s" % e)
            say("retrying once after cluster down")
            subprocess.run([CLUSTER, "down", "--dir", self.dir], timeout=600)
            self.cluster("up", "--nodes", str(NODES), timeout=900)
        self.measured["up_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        self.cluster("images", IMAGE, REDIS_IMAGE, timeout=900)
        self.measured["import_s"] = time.monotonic() - t0
        nodes = json.loads(self.kubectl("get", "nodes", "-o", "json", quiet=True))["items"]
        ready = [n["metadata"]["name"] for n in nodes
                 if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
        say("nodes Ready: %s (up %.1fs, images imported in %.1fs)" % (
            ready, self.measured["up_s"], self.measured["import_s"]))
        check(len(ready) == NODES, "%d nodes Ready, got %s" % (NODES, ready))

    # --- the page, from the host ---------------------------------------------------------
    def start_forward(self):
        self.port = free_port()
        self.forward = subprocess.Popen(
            [self.kubectl_bin, "port-forward", "--address", "127.0.0.1",
             "service/%s-webui" % RELEASE, "%d:80" % self.port],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._drain_forward, args=(self.forward,), daemon=True).start()
        wait_for("/json through port-forward on 127.0.0.1:%d" % self.port, lambda: self.hashes() is not None,
                 timeout=60, interval=0.5)
        say("kubectl port-forward service/%s-webui on 127.0.0.1:%d" % (RELEASE, self.port))

    @staticmethod
    def _drain_forward(proc):
        for line in proc.stdout:
            if "Handling connection" not in line:
                print("port-forward: " + line.rstrip(), flush=True)

    def stop_forward(self):
        if self.forward and self.forward.poll() is None:
            self.forward.terminate()
            try:
                self.forward.wait(10)
            except subprocess.TimeoutExpired:
                self.forward.kill()
                self.forward.wait()

    def ensure_forward(self):
        """port-forward binds to one pod; restart it if it died (e.g. its pod went away)."""
        if self.forward is None or self.forward.poll() is not None:
            self.start_forward()

    def json(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/json" % self.port, timeout=5) as r:
            return json.loads(r.read())

    def hashes(self):
        try:
            h = self.json().get("hashes")
        except (OSError, ValueError):
            return None
        return int(h) if h is not None else None

    def snapshot(self, cond, timeout=30):
        """The first /events snapshot for which cond(snapshot) holds (raises at the deadline)."""
        deadline = time.monotonic() + timeout
        last = None
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
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

    def speed(self, seconds=MEASURE_S):
        """Hashes per second from the /json counter, between two of its changes >= seconds apart.
        The dispatcher writes the counter once a second, so measuring from change to change
        keeps the window aligned with its writes."""
        def changed(since):
            return lambda: (lambda h: (h, time.monotonic()) if h is not None and h != since else None)(
                self.hashes())
        h0 = self.hashes()
        h_a, t_a = wait_for("the hash count to move", changed(h0), timeout=30, interval=0.1)
        end = t_a + seconds
        while time.monotonic() < end:
            time.sleep(min(0.5, max(0.0, end - time.monotonic())))  # the window being measured
        h_b, t_b = wait_for("the hash count to move", changed(self.hashes()), timeout=30, interval=0.1)
        return (h_b - h_a) / (t_b - t_a), h_b - h_a, t_b - t_a

    # --- waits ---------------------------------------------------------------------------
    def all_pods_ready(self):
        pods = [p for p in self.pods() if p["status"].get("phase") != "Succeeded"
                and not p["metadata"].get("deletionTimestamp")]
        not_ready = [p["metadata"]["name"] for p in pods
                     if not any(c["type"] == "Ready" and c["status"] == "True"
                                for c in p["status"].get("conditions", []))]
        return (pods, not_ready)

    def wait_all_ready(self, timeout=180):
        def cond():
            pods, not_ready = self.all_pods_ready()
            return pods if pods and not not_ready else None
        return wait_for("every pod Ready", cond, timeout=timeout, interval=1)

    def wait_workers(self, n, timeout=180):
        def cond():
            out = self.kubectl("get", "deployment/%s-worker" % RELEASE, "-o", "json", quiet=True)
            st = json.loads(out)["status"]
            ready = st.get("readyReplicas", 0)
            return ready == n and st.get("replicas") == n and st.get("updatedReplicas") == n
        wait_for("%d worker pods Ready" % n, cond, timeout=timeout, interval=1)

    # --- the checks ----------------------------------------------------------------------
    def step1_install(self):
        say("step 1: helm install, every pod Ready, /json growing, helm test")
        t0 = time.monotonic()
        self.helm("install", RELEASE, CHART, "--set", "image.pullPolicy=Never", "--wait", "--timeout", "5m",
                  timeout=400)
        pods = self.wait_all_ready()
        self.measured["install_ready_s"] = time.monotonic() - t0
        roles = sorted({p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods})
        say("%d pods Ready %.1fs after helm install started: %s" % (
            len(pods), self.measured["install_ready_s"], ", ".join(
                "%s@%s" % (p["metadata"]["name"], p["spec"].get("nodeName")) for p in pods)))
        check(roles == ["broker", "dispatcher", "hasher", "redis", "rng", "webui", "worker"],
              "every role has a Ready pod, got %s" % roles)
        self.start_forward()
        first = wait_for("a hash count on /json", self.hashes, timeout=60, interval=0.5)
        later = wait_for("the hash count to grow past %d" % first,
                         lambda: (lambda h: h if h is not None and h > first else None)(self.hashes()),
                         timeout=60, interval=0.5)
        say("/json hashes %d -> %d" % (first, later))
        check(later > first, "hashes grow")
        # No --logs: the hook pod is deleted as soon as it succeeds (hook-succeeded policy).
        t0 = time.monotonic()
        out = self.helm("test", RELEASE, "--timeout", "3m", timeout=240)
        phase = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Phase:")]
        say("helm test: phase %s in %.1fs" % (phase, time.monotonic() - t0))
        check(phase == ["Succeeded"], "helm test passes:\n" + out)

    def step2_scale(self):
        say("step 2: kubectl scale worker 1, 2, 3, 10 with 1 rng")
        for n in (1, 2, 3, 10):
            t0 = time.monotonic()
            self.kubectl("scale", "deployment/%s-worker" % RELEASE, "--replicas=%d" % n)
            self.wait_workers(n)
            t_ready = time.monotonic() - t0
            self.ensure_forward()
            rate, dh, dt = self.speed()
            lo, hi = BANDS[n]
            self.measured["workers_%d" % n] = rate
            say("%2d workers: Ready in %.1fs, %.2f hashes/s (%d hashes in %.1fs), band %.1f-%.1f" % (
                n, t_ready, rate, dh, dt, lo, hi))
            check(lo <= rate <= hi, "%d workers: %.2f hashes/s outside %.1f-%.1f" % (n, rate, lo, hi))
        snap = self.snapshot(lambda s: (s.get("bottleneck") or {}).get("stage") == "rng", timeout=30)
        say("10 workers: /events bottleneck %s: %s" % (snap["bottleneck"]["stage"], snap["bottleneck"].get("text")))
        check(snap["bottleneck"]["stage"] == "rng", "the page names rng at 10 workers")

    def step3_daemonset(self):
        say("step 3: helm upgrade --set rng.kind=DaemonSet")
        self.helm("upgrade", RELEASE, CHART, "--reuse-values", "--set", "rng.kind=DaemonSet", "--wait",
                  "--timeout", "5m", timeout=400)

        def rng_spread():
            pods = [p for p in self.pods("app.kubernetes.io/component=rng")
                    if not p["metadata"].get("deletionTimestamp")]
            ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in p["status"].get("conditions", []))]
            owners = {o["kind"] for p in pods for o in p["metadata"].get("ownerReferences", [])}
            if len(pods) == NODES and len(ready) == NODES and owners == {"DaemonSet"}:
                return pods
            return None
        pods = wait_for("%d rng pods of the DaemonSet, all Ready" % NODES, rng_spread, timeout=120, interval=1)
        nodes = sorted(p["spec"]["nodeName"] for p in pods)
        say("rng pods: %s" % ", ".join("%s@%s" % (p["metadata"]["name"], p["spec"]["nodeName"]) for p in pods))
        check(len(set(nodes)) == NODES, "one rng pod per node, got nodes %s" % nodes)
        replicas = json.loads(self.kubectl("get", "deployment/%s-worker" % RELEASE, "-o", "json",
                                           quiet=True))["spec"]["replicas"]
        say("worker replicas after the upgrade: %d%s" % (
            replicas, "" if replicas == 10 else " (helm restored the chart's worker.replicas; scaling to 10 again)"))
        if replicas != 10:
            self.kubectl("scale", "deployment/%s-worker" % RELEASE, "--replicas=10")
        self.wait_workers(10)
        self.ensure_forward()
        rate, dh, dt = self.speed()
        base = self.measured["workers_10"]
        self.measured["daemonset_10"] = rate
        say("DaemonSet (3 rng), 10 workers: %.2f hashes/s (%d in %.1fs), %.2fx the 1-rng %.2f" % (
            rate, dh, dt, rate / base, base))
        check(rate > DAEMONSET_LIFT * base, "3 rng lift the speed above %.1fx %.2f, got %.2f" % (
            DAEMONSET_LIFT, base, rate))

    def step4_sigterm(self):
        say("step 4: helm uninstall; every container stops on SIGTERM, none SIGKILLed")
        self.stop_forward()
        before = {p["metadata"]["name"]: p for p in self.pods() if p["status"].get("phase") == "Running"}
        grace = {n: p["spec"].get("terminationGracePeriodSeconds", 30) for n, p in before.items()}
        watch = subprocess.Popen([self.kubectl_bin, "get", "pods", "--watch", "--output-watch-events",
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
        self.helm("uninstall", RELEASE, "--wait", "--timeout", "3m", timeout=240)
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


def _ts(s):
    """Seconds since the epoch of an RFC 3339 timestamp like 2026-12-02T14:00:00Z."""
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="leave the cluster running at the end")
    args = ap.parse_args()
    why = skip_reason()
    if why:
        print("k8s: SKIP: " + why, flush=True)
        return 77
    t0 = time.monotonic()
    s = Suite(os.path.abspath(os.environ.get("DC_K8S_DIR") or os.path.join(ROOT, "build-k8s-test")))
    ok = False
    try:
        s.prepare()
        s.step1_install()
        s.step2_scale()
        s.step3_daemonset()
        s.step4_sigterm()
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
        s.stop_forward()
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
