#!/usr/bin/python3
"""A stand-in kubelet: runs the pods of a `helm template` rendering on the local Docker
engine, one `docker run` per container, for tests/helm/pods.sh.

    kubelet_docker.py MANIFEST RUN up             start every workload's replicas, all at once
    kubelet_docker.py MANIFEST RUN scale NAME N [S]   scale Deployment NAME to N replicas;
                                                  new pods must be ready within S s
    kubelet_docker.py MANIFEST RUN wait-ready S   startup, then readiness probes; S s at most
    kubelet_docker.py MANIFEST RUN live           liveness and readiness probes once more,
                                                  and no container restarted
    kubelet_docker.py MANIFEST RUN stop           preStop, then docker stop, every pod at once
    kubelet_docker.py MANIFEST RUN secret NAME KEY   print a rendered Secret's value

RUN names the Docker network (made by the caller) and labels every container
(dc-kubelet.run=RUN), with the pod's own labels beside it so `docker ps --filter label=`
selects like `kubectl -l`; Secret and ConfigMap files go under $DC_KUBELET_WORKDIR
(default /tmp/RUN), which the caller removes. What is mapped, and how:
  - pods: Deployment/StatefulSet `replicas` (default 1), DaemonSet 1; one container
    each (multi-container pods and init containers are refused: not emulated);
  - Services: a network alias per Service whose selector matches the pod, only when
    every port equals its targetPort (or the Service is headless); a Service that remaps
    a port gets no alias (an alias cannot remap) and is reported; a pod that names such a
    Service in its env, command or args is an error;
  - command/args as rendered, with the kubelet's $(VAR) expansion; env with
    secretKeyRef/configMapKeyRef/fieldRef(metadata.*) and envFrom;
  - secret/configMap volumes as files (items, defaultMode, owner root:fsGroup) bind-
    mounted read-only, subPath honoured; emptyDir as tmpfs (sizeLimit);
  - securityContext (pod merged under container): --user, --group-add for fsGroup and
    supplementalGroups, --read-only, --cap-drop/--cap-add, no-new-privileges,
    seccomp; runAsNonRoot refuses uid 0 as the kubelet does;
  - resources: limits.memory -> --memory, limits.cpu -> --cpus, requests.cpu ->
    --cpu-shares; restartPolicy -> --restart; imagePullPolicy -> --pull;
    terminationGracePeriodSeconds -> --stop-timeout; the image's HEALTHCHECK is off
    (the kubelet ignores it; the pod's probes are run here instead);
  - probes run inside the container with `docker exec`, against the pod's own IP as the
    kubelet would (never from the host): httpGet on the port of DC_HTTP via the image's
    dc-healthcheck, any other httpGet/tcpSocket via bash /dev/tcp, exec as given.
Anything else the pods use (PVCs, projected volumes, probes with host/headers/https...)
is refused with an error rather than approximated.
"""
import base64
import datetime
import hashlib
import json
import os
import random
import re
import string
import subprocess
import sys
import threading
import time

import yaml

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
MIN_GRACE_AFTER_PRESTOP = 2  # the kubelet's minimum grace after a preStop hook


