#!/usr/bin/python3
"""SSE load bench for dc-webui: N concurrent /events viewers on loopback.

Starts its own redis-server (a feeder writes pipeline-like keys once a
second) and its own dc-webui, opens N SSE connections from one small epoll
client (bench/sse_load_client.c: a Python loop over 1,000 sockets is slow
enough under CPU contention to make events look late), keeps them for D
seconds and reports, per
client, whether every event published in that window arrived and how late.
"Late" means the event arrived more than --tolerance-ms after the snapshot's
own timestamp (ts_ms, taken when the poller read Redis). The webui's RSS
and CPU come from /proc.

  bench/sse_load.py --webui build/webui/dc-webui                 # 1,000 x 30 s
  bench/sse_load.py --webui ... --clients 200 --duration 10 --check

With --check the exit status is 1 unless every client got every event on
time, RSS and CPU stayed under --max-rss-mb and --max-cpu-pct, and dc-webui
exited 0 within a second of SIGTERM (3 s for a sanitizer build: dcrig.exit_bound).
Traffic goes to 127.0.0.1 only, and the run ends by itself.
"""
import argparse
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "pipeline"))
import dcrig as h  # noqa: E402


class Viewer:
    """One client's stream, as the epoll client reported it."""

    def __init__(self, index):
        self.index = index
        self.status = None
        self.events = []  # (id, ts_ms, arrival_ms)
        self.closed = False


def proc_sample(pid):
    """(RSS in MiB, CPU seconds user+system, threads) of a process."""
    with open(f"/proc/{pid}/status") as f:
        threads = int(re.search(r"Threads:\s+(\d+)", f.read()).group(1))
    return h.rss_kib(pid) / 1024, sum(h.proc_cpu(pid)), threads


def percentile(values, fraction):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(fraction * len(values)))]


