#!/usr/bin/python3
"""Where the CPU goes, per role and per hash: runs the raw-mode rig (no delays) with every
instance of ONE role under valgrind's callgrind, switches instrumentation on once the rig
is in its steady state, dumps after a window, and reports for that role

  Ir/hash      user-space instructions per hash (repeatable: counted, not timed)
  sys/hash     system calls per hash (callgrind --collect-systime)
  top functions by self and inclusive Ir, and the share of each library.

Then the same rig without valgrind gives each role's CPU µs per hash from /proc (user and
system apart): callgrind counts no kernel work, this does. Where `perf` can read the
raw_syscalls tracepoint (as root), that run also counts each role's system calls per hash
natively, and apart the ones of its own threads (libzmq's I/O threads, ZMQbg/*, left out):
under callgrind libzmq's time-throttled command checks on send run far more often than
natively, so its system-call counts overstate that part.

  /usr/bin/python3 bench/profile.py [--batch 1] [--workers 4] [--roles broker,worker]
      [--seconds 20] [--top 15] [--insecure] [--keep DIR]

Perf's hardware counters are not available on this machine (`perf stat -e instructions
true` says <not supported>), hence callgrind. Caveats: the role under callgrind runs
~50x slower, so the rig runs at that role's pace and the other roles see fewer messages
per wake-up; libzmq is stripped of its internal symbols (its cost shows as libzmq.so
addresses, summed in the per-library table); valgrind hides the CPU's SHA extensions, so
nettle's SHA-256 (hasher, dispatcher) runs its plain code there and costs more than
natively. Not a test: it asserts nothing."""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "pipeline"))

ROLES = ("broker", "rng", "hasher", "worker", "dispatcher")

ap = argparse.ArgumentParser(description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
ap.add_argument("--batch", type=int, default=1, help="hashes per job (1: one hash per job)")
ap.add_argument("--workers", type=int, default=4)
ap.add_argument("--roles", default=",".join(ROLES),
                help="comma-separated roles to profile ('': only the native /proc figures)")
ap.add_argument("--seconds", type=float, default=20.0, help="instrumented window per role")
ap.add_argument("--native-seconds", type=float, default=6.0, help="window of the /proc run")
ap.add_argument("--top", type=int, default=15, help="functions listed per role")
ap.add_argument("--insecure", action="store_true", help="plain TCP instead of CURVE")
ap.add_argument("--keep", help="keep the callgrind files in this directory")
args = ap.parse_args()
os.environ["DC_BIN"] = os.path.abspath(os.path.join(args.build, "pipeline"))

from dcrig import Rig, proc_cpu, wait_for  # noqa: E402


def out(line=""):
    print(line, flush=True)


class ProfiledRig(Rig):
    """A Rig that starts every process of one kind under callgrind, instrumentation off."""

    def __init__(self, role, outdir, **kw):
        super().__init__(**kw)
        self.role = role
        self.outdir = outdir

    def spawn(self, name, argv, env=None, kind=None):
        if (kind or name) == self.role:
            argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    "--collect-systime=usec",
                    "--callgrind-out-file=" + os.path.join(self.outdir, "callgrind.%p")] + argv
        return super().spawn(name, argv, env, kind)

    def pids(self, kind):
        return [p.pid for n, p in self.procs.items() if self.kinds.get(n) == kind]


def start(rig):
    rig.start_all(workers=args.workers, rngs=1, hashers=1, delay_ms=0,
                  dispatcher_args=["--batch", str(args.batch)])
    wait_for("all workers reporting",
             lambda: rig.stats("worker").get("workers", 0) >= args.workers, timeout=120)
    wait_for("hashes counted", lambda: rig.stats("dispatcher").get("hashes", 0) > 0, timeout=60)


def snapshot(rig, after_ts=0):
    return wait_for("a dispatcher snapshot",
                    lambda: (lambda s: s if s.get("ts_ms", 0) > after_ts else None)(
                        rig.stats("dispatcher")), timeout=30)


def hash_rate(rig, seconds):
    a = snapshot(rig)
    time.sleep(seconds)  # measuring a rate over a window, not synchronising
    b = snapshot(rig, a["ts_ms"])
    return (b["hashes"] - a["hashes"]) * 1000.0 / (b["ts_ms"] - a["ts_ms"])


