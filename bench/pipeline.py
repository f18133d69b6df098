#!/usr/bin/python3
"""Pipeline benchmark: one table, every figure measured side by side in this run, on this
machine, unpinned, with CURVE on (as deployed) unless a row says otherwise. Not a test: it
asserts nothing, it reports.

  /usr/bin/python3 bench/pipeline.py [--build build] [--seconds 6] [--quick] [--workshop]
      [--soak-minutes 20]

Sections: ceilings (broker-hop round trip, SHA-256 alone as the hasher computes it,
ideal in-process loop), raw mode one hash per job, raw mode batched (as a share of
SHA-256 alone), the cost of CURVE, a soak (raw mode, 8 workers: each role's memory at
minute 2 and at the end), workshop mode vs the model min(workers/0.3 s, rng*10, hasher
slots*10), with 20 slots per hasher process (the original's threaded hasher). Every raw
row gives the CPU time all five roles spent per hash (user + system, from
/proc/PID/stat; Redis apart)."""
import argparse
import os
import sys
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "pipeline"))

ap = argparse.ArgumentParser(description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
ap.add_argument("--seconds", type=float, default=6.0, help="measuring window per row")
ap.add_argument("--quick", action="store_true", help="fewer rows")
ap.add_argument("--workshop", action="store_true", help="only the workshop-mode rows")
ap.add_argument("--soak-minutes", type=float, default=None,
                help="length of the soak row (default 20, 2 with --quick; 0: no soak)")
args = ap.parse_args()
if args.soak_minutes is None:
    args.soak_minutes = 2.0 if args.quick else 20.0
os.environ["DC_BIN"] = os.path.abspath(os.path.join(args.build, "pipeline"))

from dcrig import Rig, proc_cpu, rss_kib, wait_for  # noqa: E402


def cpu_seconds(pid):
    return sum(proc_cpu(pid))


def ceiling(mode, n, seconds):
    exe = os.path.join(args.build, "bench", "dc-bench-ceiling")
    out = subprocess.run([exe, mode, str(n), str(int(seconds))], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip())


ROLES = ("broker", "rng", "hasher", "worker", "dispatcher")


def measure(workers, rngs, hashers, delay_ms, batch=1, seconds=None, secure=True, stats=None):
    """Starts a rig (CURVE on unless secure=False), waits until every worker reports,
    measures hashes/s and CPU; returns (hashes/s, {role: % of a core}, CPU µs per hash of
    the five roles together); fills `stats` (if given) with the broker's last
    dc:stats:<service> of each service."""
    seconds = seconds or args.seconds
    with Rig(secure=secure) as rig:
        rig.start_all(workers=workers, rngs=rngs, hashers=hashers, delay_ms=delay_ms,
                      dispatcher_args=["--batch", str(batch)])
        wait_for("all workers reporting",
                 lambda: rig.stats("worker").get("workers", 0) >= workers, timeout=60)
        time.sleep(2 if delay_ms == 0 else 3)  # warm-up: queues reach their steady state
        pids = {n: p.pid for n, p in rig.procs.items()}
        before = {n: cpu_seconds(pid) for n, pid in pids.items()}
        t0 = time.monotonic()
        rate = rig.rate(seconds)
        wall = time.monotonic() - t0
        cpu = {}
        for n, pid in pids.items():
            kind = rig.kinds[n]
            cpu[kind] = cpu.get(kind, 0) + (cpu_seconds(pid) - before[n]) / wall * 100
        if stats is not None:
            stats.update({k: rig.stats(k) for k in ("rng", "hasher")})
        return rate, cpu, us_per_hash(cpu, rate)


def us_per_hash(cpu, rate):
    """CPU µs per hash of the five roles together, from their % of a core at `rate`."""
    return sum(cpu.get(k, 0) for k in ROLES) / 100 * 1e6 / rate if rate > 0 else float("nan")


def cpu_text(cpu):
    return " ".join(f"{k if k == 'redis' else k[:4]} {cpu.get(k, 0):3.0f}%"
                    for k in ROLES + ("redis",))


rows = []


def out(line=""):
    print(line, flush=True)


secs = args.seconds
out(f"dockercoins pipeline benchmark  {time.strftime('%Y-%m-%d %H:%M')}  "
    f"{os.cpu_count()} cores, unpinned, {secs:.0f} s windows")
out()


def raw_sections():
    """Ceilings, raw mode one hash per job, batched, and the cost of CURVE."""
    rt1 = ceiling("roundtrip", 1, secs)
    rt8 = ceiling("roundtrip", 8, secs)
    ideal = ceiling("ideal", os.cpu_count(), secs)
    sha = ceiling("sha256", os.cpu_count(), secs)
    sha_sodium = ceiling("sha256-sodium", os.cpu_count(), secs)
    rt_hashes = rt8 / 2  # one hash per job = two broker round trips
    out("ceilings")
    out(f"  REQ -> ROUTER/DEALER proxy -> REP, 32 B, 1 pair     {rt1:12,.0f} round trips/s")
    out(f"  same, 8 pairs                                       {rt8:12,.0f} round trips/s")
    out(f"    => one-hash-per-job ceiling (2 round trips/hash)  {rt_hashes:12,.0f} hashes/s")
    out(f"  SHA-256 of 32 B alone, as the hasher, 1 proc/core   {sha:12,.0f} hashes/s")
    out(f"    (libsodium's portable SHA-256, for comparison      {sha_sodium:12,.0f} hashes/s)")
    out(f"  ideal loop (random+SHA-256+hex+coin), 1 proc/core   {ideal:12,.0f} hashes/s")
    out()

    out("raw mode, one hash per job (rng 2, hasher 2)")
    out(f"  {'workers':>7} {'hashes/s':>10} {'vs ceiling':>10} {'CPU µs/hash':>11}"
        "   CPU per role (100% = 1 core)")
    for w in ([1, 8] if args.quick else [1, 2, 4, 8]):
        rate, cpu, us = measure(w, 2, 2, 0)
        out(f"  {w:>7} {rate:>10,.0f} {rate / rt_hashes:>10.0%} {us:>11,.1f}   {cpu_text(cpu)}")
    out()

    out("raw mode, batched jobs (rng 1, hasher 1; every hash checked for a coin and counted)")
    out(f"  {'batch':>5} {'workers':>7} {'hashes/s':>12} {'vs SHA-256':>10} {'CPU µs/hash':>11}"
        "   CPU per role")
    for b, w in ([(4096, 4)] if args.quick else [(256, 4), (4096, 2), (4096, 4), (4096, 8)]):
        try:
            rate, cpu, us = measure(w, 1, 1, 0, batch=b)
        except AssertionError as e:  # e.g. Redis starved of CPU: no fresh snapshot to read
            out(f"  {b:>5} {w:>7} {'-':>12} {'-':>10} {'-':>11}   not measured: {e}")
            continue
        out(f"  {b:>5} {w:>7} {rate:>12,.0f} {rate / sha:>10.1%} {us:>11,.2f}   {cpu_text(cpu)}")
    out()

    out("cost of CURVE (raw mode; same rows with and without encryption, side by side)")
    out(f"  {'batch':>5} {'workers':>7} {'plain TCP':>12} {'CURVE':>12} {'CURVE/plain':>11}"
        f" {'CPU µs/hash plain':>17} {'CURVE':>6}")
    for b, w in ([(1, 8)] if args.quick else [(1, 4), (1, 8), (4096, 2)]):
        n = 2 if b == 1 else 1
        plain, _, us_plain = measure(w, n, n, 0, batch=b, secure=False)
        curve, _, us_curve = measure(w, n, n, 0, batch=b)
        out(f"  {b:>5} {w:>7} {plain:>12,.0f} {curve:>12,.0f} {curve / plain:>11.0%}"
            f" {us_plain:>17,.{1 if b == 1 else 2}f} {us_curve:>6,.{1 if b == 1 else 2}f}")
    out()


def soak_section():
    """Raw mode, one hash per job, 8 workers for --soak-minutes: each role's resident
    memory (summed over its processes) at minute 2 (or a quarter of a shorter soak) and
    at the end; a leak per message shows as growth."""
    minutes = args.soak_minutes
    first = min(2.0, minutes / 4)
    out(f"soak (raw mode, one hash per job, 8 workers, rng 2, hasher 2, {minutes:g} min; RSS of"
        f" each role at minute {first:g} and at the end)")
    with Rig(secure=True) as rig:
        rig.start_all(workers=8, rngs=2, hashers=2, delay_ms=0)
        wait_for("all workers reporting", lambda: rig.stats("worker").get("workers", 0) >= 8,
                 timeout=60)
        t0 = time.monotonic()
        pids = {n: p.pid for n, p in rig.procs.items()}
        cpu0 = {n: cpu_seconds(pid) for n, pid in pids.items()}
        books0 = fresh_snapshot(rig, 0)

        def sample():
            rss = {}
            for n, pid in pids.items():
                rss[rig.kinds[n]] = rss.get(rig.kinds[n], 0) + rss_kib(pid)
            return rss

        time.sleep(first * 60)  # a soak runs for a set time: nothing to wait for
        rig.check_alive()
        start = sample()
        time.sleep((minutes - first) * 60)
        rig.check_alive()
        end = sample()
        wall = time.monotonic() - t0
        books1 = fresh_snapshot(rig, books0["ts_ms"])
        cpu = {}
        for n, pid in pids.items():
            cpu[rig.kinds[n]] = cpu.get(rig.kinds[n], 0) + (cpu_seconds(pid) - cpu0[n]) / wall * 100
    rate = (books1["hashes"] - books0["hashes"]) * 1000.0 / (books1["ts_ms"] - books0["ts_ms"])
    out(f"  {rate:,.0f} hashes/s over the soak, {us_per_hash(cpu, rate):,.1f} CPU µs/hash"
        f"   {cpu_text(cpu)}")
    at_first = f"RSS MiB at {first:g} min"
    out(f"  {'role':<10} {at_first:>18} {'at end':>8} {'growth':>7}")
    for k in ROLES + ("redis",):
        a, b = start.get(k, 0) / 1024, end.get(k, 0) / 1024
        out(f"  {k:<10} {a:>18.1f} {b:>8.1f} {(b / a - 1) if a else 0:>+7.1%}")
    out()


def fresh_snapshot(rig, after_ts_ms):
    """The dispatcher's books from a snapshot less than 1.5 s old and newer than
    after_ts_ms."""
    return wait_for("a fresh dispatcher snapshot",
                    lambda: (lambda s: s if s and s["ts_ms"] > after_ts_ms else None)(
                        rig.fresh_books()), timeout=10)


def workshop_section():
    """Workshop mode against the model, with what the broker says of rng and hasher."""
    out("workshop mode (100 ms per rng call, hasher call and loop pause; 1 hasher = 20 slots)")
    out(f"  {'workers':>7} {'rng':>3} {'hasher':>6} {'predicted':>9} {'measured':>8} {'error':>6}"
        f"   {'rng busy':>8} {'rng p99 wait':>12} {'hasher busy':>11} {'hasher p50':>10}")
    configs = ([(1, 1), (10, 1), (10, 2)] if args.quick else
               [(1, 1), (2, 1), (5, 1), (10, 1), (10, 2), (10, 3), (20, 3), (20, 5)])
    for w, r in configs:
        h = 1
        predicted = min(w / 0.3, r * 10, h * 20 * 10)
        st = {}
        rate, _, _ = measure(w, r, h, 100, seconds=max(secs, 12), stats=st)  # ~1 hash of rounding
        rs, hs = st["rng"], st["hasher"]
        out(f"  {w:>7} {r:>3} {h:>6} {predicted:>9.2f} {rate:>8.2f} {rate / predicted - 1:>+6.1%}"
            f"   {rs.get('busy_pct', 0):>7}% {rs.get('wait_p99_ms', 0):>9} ms"
            f" {hs.get('busy_pct', 0):>10}% {hs.get('svc_p50_ms', 0):>7} ms")


if not args.workshop:
    raw_sections()
    if args.soak_minutes > 0:
        soak_section()
workshop_section()
