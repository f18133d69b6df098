#!/usr/bin/python3
"""Before and after, side by side in one run: the batched raw-mode rows of two builds
(e.g. an old main built in a second directory, and this tree's build), interleaved row by
row so that both see the same machine. Not a test: it asserts nothing, it reports.

  /usr/bin/python3 bench/ab_batched.py --old OLD_BUILD [--new build] [--seconds 6]
      [--rounds 2] [--batch 4096] [--callgrind [--window 30] [--workers 2]]

--batch 1 gives the one-hash-per-job rows instead (rng 2, hasher 2; 1, 4 and 8 workers
with CURVE, 8 on plain TCP), read against the broker-hop ceiling (8 pairs, two round
trips per hash); with --callgrind, that rig under valgrind.

Wall-clock mode (default): for each row (batch 4096; 2, 4 and 8 workers with CURVE; 2
workers on plain TCP; rng 1, hasher 1) and each round, the old build then the new one
(the order alternates per round): hashes/s counted by the dispatcher, CPU µs per hash of
all roles and Redis together (from /proc), and the SHA-256-only ceiling of the new build
(one process per core) to read the rates against. On a busy machine the rates swing from
run to run; CPU per hash swings less.

--callgrind: each build's rig once more, every pipeline process under valgrind's
callgrind (Redis native). After the warm-up the counters are zeroed, dumped after
--window seconds of jobs, then the dispatcher is stopped (SIGSTOP), the jobs drain, and
a second window of the same rig idle gives each role's cost per second of doing nothing
(heartbeats, stats, READYs). Reported: instructions (Ir) per hash counted in the busy
window, net of the idle rate, per role. Instruction counts do not depend on the load;
the rig under valgrind runs ~50x slower, so per-second costs would otherwise weigh more
per hash than natively, hence the idle window. Caveat: valgrind's CPU has no SHA
extensions, so nettle's SHA-256 runs its plain x86-64 code there (~3,600 Ir per 64-byte
block); natively it uses SHA-NI where the CPU has it."""
import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "pipeline"))

from dcrig import Rig, proc_cpu, wait_for  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--old", required=True, help="the build directory before the change")
ap.add_argument("--new", default=os.path.join(HERE, "..", "build"))
ap.add_argument("--seconds", type=float, default=6.0, help="measuring window per row")
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--callgrind", action="store_true", help="Ir per hash per role instead")
ap.add_argument("--window", type=float, default=30.0, help="callgrind window, seconds")
ap.add_argument("--workers", type=int, default=2, help="workers of the callgrind rig")
ap.add_argument("--batch", type=int, default=4096,
                help="hashes per job; 1: the one-hash-per-job rows (rng 2, hasher 2; 1, 4 and 8"
                     " workers with CURVE, 8 on plain TCP) against the broker-hop ceiling")
args = ap.parse_args()

ROLES = ("broker", "rng", "hasher", "worker", "dispatcher")


def cpu_seconds(pid):
    return sum(proc_cpu(pid))


def services(batch):
    """rng and hasher instances of a rig: 1 and 1 batched, 2 and 2 one hash per job (as in
    bench/pipeline.py)."""
    return (1, 1) if batch > 1 else (2, 2)


def row(build, batch, workers, secure):
    """hashes/s and CPU µs per hash (every process of the rig, Redis included)."""
    rngs, hashers = services(batch)
    with Rig(secure=secure, bin=os.path.join(build, "pipeline")) as rig:
        rig.start_all(workers=workers, rngs=rngs, hashers=hashers, delay_ms=0,
                      dispatcher_args=["--batch", str(batch)])
        wait_for("all workers reporting",
                 lambda: rig.stats("worker").get("workers", 0) >= workers, timeout=60)
        time.sleep(2)  # warm-up: queues reach their steady state
        pids = [p.pid for p in rig.procs.values()]
        before = sum(cpu_seconds(p) for p in pids)
        t0 = time.monotonic()
        rate = rig.rate(args.seconds)
        wall = time.monotonic() - t0
        cpu = sum(cpu_seconds(p) for p in pids) - before
        return rate, cpu / wall * 1e6 / rate if rate else float("nan")


def wall_clock():
    exe = os.path.join(args.new, "bench", "dc-bench-ceiling")
    if args.batch > 1:
        ceiling = float(subprocess.run([exe, "sha256", str(os.cpu_count()),
                                        str(int(args.seconds))],
                                       capture_output=True, text=True, check=True).stdout)
        print(f"SHA-256 of 32 B alone (new build), 1 proc/core: {ceiling:,.0f} hashes/s")
        rows = [(args.batch, 2, True), (args.batch, 4, True), (args.batch, 8, True),
                (args.batch, 2, False)]
    else:  # one hash per job = two broker round trips
        ceiling = float(subprocess.run([exe, "roundtrip", "8", str(int(args.seconds))],
                                       capture_output=True, text=True, check=True).stdout) / 2
        print(f"REQ -> ROUTER/DEALER proxy -> REP, 8 pairs, / 2: {ceiling:,.0f} hashes/s")
        rows = [(1, 1, True), (1, 4, True), (1, 8, True), (1, 8, False)]
    what = "vs SHA" if args.batch > 1 else "vs hop"
    print(f"  {'batch':>5} {'workers':>7} {'link':>5} {'round':>5}   {'old hashes/s':>12}"
          f" {'µs/hash':>7}   {'new hashes/s':>12} {'µs/hash':>7} {what:>6}   {'new/old':>7}")
    for batch, workers, secure in rows:
        for r in range(args.rounds):
            got = {}
            for which in (("old", "new") if r % 2 == 0 else ("new", "old")):
                try:
                    got[which] = row(args.old if which == "old" else args.new, batch, workers,
                                     secure)
                except AssertionError as e:  # e.g. Redis starved: no fresh snapshot
                    got[which] = (float("nan"), float("nan"))
                    print(f"  ({which}: not measured: {e})")
            (o, ou), (n, nu) = got["old"], got["new"]
            print(f"  {batch:>5} {workers:>7} {'CURVE' if secure else 'plain':>5} {r + 1:>5}"
                  f"   {o:>12,.0f} {ou:>7.2f}   {n:>12,.0f} {nu:>7.2f} {n / ceiling:>6.1%}"
                  f"   {n / o:>7.2f}", flush=True)