# -- callgrind's output format: just enough to sum self and inclusive costs ------------
NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def parse_callgrind(path, names):
    """{'events': [...], 'self': {(obj, fn): [costs]}, 'incl': {(obj, fn): [costs]},
    'total': [costs]} of one callgrind file. Inclusive = self + the cost of the calls the
    function makes (recursion counts twice, as in callgrind_annotate)."""
    events, total = [], None
    calls = collections.Counter()  # (obj, fn) -> times called
    cob = cfn = None
    self_cost = collections.defaultdict(lambda: [0] * len(events))
    call_cost = collections.defaultdict(lambda: [0] * len(events))
    ob = fn = None
    in_call = False

    def name(kind, text):
        m = NAMED.match(text)
        if not m:
            return text
        key = (kind, m.group(1))
        if m.group(2) is not None:
            names[path, key] = m.group(2)
        return names[path, key]

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                costs = [int(x) for x in line.split()[1:]]
                costs += [0] * (len(events) - len(costs))
                target = call_cost if in_call else self_cost
                acc = target[ob, fn]
                for i, v in enumerate(costs):
                    acc[i] += v
                in_call = False
            elif line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = [int(x) for x in line.split()[1:]]
            elif line.startswith("ob="):
                ob = name("ob", line[3:])
            elif line.startswith("fn="):
                fn = name("fn", line[3:])
            elif line.startswith("cob="):
                cob = name("ob", line[4:])
            elif line.startswith("cfn="):
                cfn = name("fn", line[4:])
            elif line.startswith("calls="):
                in_call = True
                calls[cob or ob, cfn] += int(line[6:].split()[0])
                cob = None
    incl = {k: list(v) for k, v in self_cost.items()}
    for k, v in call_cost.items():
        acc = incl.setdefault(k, [0] * len(events))
        for i, x in enumerate(v):
            acc[i] += x
    return {"events": events, "self": dict(self_cost), "incl": incl, "calls": calls,
            "total": total or [sum(v[i] for v in self_cost.values()) for i in range(len(events))]}


def merge(parts):
    """One profile from several (every instance of a role): costs and calls summed."""
    events = parts[0]["events"]
    res = {"events": events, "calls": collections.Counter(), "total": [0] * len(events)}
    for kind in ("self", "incl"):
        acc = collections.defaultdict(lambda: [0] * len(events))
        for p in parts:
            for k, v in p[kind].items():
                for i, x in enumerate(v):
                    acc[k][i] += x
        res[kind] = dict(acc)
    for p in parts:
        res["calls"].update(p["calls"])
        for i, x in enumerate(p["total"]):
            res["total"][i] += x
    return res


def short_obj(path):
    base = os.path.basename(path or "?")
    return re.sub(r"\.so[.0-9]*$", "", base)


def short_fn(obj, fn):
    if re.match(r"^0x[0-9a-f]+$", fn or ""):
        return f"({short_obj(obj)} internal)"
    return fn


def callgrind_dumps(outdir, pids):
    """The files of the explicit dump (callgrind.PID.1), not the exit dump."""
    files = []
    for pid in pids:
        path = os.path.join(outdir, f"callgrind.{pid}.1")
        wait_for(f"callgrind dump {path}",
                 lambda: os.path.exists(path) and "\ntotals:" in open(path).read(), timeout=60)
        files.append(path)
    return files


def callgrind_control(pids, *flags):
    for pid in pids:
        subprocess.run(["callgrind_control", *flags, str(pid)], check=True, capture_output=True,
                       timeout=60)


def profile_role(role, outdir):
    """Ir and syscalls per hash for one role, and its top functions."""
    with ProfiledRig(role, outdir, secure=not args.insecure) as rig:
        start(rig)
        pids = rig.pids(role)
        time.sleep(2)  # warm-up: queues reach their steady state
        callgrind_control(pids, "-i", "on")
        t_on = time.monotonic()
        rate = hash_rate(rig, args.seconds)
        callgrind_control(pids, "-d")
        window = time.monotonic() - t_on
        callgrind_control(pids, "-i", "off")
        files = callgrind_dumps(outdir, pids)
        names = {}
        data = merge([parse_callgrind(f, names) for f in files])
    mark, per_job = JOB_MARK[role]
    marks = mark if isinstance(mark, tuple) else (mark,)
    jobs = sum(k for (_, fn), k in data["calls"].items() if fn in marks) / per_job
    if jobs:
        return data, jobs * args.batch, rate, len(pids)
    return data, rate * window, rate, len(pids)  # the marker was not seen: from the rate