def in_parallel(fn, items):
    """fn(item) for every item, each in a thread of its own; returns when all are done."""
    threads = [threading.Thread(target=fn, args=(i,)) for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class Unsupported(Exception):
    pass


def die(msg):
    print(f"kubelet_docker: {msg}", file=sys.stderr)
    sys.exit(1)


def docker(*args, check=True, timeout=None, capture=True):
    p = subprocess.run(["docker", *args], capture_output=capture, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"docker {args[0]} failed ({p.returncode}): {p.stderr.strip()}")
    return p


class Manifest:
    def __init__(self, path):
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        self.docs = docs
        self.by_kind = {}
        for d in docs:
            self.by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d

    def objects(self, kind):
        return list(self.by_kind.get(kind, {}).values())

    def get(self, kind, name):
        try:
            return self.by_kind[kind][name]
        except KeyError:
            raise Unsupported(f"{kind} {name} is not in the rendering") from None

    def secret_value(self, name, key):
        s = self.get("Secret", name)
        if key in s.get("stringData", {}):
            return s["stringData"][key].encode()
        if key not in s.get("data", {}):
            raise Unsupported(f"Secret {name} has no key {key}")
        return base64.b64decode(s["data"][key])

    def secret_items(self, name):
        s = self.get("Secret", name)
        out = {k: base64.b64decode(v) for k, v in (s.get("data") or {}).items()}
        out.update({k: v.encode() for k, v in (s.get("stringData") or {}).items()})
        return out

    def configmap_items(self, name):
        c = self.get("ConfigMap", name)
        out = {k: v.encode() for k, v in (c.get("data") or {}).items()}
        out.update({k: base64.b64decode(v) for k, v in (c.get("binaryData") or {}).items()})
        return out

    def workloads(self):
        return [w for k in WORKLOADS for w in self.objects(k)]


def expand(s, env):
    """The kubelet's $(VAR) expansion: defined names are replaced, $$ is a literal $,
    anything else is left as written."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


def quantity(q):
    """Kubernetes quantity -> float (bytes, or cores for CPU)."""
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(q))
    if not m:
        raise Unsupported(f"quantity {q!r}")
    n, unit = float(m.group(1)), m.group(2)
    mult = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    if unit not in mult:
        raise Unsupported(f"quantity unit {unit!r}")
    return n * mult[unit]


def utc_epoch(stamp):
    """Docker's RFC 3339 time (nanoseconds, Z) -> seconds since the epoch."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", stamp)
    if not m:
        raise Unsupported(f"time stamp {stamp!r}")
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp() + float(m.group(2) or 0)


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Kubelet:
    def __init__(self, manifest, run):
        self.m = manifest
        self.run = run
        self.workdir = os.environ.get("DC_KUBELET_WORKDIR") or f"/tmp/{run}"

    # --- which pods exist -------------------------------------------------------------
    def containers(self, workload=None):
        """Our containers, running or not: [(docker name, workload kind/name)]."""
        f = ["--filter", f"label=dc-kubelet.run={self.run}", "--filter",
             f"label=dc-kubelet.workload{'=' + workload if workload else ''}"]
        out = docker("ps", "-a", *f, "--format",
                     '{{.Names}}\t{{.Label "dc-kubelet.workload"}}').stdout
        return sorted(tuple(l.split("\t")) for l in out.splitlines() if l)

    def template_of(self, workload):
        kind, name = workload.split("/", 1)
        return self.m.get(kind, name)["spec"]["template"]

    # --- Services -> aliases ------------------------------------------------------------
    def aliases(self, labels, containers, pod, wl):
        out, notes = [], []
        for svc in self.m.objects("Service"):
            spec = svc["spec"]
            if not labels_match(spec.get("selector"), labels):
                continue
            name = svc["metadata"]["name"]
            headless = spec.get("clusterIP") == "None"
            bad = []
            for p in spec.get("ports", []):
                target = p.get("targetPort", p["port"])
                if isinstance(target, str):
                    named = [cp["containerPort"] for c in containers for cp in c.get("ports", [])
                             if cp.get("name") == target]
                    if not named:
                        raise Unsupported(f"Service {name}: no container port named {target}")
                    target = named[0]
                if target != p["port"] and not headless:
                    bad.append(f"{p['port']}->{target}")
            if bad:
                notes.append(f"Service {name} remaps port {', '.join(bad)}: not emulated, "
                             f"no alias for it (a network alias cannot remap a port)")
                self.refuse_users_of(name)
            else:
                out.append(name)
        if wl["kind"] == "StatefulSet" and wl["spec"].get("serviceName"):
            out.append(f"{pod}.{wl['spec']['serviceName']}")
        return out, notes

    def refuse_users_of(self, svc):
        pat = re.compile(rf"(?<![\w.-]){re.escape(svc)}(?![\w-])")
        for w in self.m.workloads():
            for c in w["spec"]["template"]["spec"].get("containers", []):
                words = [str(e.get("value", "")) for e in c.get("env", [])]
                words += [str(x) for x in c.get("command", []) + c.get("args", [])]
                if any(pat.search(x) for x in words):
                    raise Unsupported(f"{w['kind']} {w['metadata']['name']} connects to Service "
                                      f"{svc}, whose port mapping this emulation cannot honour")

    # --- one pod -------------------------------------------------------------------------
    def env_of(self, c, pod):
        env = {}
        for src in c.get("envFrom", []):
            prefix = src.get("prefix", "")
            if "secretRef" in src:
                items = self.m.secret_items(src["secretRef"]["name"])
            elif "configMapRef" in src:
                items = self.m.configmap_items(src["configMapRef"]["name"])
            else:
                raise Unsupported(f"envFrom {src}")
            env.update({prefix + k: v.decode() for k, v in items.items()})
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = expand(str(e["value"]), env)
            elif "valueFrom" in e:
                vf = e["valueFrom"]
                if "secretKeyRef" in vf:
                    r = vf["secretKeyRef"]
                    env[e["name"]] = self.m.secret_value(r["name"], r["key"]).decode()
                elif "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"]
                    env[e["name"]] = self.m.configmap_items(r["name"])[r["key"]].decode()
                elif "fieldRef" in vf and vf["fieldRef"]["fieldPath"] in (
                        "metadata.name", "metadata.namespace"):
                    env[e["name"]] = pod if vf["fieldRef"]["fieldPath"] == "metadata.name" \
                        else "default"
                else:
                    raise Unsupported(f"env {e['name']}: valueFrom {list(vf)}")
            else:
                env[e["name"]] = ""
        return env

    def volume_files(self, pod, vol, fs_group):
        """Materialise a secret/configMap volume as a directory; returns its path."""
        if "secret" in vol:
            src = vol["secret"]
            items = self.m.secret_items(src["secretName"])
        else:
            src = vol["configMap"]
            items = self.m.configmap_items(src["name"])
        d = os.path.join(self.workdir, pod, vol["name"])
        os.makedirs(d)
        os.chmod(d, 0o755)
        chosen = [(i["key"], i["path"], i.get("mode")) for i in src.get("items", [])] or \
            [(k, k, None) for k in items]
        for key, path, mode in chosen:
            if key not in items:
                raise Unsupported(f"volume {vol['name']}: no key {key}")
            f = os.path.join(d, path)
            os.makedirs(os.path.dirname(f), exist_ok=True)
            with open(f, "wb") as out:
                out.write(items[key])
            # the kubelet's ownership: root, group fsGroup when there is one
            try:
                os.chown(f, 0, fs_group if fs_group is not None else 0)
            except PermissionError:
                raise Unsupported(f"{vol['name']}: giving {f} the kubelet's owner "
                                  f"(root, group fsGroup) needs root") from None
            os.chmod(f, mode if mode is not None else src.get("defaultMode", 0o644))
        return d

    def run_args(self, wl, pod):
        tpl = wl["spec"]["template"]
        spec = tpl["spec"]
        labels = tpl["metadata"].get("labels", {})
        if spec.get("initContainers") or len(spec["containers"]) != 1:
            raise Unsupported(f"{pod}: only single-container pods without init containers")
        c = spec["containers"][0]
        psc, csc = spec.get("securityContext", {}), c.get("securityContext", {})
        sc = {**psc, **csc}
        wlname = f"{wl['kind']}/{wl['metadata']['name']}"
        args = ["run", "-d", "--name", f"{self.run}-{pod}", "--hostname", pod,
                "--network", self.run, "--no-healthcheck",
                "--label", f"dc-kubelet.run={self.run}", "--label", f"dc-kubelet.pod={pod}",
                "--label", f"dc-kubelet.workload={wlname}"]
        for k, v in labels.items():
            args += ["--label", f"{k}={v}"]
        aliases, notes = self.aliases(labels, spec["containers"], pod, wl)
        for a in aliases:
            args += ["--network-alias", a]
        grace = spec.get("terminationGracePeriodSeconds", 30)
        args += ["--stop-timeout", str(grace)]
        args += ["--restart", {"Always": "always", "OnFailure": "on-failure",
                               "Never": "no"}[spec.get("restartPolicy", "Always")]]
        args += ["--pull", {"IfNotPresent": "missing", "Always": "always",
                            "Never": "never"}[c.get("imagePullPolicy", "IfNotPresent")]]
        # security context
        image = json.loads(docker("image", "inspect", c["image"], check=False).stdout or "[]")
        image_user = (image or [{}])[0].get("Config", {}).get("User", "")
        uid = sc.get("runAsUser")
        if uid is None:
            uid = image_user.split(":")[0] or "0"
        gid = sc.get("runAsGroup")
        if sc.get("runAsNonRoot") and (not str(uid).isdigit() or int(uid) == 0):
            raise Unsupported(f"{pod}: runAsNonRoot with user {uid!r}: the kubelet refuses it")
        args += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
        groups = list(psc.get("supplementalGroups", []))
        if psc.get("fsGroup") is not None:
            groups.append(psc["fsGroup"])
        for g in groups:
            args += ["--group-add", str(g)]
        if sc.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        if sc.get("privileged"):
            args.append("--privileged")
        caps = sc.get("capabilities", {})
        for cap in caps.get("drop", []):
            args += ["--cap-drop", cap]
        for cap in caps.get("add", []):
            args += ["--cap-add", cap]
        if sc.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        seccomp = sc.get("seccompProfile", {}).get("type", "RuntimeDefault")
        if seccomp == "Unconfined":
            args += ["--security-opt", "seccomp=unconfined"]
        elif seccomp != "RuntimeDefault":
            raise Unsupported(f"{pod}: seccompProfile {seccomp}")
        if psc.get("sysctls"):
            raise Unsupported(f"{pod}: sysctls")
        # resources
        res = c.get("resources", {})
        lim, req = res.get("limits", {}), res.get("requests", {})
        if "memory" in lim:
            args += ["--memory", str(int(quantity(lim["memory"])))]
        if "cpu" in lim:
            args += ["--cpus", f"{quantity(lim['cpu']):.3f}"]
        if "cpu" in req:
            args += ["--cpu-shares", str(max(2, int(quantity(req["cpu"]) * 1024)))]
        # volumes
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        for vm in c.get("volumeMounts", []):
            v = vols.get(vm["name"])
            if v is None and any(t["metadata"]["name"] == vm["name"]
                                 for t in wl["spec"].get("volumeClaimTemplates", [])):
                raise Unsupported(f"{pod}: volume {vm['name']} is a PersistentVolumeClaim "
                                  f"(volumeClaimTemplates): not emulated")
            if v is None:
                raise Unsupported(f"{pod}: volumeMount {vm['name']} has no volume")
            if "emptyDir" in v:
                if vm.get("subPath"):
                    raise Unsupported(f"{pod}: subPath on an emptyDir")
                opts = "rw,exec,mode=1777"
                if v["emptyDir"].get("sizeLimit"):
                    opts += f",size={int(quantity(v['emptyDir']['sizeLimit']))}"
                args += ["--tmpfs", f"{vm['mountPath']}:{opts}"]
            elif "secret" in v or "configMap" in v:
                d = self.volume_files(pod, v, psc.get("fsGroup"))
                src = os.path.join(d, vm["subPath"]) if vm.get("subPath") else d
                args += ["--mount", f"type=bind,source={src},target={vm['mountPath']},readonly"]
            else:
                raise Unsupported(f"{pod}: volume {vm['name']} of type "
                                  f"{[k for k in v if k != 'name']}")
        env = self.env_of(c, pod)
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        if c.get("workingDir"):
            args += ["-w", c["workingDir"]]
        command = [expand(str(x), env) for x in c.get("command", [])]
        cargs = [expand(str(x), env) for x in c.get("args", [])]
        if command:
            args += ["--entrypoint", command[0], c["image"], *command[1:], *cargs]
        else:
            args += [c["image"], *cargs]
        return args, notes

    def start(self, wl, index):
        name = wl["metadata"]["name"]
        if wl["kind"] == "StatefulSet":
            pod = f"{name}-{index}"
        else:  # <deployment>-<template hash>-<random>, as the ReplicaSet names them
            tpl = json.dumps(wl["spec"]["template"], sort_keys=True).encode()
            h = hashlib.sha256(tpl).hexdigest()[:10]
            pod = f"{name}-{h}-" + "".join(random.choices(string.ascii_lowercase + string.digits,
                                                          k=5))
        args, notes = self.run_args(wl, pod)
        docker(*args)
        return pod, notes

    def replicas(self, wl):
        return 1 if wl["kind"] == "DaemonSet" else wl["spec"].get("replicas", 1)

    def up(self):
        """Every pod at once, as a node's kubelet starts the pods bound to it."""
        jobs = [(wl, i) for wl in self.m.workloads() for i in range(self.replicas(wl))]
        done, errors = [None] * len(jobs), []

        def one(j):
            try:
                done[j] = self.start(*jobs[j])
            except (Unsupported, RuntimeError, KeyError) as e:
                errors.append(str(e))

        in_parallel(one, range(len(jobs)))
        if errors:
            raise Unsupported("; ".join(errors))
        notes = []
        for (wl, _), (pod, new) in zip(jobs, done):
            notes += [x for x in new if x not in notes]
            print(f"started {wl['kind']}/{wl['metadata']['name']} pod {pod}")
        for x in notes:
            print(f"note: {x}")
        print(f"{len(jobs)} pods started")

    def scale(self, name, n, limit):
        wl = self.m.get("Deployment", name)
        have = self.containers(f"Deployment/{name}")
        new = []
        for i in range(len(have), n):
            pod, _ = self.start(wl, i)
            new.append(f"{self.run}-{pod}")
            print(f"scaled Deployment/{name}: started pod {pod}")
        if new and not self.wait_ready(limit, new):  # as `kubectl rollout status` would
            sys.exit(1)
        if len(have) > n:
            ok = self.stop([c for c, _ in have[n:]])
            docker("rm", *[c for c, _ in have[n:]])
            if not ok:
                sys.exit(1)

    # --- probes ---------------------------------------------------------------------------
    def probe(self, cname, c, probe):
        """Runs one probe inside the container; returns (success, detail)."""
        timeout = probe.get("timeoutSeconds", 1)
        info = json.loads(docker("inspect", cname).stdout)[0]
        if not info["State"]["Running"]:
            return False, f"not running ({info['State']['Status']}, exit {info['State']['ExitCode']})"
        ip = info["NetworkSettings"]["Networks"][self.run]["IPAddress"]

        def port_of(p):
            if isinstance(p, int):
                return p
            for cp in c.get("ports", []):
                if cp.get("name") == p:
                    return cp["containerPort"]
            raise Unsupported(f"probe port {p!r} is not a container port")

        if "exec" in probe:
            cmd = probe["exec"]["command"]
        elif "httpGet" in probe:
            g = probe["httpGet"]
            if g.get("host") or g.get("httpHeaders") or g.get("scheme", "HTTP") != "HTTP":
                raise Unsupported(f"httpGet probe with host/headers/https: {g}")
            port, path = port_of(g["port"]), g.get("path", "/")
            http = {e["name"]: e.get("value", "") for e in c.get("env", [])}.get("DC_HTTP", "")
            if http and http.split(",")[-1].rsplit(":", 1)[-1] == str(port):
                # the image's own probe, asked to use the pod IP as the kubelet does
                cmd = ["env", f"DC_HTTP={ip}:{port}", "dc-healthcheck", path]
            else:
                cmd = ["bash", "-c",
                       'exec 3<>"/dev/tcp/$1/$2" || exit 1; '
                       'printf "GET %s HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n" "$3" "$1" >&3; '
                       'read -r -t "$4" _ code _ <&3 || exit 1; echo "HTTP $code"; '
                       '[ "$code" -ge 200 ] && [ "$code" -lt 400 ]',
                       "probe", ip, str(port), path, str(timeout)]
        elif "tcpSocket" in probe:
            cmd = ["bash", "-c", 'exec 3<>"/dev/tcp/$1/$2"', "probe", ip,
                   str(port_of(probe["tcpSocket"]["port"]))]
        else:
            raise Unsupported(f"probe {list(probe)}")
        try:
            # timeoutSeconds for the probe, plus a second for docker exec itself
            p = docker("exec", cname, *cmd, check=False, timeout=timeout + 1)
        except subprocess.TimeoutExpired:
            return False, f"timed out after {timeout} s"
        return p.returncode == 0, (p.stdout + p.stderr).strip()

    def pod_spec(self, workload):
        return self.template_of(workload)["spec"]["containers"][0]

    def wait_ready(self, limit, names=None):
        t0 = time.monotonic()
        pods = {}
        for cname, wl in self.containers():
            if names is not None and cname not in names:
                continue
            c = self.pod_spec(wl)
            started = docker("inspect", "-f", "{{.State.StartedAt}}", cname).stdout.strip()
            pods[cname] = {"c": c, "stage": "startup" if c.get("startupProbe") else "readiness",
                           "due": t0, "fails": 0, "last": "", "started": started}
        while True:
            now = time.monotonic()
            waiting = [n for n, p in pods.items() if p["stage"] != "ready"]
            if not waiting:
                break
            if now - t0 > limit:
                for n in waiting:
                    p = pods[n]
                    print(f"NOT READY {n}: {p['stage']} probe: {p['last'] or 'no answer'}")
                    logs = docker("logs", "--tail", "15", n, check=False)
                    for line in (logs.stdout + logs.stderr).splitlines():
                        print(f"    {line}")
                return False
            for n in waiting:
                p = pods[n]
                if now < p["due"]:
                    continue
                pr = p["c"]["startupProbe" if p["stage"] == "startup" else "readinessProbe"]
                good, p["last"] = self.probe(n, p["c"], pr)
                p["due"] = time.monotonic() + pr.get("periodSeconds", 10)
                if good and p["stage"] == "startup":
                    p["stage"], p["due"] = "readiness", time.monotonic()
                elif good:
                    p["stage"] = "ready"
                    since = time.time() - utc_epoch(p["started"])
                    print(f"ready {n} {since:.1f} s after its start")
                elif p["stage"] == "startup":
                    p["fails"] += 1
                    if p["fails"] >= pr.get("failureThreshold", 3):
                        print(f"startup probe of {n} failed {p['fails']} times: the kubelet "
                              f"would restart it ({p['last']})")
                        return False
            time.sleep(0.2)  # the poll tick; each probe still runs at its own period
        print(f"all {len(pods)} pods ready {time.monotonic() - t0:.1f} s after the wait began")
        return True

    def live(self):
        """Every pod's liveness and readiness probe once more, and its restart count."""
        good = True
        for cname, wl in self.containers():
            c = self.pod_spec(wl)
            restarts = docker("inspect", "-f", "{{.RestartCount}}", cname).stdout.strip()
            line = [f"{cname}: restarts {restarts}"]
            good = good and restarts == "0"
            for kind in ("livenessProbe", "readinessProbe"):
                if c.get(kind):
                    passed, detail = self.probe(cname, c, c[kind])
                    good = good and passed
                    line.append(f"{kind} {'passed' if passed else 'FAILED: ' + detail}")
            print(", ".join(line))
        return good

    # --- stopping ---------------------------------------------------------------------
    def stop(self, names=None):
        """What the kubelet does for a pod being deleted, for every pod at once: the
        preStop hook, then SIGTERM with the rest of the grace period, then SIGKILL."""
        if names is None:
            names = [c for c, _ in self.containers()]
        wl_of = dict(self.containers())
        results = {}

        def one(cname):
            tpl = self.template_of(wl_of[cname])
            grace = tpl["spec"].get("terminationGracePeriodSeconds", 30)
            c = tpl["spec"]["containers"][0]
            t0 = time.monotonic()
            hook = c.get("lifecycle", {}).get("preStop", {})
            if "sleep" in hook:  # run by the kubelet itself, not in the container
                time.sleep(hook["sleep"]["seconds"])
            elif "exec" in hook:
                try:
                    docker("exec", cname, *hook["exec"]["command"], check=False, timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            elif hook:
                raise Unsupported(f"preStop {list(hook)}")
            hook_s = time.monotonic() - t0
            left = max(MIN_GRACE_AFTER_PRESTOP, int(grace - hook_s))
            term_at = time.time()
            docker("stop", "-t", str(left), cname, check=False)
            total = time.monotonic() - t0
            st = json.loads(docker("inspect", "-f", "{{json .State}}", cname).stdout)
            # SIGTERM to exit by the engine's own clock (docker stop's overhead aside)
            term_s = utc_epoch(st["FinishedAt"]) - term_at
            results[cname] = (grace, hook_s, term_s, total, st["ExitCode"], st["OOMKilled"])

        in_parallel(one, names)
        good = True
        for n in names:
            if n not in results:
                print(f"FAILED {n}: the stop did not complete")
                good = False
                continue
            grace, hook_s, term_s, total, code, oom = results[n]
            bad = total >= grace or code not in (0, 143) or oom
            good = good and not bad
            print(f"{'FAILED' if bad else 'stopped'} {n}: in {total:.1f} s (grace {grace} s): "
                  f"preStop {hook_s:.1f} s, SIGTERM to exit {term_s:.2f} s, exit code {code}"
                  f"{', OOM-killed' if oom else ''}")
        return good


def main(argv):
    if len(argv) < 4:
        die(__doc__.split("\n\n")[1])
    k = Kubelet(Manifest(argv[1]), argv[2])
    cmd, rest = argv[3], argv[4:]
    try:
        if cmd == "up":
            k.up()
        elif cmd == "scale":
            k.scale(rest[0], int(rest[1]), float(rest[2]) if len(rest) > 2 else 60)
        elif cmd == "wait-ready":
            return 0 if k.wait_ready(float(rest[0])) else 1
        elif cmd == "live":
            return 0 if k.live() else 1
        elif cmd == "stop":
            return 0 if k.stop() else 1
        elif cmd == "secret":
            sys.stdout.write(k.m.secret_value(rest[0], rest[1]).decode())
        else:
            die(f"unknown command {cmd}")
    except (Unsupported, RuntimeError, KeyError) as e:
        die(f"{cmd}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