def build_client():
    """Compile bench/sse_load_client.c when no --client binary is given."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sse_load_client.c")
    out = os.path.join(tempfile.mkdtemp(prefix="dc-sse-load-"), "sse_load_client")
    subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-D_GNU_SOURCE", "-O2", "-o", out,
                    source], check=True)
    return out


def wait_ready(procs, timeout):
    """Wait for every client process to print "ready" (all its viewers have
    their first snapshot)."""
    selector = selectors.DefaultSelector()
    for proc in procs:
        selector.register(proc.stdout, selectors.EVENT_READ, proc)
    pending = set(procs)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(deadline - time.monotonic()):
            line = key.fileobj.readline()
            if not line:
                raise AssertionError("a load client exited before it was ready")
            if line.strip() == "ready":
                pending.discard(key.data)
                selector.unregister(key.fileobj)
    if pending:
        raise AssertionError(f"load clients not ready after {timeout} s")


def run(args):
    h.raise_nofile(args.clients + 256)
    client = args.client or build_client()
    threads = args.threads or max(1100, args.clients + 100)
    redis = h.RedisServer().start()
    feeder = h.Feeder(redis.r, rate=10).start()
    webui = h.Webui(args.webui, redis.address, ["--threads", str(threads)]).start()
    nprocs = max(1, min(args.procs, args.clients))
    shares = [args.clients // nprocs + (1 if p < args.clients % nprocs else 0)
              for p in range(nprocs)]
    procs = []
    try:
        rss0, _, _ = proc_sample(webui.proc.pid)
        connect_start = time.monotonic()
        for share in shares:
            procs.append(subprocess.Popen([client, str(webui.port), str(share)], text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE))
        wait_ready(procs, 60)
        connect_s = time.monotonic() - connect_start
        window_start_ms = time.time() * 1000
        rss_start, cpu_start, _ = proc_sample(webui.proc.pid)
        wall_start = time.monotonic()
        rss_max, threads_max = rss_start, 0
        fanouts = []
        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))  # sampling period
            rss, _, nthreads = proc_sample(webui.proc.pid)
            rss_max, threads_max = max(rss_max, rss), max(threads_max, nthreads)
            fanout = re.search(rb"\ndc_webui_fanout_seconds (\S+)",
                               h.http_get(webui.url + "/metrics")[2])
            if fanout:
                fanouts.append(float(fanout.group(1)) * 1000)
        window_end_ms = time.time() * 1000
        rss_end, cpu_end, _ = proc_sample(webui.proc.pid)
        cpu_pct = 100 * (cpu_end - cpu_start) / (time.monotonic() - wall_start)
        status, _, metrics = h.http_get(webui.url + "/metrics")
        open_streams = re.search(rb"dc_webui_sse_clients (\d+)", metrics)
        # events published inside the window, late ones included, land within
        # the grace period: a measurement margin, not a synchronisation
        time.sleep(1.5)
        viewers = []
        offset = 0
        for proc, share in zip(procs, shares):
            out, _ = proc.communicate("stop\n", timeout=60)
            by_index = {}
            for line in out.splitlines():
                parts = line.split()
                if parts[0] == "S":
                    viewer = Viewer(offset + int(parts[1]))
                    viewer.status, viewer.closed = int(parts[2]), parts[3] == "1"
                    by_index[int(parts[1])] = viewer
                    viewers.append(viewer)
                elif parts[0] == "E":
                    by_index[int(parts[1])].events.append(
                        (int(parts[2]), int(parts[3]), float(parts[4])))
            offset += share
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        code, stop_s = webui.stop()
        feeder.stop()
        redis.close()

    window_ids = sorted({e[0] for v in viewers for e in v.events
                         if window_start_ms <= e[1] < window_end_ms})
    expected_ids = set(range(window_ids[0], window_ids[-1] + 1)) if window_ids else set()
    received = late = 0
    lateness = []
    bad_viewers = 0
    for viewer in viewers:
        got = {e[0]: e for e in viewer.events if e[0] in expected_ids}
        received += len(got)
        delays = [e[2] - e[1] for e in got.values()]
        lateness += delays
        late += sum(1 for d in delays if d > args.tolerance_ms)
        bad_viewers += viewer.status != 200 or len(got) != len(expected_ids)
    expected = len(expected_ids) * len(viewers)
    # per event id: the earliest arrival over all clients tells how late the
    # server published it; the spread after that is the fan-out and delivery
    first, last = {}, {}
    for viewer in viewers:
        for event_id, ts_ms, arrival in viewer.events:
            if event_id in expected_ids:
                first[event_id] = min(first.get(event_id, 1e18), arrival - ts_ms)
                last[event_id] = max(last.get(event_id, -1e18), arrival - ts_ms)
    publish = list(first.values())
    spread = [last[i] - first[i] for i in first]
    result = {
        "clients": args.clients, "duration_s": args.duration, "threads": threads,
        "procs": nprocs,
        "connect_s": connect_s, "events_per_client": len(expected_ids),
        "expected": expected, "received": received, "missing": expected - received,
        "late": late, "tolerance_ms": args.tolerance_ms,
        "lat_p50": percentile(lateness, 0.5), "lat_p99": percentile(lateness, 0.99),
        "lat_max": max(lateness) if lateness else float("nan"),
        "fanout_p50": percentile(fanouts, 0.5), "fanout_max": max(fanouts, default=float("nan")),
        "pub_p50": percentile(publish, 0.5), "pub_max": max(publish, default=float("nan")),
        "spread_p50": percentile(spread, 0.5), "spread_max": max(spread, default=float("nan")),
        "rss_idle": rss0, "rss_start": rss_start, "rss_max": rss_max, "rss_end": rss_end,
        "cpu_pct": cpu_pct, "threads_max": threads_max, "bad_viewers": bad_viewers,
        "open_streams": int(open_streams.group(1)) if open_streams else -1,
        "exit_code": code, "stop_s": stop_s, "metrics_status": status,
    }
    return result


def report(r):
    print(f"dc-webui SSE load: {r['clients']} clients x {r['duration_s']} s on loopback, "
          f"{r['threads']} server threads, {r['procs']} epoll client process(es)")
    rows = [
        ("clients connected (open streams per /metrics)",
         f"{r['clients'] - r['bad_viewers']} ok of {r['clients']} ({r['open_streams']})"),
        ("connect + first snapshot, all clients", f"{r['connect_s']:.2f} s"),
        ("events per client in window", f"{r['events_per_client']}"),
        ("events expected / received", f"{r['expected']} / {r['received']}"),
        ("events missing", f"{r['missing']}"),
        (f"late events (> {r['tolerance_ms']} ms after ts_ms)", f"{r['late']}"),
        ("lateness p50 / p99 / max",
         f"{r['lat_p50']:.0f} / {r['lat_p99']:.0f} / {r['lat_max']:.0f} ms"),
        ("  server fan-out, publish to last write (1/s) p50 / max",
         f"{r['fanout_p50']:.0f} / {r['fanout_max']:.0f} ms"),
        ("  first arrival per event (publish) p50 / max",
         f"{r['pub_p50']:.0f} / {r['pub_max']:.0f} ms"),
        ("  first-to-last arrival per event p50 / max",
         f"{r['spread_p50']:.0f} / {r['spread_max']:.0f} ms"),
        ("webui RSS idle / with clients / max / end",
         f"{r['rss_idle']:.1f} / {r['rss_start']:.1f} / {r['rss_max']:.1f} / "
         f"{r['rss_end']:.1f} MiB"),
        ("webui CPU during window", f"{r['cpu_pct']:.1f} % of one core"),
        ("webui threads (max)", f"{r['threads_max']}"),
        ("SIGTERM to exit", f"{r['stop_s'] * 1000:.0f} ms (exit code {r['exit_code']})"),
    ]
    width = max(len(k) for k, _ in rows)
    print("-" * (width + 30))
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("-" * (width + 30))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webui", required=True, help="path to dc-webui")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--threads", type=int, default=0,
                        help="dc-webui --threads (default: max(1100, clients + 100))")
    parser.add_argument("--procs", type=int, default=1,
                        help="client processes sharing the viewers (default 1)")
    parser.add_argument("--client", help="sse_load_client binary (default: compile "
                        "bench/sse_load_client.c with cc)")
    parser.add_argument("--tolerance-ms", type=float, default=500)
    parser.add_argument("--max-late-pct", type=float, default=0,
                        help="late events allowed by --check, in %% of expected")
    parser.add_argument("--max-rss-mb", type=float, default=256)
    parser.add_argument("--max-cpu-pct", type=float, default=50)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.clients < 1 or args.duration < 3 or args.duration > 600:
        parser.error("--clients >= 1 and 3 <= --duration <= 600")
    r = run(args)
    report(r)
    if not args.check:
        return 0
    failures = []
    if r["events_per_client"] < args.duration - 2:
        failures.append(f"only {r['events_per_client']} events in {args.duration} s")
    if r["missing"] or r["bad_viewers"]:
        failures.append(f"{r['missing']} events missing, {r['bad_viewers']} viewers short")
    if r["late"] > r["expected"] * args.max_late_pct / 100:
        failures.append(f"{r['late']} events later than {args.tolerance_ms} ms "
                        f"(allowed: {args.max_late_pct} %)")
    if r["rss_max"] > args.max_rss_mb:
        failures.append(f"RSS {r['rss_max']:.0f} MiB > {args.max_rss_mb}")
    if r["cpu_pct"] > args.max_cpu_pct:
        failures.append(f"CPU {r['cpu_pct']:.0f} % > {args.max_cpu_pct}")
    if r["exit_code"] != 0 or r["stop_s"] >= h.exit_bound(args.webui):
        failures.append(f"exit {r['exit_code']} after {r['stop_s']:.2f} s")
    for failure in failures:
        print(f"FAIL: {failure}")
    print(f"sse-load: {0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