# Hashes in the window, counted exactly from calls the role makes once per job (or twice:
# the broker answers two requests per job; one of several names, as builds differ); the
# rate times the window is only a fallback.
JOB_MARK = {"broker": (("dc_mdp_client_reply", "dc_mdp_send_client_reply"), 2),
            "rng": ("dc_service_rng", 1), "hasher": ("dc_service_hasher", 1),
            "worker": ("dc_svc_rng_request", 1), "dispatcher": ("dc_result_decode", 1)}

# What each call counts: frames through CURVE, polls, allocations, system calls (the
# libc wrappers; under valgrind clock_gettime is a system call, natively it is not).
KEY_CALLS = (
    ("frames encrypted", ("crypto_box_easy_afternm",)),
    ("decrypted", ("crypto_box_open_easy_afternm",)),
    ("zmq_msg_send", ("zmq_msg_send",)),
    ("zmq_msg_recv", ("zmq_msg_recv",)),
    ("zmq_poll", ("zmq_poll",)),
    ("zmq_getsockopt", ("zmq_getsockopt",)),
    ("allocations", ("malloc", "calloc", "realloc")),
    ("zmsg_new", ("zmsg_new",)),
    ("zframe_new", ("zframe_new",)),
    ("zpoller_new", ("zpoller_new",)),
    ("poll(2)", ("poll",)),
    ("getpid(2)", ("getpid",)),
    ("epoll_wait(2)", ("epoll_wait",)),
    ("eventfd read+write", ("read", "write")),
    ("send+recv(2)", ("send", "recv", "sendto", "recvfrom")),
)


def report_role(role, data, hashes, rate, n):
    ev = data["events"]
    ir, sysc = ev.index("Ir"), ev.index("sysCount") if "sysCount" in ev else None
    total = data["total"]
    out(f"== {role} (x{n} under callgrind; rig at {rate:,.0f} hashes/s, "
        f"{hashes:,.0f} hashes in the window)")
    sys_text = f", {total[sysc] / hashes:,.2f} syscalls" if sysc is not None else ""
    out(f"   per hash: {total[ir] / hashes:,.0f} Ir{sys_text}")
    objs = collections.Counter()
    for (ob, _), v in data["self"].items():
        objs[short_obj(ob)] += v[ir]
    out("   self Ir by library: " + ", ".join(
        f"{o} {v / total[ir]:.0%}" for o, v in objs.most_common(8) if v / total[ir] >= 0.005))
    by_name = collections.Counter()
    for (_, fn), k in data["calls"].items():
        by_name[fn] += k
    jobs = hashes / args.batch
    unit = "job" if args.batch > 1 else "hash"
    out(f"   calls per {unit}: " + ", ".join(
        f"{label} {sum(by_name[f] for f in fns) / jobs:.1f}" for label, fns in KEY_CALLS))
    lists = [("self", ir, "self Ir"), ("incl", ir, "inclusive Ir (named functions)")]
    if sysc is not None:
        lists.append(("self", sysc, "system calls (the libc wrapper making them)"))
    for kind, key, label in lists:
        out(f"   top {args.top} by {label}   (Ir/hash, share of Ir, syscalls/hash, calls/{unit})")
        ranked = sorted(data[kind].items(), key=lambda kv: -kv[1][key])
        shown = 0
        for (ob, fn), v in ranked:
            if kind == "incl" and (v[ir] > total[ir] * 1.001 or fn.startswith("0x")
                                   or "'" in fn):
                continue  # thread roots, recursion (counted twice), unnamed code
            if v[key] == 0:
                break
            s = f"{v[sysc] / hashes:6.2f}" if sysc is not None else ""
            c = data["calls"].get((ob, fn), 0) / jobs
            out(f"     {v[ir] / hashes:>10,.0f} {v[ir] / total[ir]:>5.1%} {s} {c:7.1f}  "
                f"{short_fn(ob, fn)} [{short_obj(ob)}]")
            shown += 1
            if shown >= args.top:
                break
    out()


