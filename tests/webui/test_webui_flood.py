"""dc-webui under a connection flood: 2,000 idle TCP connections (more than
its 1,100 threads) held open must not delay /json beyond 100 ms (95 % of
requests; none beyond 500 ms), and a viewer
that was streaming before the flood keeps its stream.

On a busy machine a /json can wait for the CPU whatever the flood does, so the
bound is 100 ms or, when larger, 3 times the slowest /json of a control: a
second dc-webui on the same Redis, without the flood, asked in turn with the
flooded one. A flood that starved /json of threads would make it wait about
the request timeout (1 s), far above either.

civetweb gives each connection a thread; one that never sends a request holds
its thread until the request timeout. dc-webui keeps that timeout short, so
the flood drains by itself within seconds (the server closes the idle
sockets; the test keeps its ends open and never reconnects them).

usage: test_webui_flood.py PATH/TO/dc-webui [--connections N]
"""
import argparse
import socket
import sys
import threading
import time

import dcrig as h

JSON_LIMIT_S = 0.100  # the requirement: /json within 100 ms (95 % of them)
STARVED_S = 0.500  # and none near the request timeout
NOISE_FACTOR = 3  # the bound on a busy machine: 3 x the control's slowest /json
SETTLE_S = 3.0  # "once the flood is open for a couple of seconds"
MEASURE_S = 8.0
VIEWER_GAP_S = 3.0  # snapshots come once a second; a gap this long is a stall


def open_flood(port, count):
    """count idle connections (connected, nothing sent); returns the sockets
    and how long opening them took."""
    socks = []
    start = time.monotonic()
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        socks.append(sock)
    return socks, time.monotonic() - start


def timed_json(url):
    start = time.monotonic()
    status, _, body = h.http_get(url + "/json", timeout=10)
    return time.monotonic() - start, status, body


class Viewer(threading.Thread):
    """Reads a stream and records when each snapshot arrived."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.client = h.SseClient(port, timeout=15)
        self.arrivals = []  # (id, monotonic time)
        self.ended = False

    def run(self):
        try:
            while True:
                snap = self.client.next_snapshot()
                if snap is None:
                    break
                self.arrivals.append((snap[0], time.monotonic()))
        except OSError:
            pass
        self.ended = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("webui", help="path to the dc-webui binary")
    parser.add_argument("--connections", type=int, default=2000)
    args = parser.parse_args()
    limit = h.raise_nofile(args.connections + 512)
    if limit < args.connections + 100:
        print(f"RLIMIT_NOFILE is {limit}: cannot open {args.connections} sockets; raise the "
              "hard limit (ulimit -Hn)", file=sys.stderr)
        return 1
    redis = h.RedisServer().start()
    webui = h.Webui(args.webui, redis.address).start()  # default --threads (1100)
    control = h.Webui(args.webui, redis.address, ["--threads", "60"]).start()
    feeder = h.Feeder(redis.r, rate=30).start()
    failures = []
    socks = []
    try:
        viewer = Viewer(webui.port)
        viewer.start()
        h.wait_for("the viewer's first snapshots", lambda: len(viewer.arrivals) >= 2, 10)
        base = sorted(timed_json(webui.url)[0] for _ in range(5))
        print(f"/json before the flood: best {base[0] * 1000:.1f} ms, "
              f"worst {base[-1] * 1000:.1f} ms")

        socks, took = open_flood(webui.port, args.connections)
        flood_open = time.monotonic()
        print(f"{len(socks)} idle connections open in {took:.2f} s")
        first = timed_json(webui.url)[0]  # informative: the flood still holds the threads
        print(f"/json right after the flood opened: {first * 1000:.0f} ms")
        time.sleep(SETTLE_S)  # the requirement's "open for a couple of seconds"

        times, control_times = [], []
        while time.monotonic() - flood_open < SETTLE_S + MEASURE_S:
            control_times.append(timed_json(control.url)[0])
            elapsed, status, body = timed_json(webui.url)
            times.append(elapsed)
            if status != 200 or b'"coins"' not in body:
                failures.append(f"/json during the flood: {status} {body[:80]!r}")
            time.sleep(0.1)
        times.sort()
        control_times.sort()
        limit = max(JSON_LIMIT_S, NOISE_FACTOR * control_times[-1])
        print(f"/json during the flood ({len(times)} requests, from {SETTLE_S:.0f} s after it "
              f"opened): p50 {times[len(times) // 2] * 1000:.1f} ms, "
              f"max {times[-1] * 1000:.1f} ms; the control without the flood: p50 "
              f"{control_times[len(control_times) // 2] * 1000:.1f} ms, "
              f"max {control_times[-1] * 1000:.1f} ms; bound {limit * 1000:.0f} ms")
        # The bound holds for 95 % of the requests (a lone scheduling hiccup on a busy
        # machine is not the flood's doing); every one stays under STARVED_S, half the
        # ~1 s a request starved of threads would wait.
        p95 = times[int(len(times) * 0.95) - 1]
        if p95 > limit:
            failures.append(f"/json p95 {p95 * 1000:.0f} ms > {limit * 1000:.0f} ms during the flood")
        if times[-1] > STARVED_S:
            failures.append(f"a /json took {times[-1] * 1000:.0f} ms during the flood "
                            f"(> {STARVED_S * 1000:.0f} ms: starved of threads)")

        # a new viewer gets its stream during the flood too
        start = time.monotonic()
        late = h.SseClient(webui.port, timeout=10)
        got = late.next_snapshot()
        late.close()
        print(f"a new viewer during the flood: first snapshot in "
              f"{(time.monotonic() - start) * 1000:.0f} ms")
        if late.status != 200 or got is None:
            failures.append(f"a new viewer during the flood got {late.status}, {got}")

        # the viewer from before the flood kept its stream: no gap, no end
        during = [(i, t) for i, t in viewer.arrivals if t >= flood_open]
        times_seen = [flood_open] + [t for _, t in during]
        gap = max(b - a for a, b in zip(times_seen, times_seen[1:] + [time.monotonic()]))
        ids = [i for i, _ in during]
        print(f"the earlier viewer: {len(during)} snapshots during the flood, longest gap "
              f"{gap:.2f} s, ended: {viewer.ended}")
        if viewer.ended:
            failures.append("the viewer's stream ended during the flood")
        if gap > VIEWER_GAP_S:
            failures.append(f"the viewer got no snapshot for {gap:.1f} s during the flood")
        if not ids or ids != list(range(ids[0], ids[0] + len(ids))):
            failures.append(f"the viewer's ids are not consecutive: {ids}")
    finally:
        for sock in socks:
            sock.close()
        feeder.stop()
        control.stop()
        webui.stop()
        redis.close()
    for failure in failures:
        print("FAIL:", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