def callgrind_total(path):
    with open(path) as f:
        m = re.search(r"^(?:totals|summary):\s+(\d+)", f.read(), re.M)
    return int(m.group(1))


def wrapped_bindir(build, out):
    """A directory of wrappers running each pipeline binary under callgrind."""
    real = os.path.abspath(os.path.join(build, "pipeline"))
    wrap = os.path.join(out, "bin")
    os.makedirs(wrap)
    for name in os.listdir(real):
        path = os.path.join(real, name)
        if not (name.startswith("dc-") and os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        run = f'exec {path} "$@"\n'
        if name[3:] in ROLES:
            run = (f"exec valgrind --tool=callgrind --callgrind-out-file={out}/cg.{name}.%p "
                   f'-q {path} "$@"\n')
        with open(os.path.join(wrap, name), "w") as f:
            f.write("#!/bin/sh\n" + run)
        os.chmod(os.path.join(wrap, name), 0o755)
    return wrap


def ir_per_hash(build):
    out = tempfile.mkdtemp(prefix="dc-ab-callgrind-")
    rngs, hashers = services(args.batch)
    with Rig(secure=True, bin=wrapped_bindir(build, out)) as rig:
        rig.start_all(workers=args.workers, rngs=rngs, hashers=hashers, delay_ms=0,
                      dispatcher_args=["--batch", str(args.batch)])
        wait_for("all workers reporting",
                 lambda: rig.stats("worker").get("workers", 0) >= args.workers, timeout=600)
        wait_for("hashes counted", lambda: rig.hashes() > 0, timeout=300)
        time.sleep(5)  # warm-up
        pids = {rig.kinds[n]: [] for n in rig.procs if n != "redis"}
        for n, p in rig.procs.items():
            if n != "redis":
                pids[rig.kinds[n]].append(str(p.pid))
        everyone = [pid for group in pids.values() for pid in group]
        others = [pid for pid in everyone if pid not in pids["dispatcher"]]

        def control(flag, which):
            for pid in which:  # a stopped process cannot answer: never ask one
                subprocess.run(["callgrind_control", flag, pid], capture_output=True, timeout=300)

        def idle_window(stopped, measured):
            """The rig idle with `stopped` (names) stopped: seconds measured."""
            for name in stopped:
                rig.send(name, signal.SIGSTOP)
            time.sleep(8)  # the jobs in flight drain
            control("-z", measured)
            t = time.monotonic()
            time.sleep(args.window / 2)  # a window of doing nothing, for its rate
            control("-d", measured)
            took = time.monotonic() - t
            for name in stopped:
                rig.send(name, signal.SIGCONT)
            return took

        control("-z", everyone)
        h0, t0 = rig.hashes(), time.monotonic()
        time.sleep(args.window)  # a window of work, counted by the hashes in it
        control("-d", everyone)
        hashes, busy = rig.hashes() - h0, time.monotonic() - t0
        idle = {"others": idle_window(["dispatcher"], others),
                "dispatcher": idle_window([n for n in rig.procs if n.startswith("worker")],
                                          pids["dispatcher"])}
    ir = {}
    for busy_dump in glob.glob(os.path.join(out, "cg.*.1")):
        role = os.path.basename(busy_dump).split(".")[1][3:]
        idle_dump = busy_dump[:-1] + "2"
        net = callgrind_total(busy_dump)
        if os.path.exists(idle_dump):
            net -= callgrind_total(idle_dump) / idle[role if role == "dispatcher" else "others"] * busy
        ir[role] = ir.get(role, 0) + net
    return hashes, {k: v / hashes for k, v in ir.items()}, out


def callgrind():
    res = {}
    for which, build in (("old", args.old), ("new", args.new)):
        hashes, ir, out = ir_per_hash(build)
        res[which] = ir
        print(f"{which}: {hashes:,} hashes in the window; dumps in {out}", flush=True)
    print(f"  {'Ir per hash':<12} {'old':>8} {'new':>8} {'new/old':>8}")
    for role in ROLES + ("total",):
        o = sum(res["old"].values()) if role == "total" else res["old"].get(role, 0)
        n = sum(res["new"].values()) if role == "total" else res["new"].get(role, 0)
        print(f"  {role:<12} {o:>8,.0f} {n:>8,.0f} {n / o if o else 0:>8.2f}")


print(f"{'batched' if args.batch > 1 else 'one hash per job'} A/B  "
      f"{time.strftime('%Y-%m-%d %H:%M')}  old {args.old}  new {args.new}  "
      f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
callgrind() if args.callgrind else wall_clock()