def switches(pid):
    """Context switches of all the process's threads (voluntary: it waited for something)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that ended
    return total


def perf_syscalls(pids, seconds):
    """{pid: (all threads, its own threads)} system calls in the next `seconds`, counted by
    perf on the raw_syscalls tracepoint; None when perf cannot. Own threads: not libzmq's
    ZMQbg/* (I/O, reaper)."""
    if not shutil.which("perf"):
        return None
    tids = {}
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            tids[int(tid)] = pid
    cmd = ["perf", "stat", "-x,", "--per-thread", "-e", "raw_syscalls:sys_enter",
           "-p", ",".join(str(p) for p in pids), "--", "sleep", str(seconds)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    counts = collections.defaultdict(lambda: [0, 0])
    for line in r.stderr.splitlines():
        f = line.split(",")
        if len(f) < 4 or f[3] != "raw_syscalls:sys_enter" or not f[1].isdigit():
            continue
        comm, _, tid = f[0].rpartition("-")
        pid = tids.get(int(tid)) if tid.isdigit() else None
        if pid is None:
            continue
        counts[pid][0] += int(f[1])
        if not comm.startswith("ZMQbg"):
            counts[pid][1] += int(f[1])
    return counts or None


def native():
    """CPU µs per hash per role (user + system) from /proc, and system calls per hash
    from perf where it can, no valgrind."""
    with Rig(secure=not args.insecure) as rig:
        start(rig)
        time.sleep(2)
        pids = {n: p.pid for n, p in rig.procs.items()}
        before = {n: proc_cpu(pid) + (switches(pid),) for n, pid in pids.items()}
        t0 = time.monotonic()
        a = snapshot(rig)
        sysc = perf_syscalls(list(pids.values()), args.native_seconds)
        b = snapshot(rig, a["ts_ms"])
        rate = (b["hashes"] - a["hashes"]) * 1000.0 / (b["ts_ms"] - a["ts_ms"])
        wall = time.monotonic() - t0
        after = {n: proc_cpu(pid) + (switches(pid),) for n, pid in pids.items()}
    per = collections.defaultdict(lambda: [0.0, 0.0, 0, 0, 0])
    for n, pid in pids.items():
        kind = rig.kinds.get(n, n)
        for i in range(3):
            per[kind][i] += after[n][i] - before[n][i]
        if sysc:
            per[kind][3] += sysc[pid][0]
            per[kind][4] += sysc[pid][1]
    hashes = rate * wall
    sys_hashes = rate * args.native_seconds
    out(f"== without valgrind: {rate:,.0f} hashes/s; per hash: CPU µs (user + system), "
        "context switches (all threads)" +
        (", system calls (all threads, own threads)" if sysc else ""))
    tot = [0.0, 0.0, 0, 0, 0]
    for kind in ROLES + ("redis", "all"):
        u, s, c, sa, so = tot if kind == "all" else per.get(kind, (0.0, 0.0, 0, 0, 0))
        if kind != "all":
            tot = [tot[0] + u, tot[1] + s, tot[2] + c, tot[3] + sa, tot[4] + so]
        line = (f"   {kind:<10} {(u + s) / hashes * 1e6:9.1f} = {u / hashes * 1e6:8.1f} + "
                f"{s / hashes * 1e6:8.1f}   {c / hashes:8.3g}")
        if sysc:
            line += f"   {sa / sys_hashes:8.1f} {so / sys_hashes:8.1f}"
        out(line)
    out()


def main():
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        sys.exit("bench/profile.py needs valgrind (apt-get install valgrind)")
    roles = [r for r in args.roles.split(",") if r]
    for r in roles:
        if r not in ROLES:
            sys.exit(f"unknown role {r!r}; roles: {', '.join(ROLES)}")
    out(f"dockercoins profile  {time.strftime('%Y-%m-%d %H:%M')}  raw mode, batch {args.batch}, "
        f"{args.workers} workers, rng 1, hasher 1, {'plain TCP' if args.insecure else 'CURVE'}, "
        f"load average {os.getloadavg()[0]:.1f}")
    out()
    native()
    outdir = args.keep or tempfile.mkdtemp(prefix="dc-profile-")
    os.makedirs(outdir, exist_ok=True)
    for role in roles:
        data, hashes, rate, n = profile_role(role, outdir)
        report_role(role, data, hashes, rate, n)
    if not args.keep:
        shutil.rmtree(outdir, ignore_errors=True)


main()
