"""HTTP tests of dc-webui against the real binary and a real redis-server.

usage: test_webui_http.py PATH/TO/dc-webui
"""
import json
import math
import re
import socket
import subprocess
import sys
import time
import unittest

import dcrig as h

WEBUI = None


class WebuiHttp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = h.RedisServer().start()
        cls.webui = h.Webui(WEBUI, cls.redis.address, ["--threads", "200"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.webui.stop()
        cls.redis.close()

    def setUp(self):
        if self.redis.proc is None:
            self.redis.start()
        self.redis.r.flushall()

    def get(self, path, **kwargs):
        return h.http_get(self.webui.url + path, **kwargs)

    # --- /json --------------------------------------------------------------
    def test_json_shape_and_values(self):
        self.redis.r.set("hashes", 4242)
        for i in range(3):
            self.redis.r.hset("wallet", f"coin{i}", "bytes")
        before = time.time()
        status, headers, body = self.get("/json")
        after = time.time()
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        data = json.loads(body)
        # The original: coins = HLEN wallet (a number), hashes = GET hashes
        # (Redis returns a string), now = Date.now() / 1000 (seconds, float).
        self.assertEqual(list(data), ["coins", "hashes", "now"])
        # the replica that answered, in a header (blue/green): by default the host name
        self.assertEqual(headers["x-dc-instance"], socket.gethostname())
        self.assertEqual(data["coins"], 3)
        self.assertEqual(data["hashes"], "4242")
        self.assertIsInstance(data["now"], float)
        self.assertTrue(before - 0.01 <= data["now"] <= after + 0.01, data["now"])

    def test_json_empty_redis(self):
        status, _, body = self.get("/json")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["coins"], 0)
        self.assertIsNone(json.loads(body)["hashes"])

    def test_json_head(self):
        status, headers, body = self.get("/json", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertGreater(int(headers["content-length"]), 0)

    # --- /events ------------------------------------------------------------
    def test_tracks_split(self):
        """dc:stats:tracks with two tracks mining: each one's share of the recent hashes,
        and the line the page shows; then a track that stopped mining drops out of it."""
        client = h.SseClient(self.webui.port)
        try:
            h.write_stats(self.redis.r, "dc:stats:tracks",
                          {"hashes.stable": 900, "recent.stable": 75, "hashes.canary": 40,
                           "recent.canary": 25, "window_s": 10, "untracked_hashes": 0})
            snap = h.wait_for("a snapshot with two tracks",
                              lambda: (lambda s: s if s["tracks"]["text"] else None)(
                                  client.next_snapshot()[1]), timeout=5)
            self.assertEqual(snap["tracks"]["text"], "stable 75 % · canary 25 %")
            self.assertEqual([(t["name"], t["hashes"], t["share_pct"])
                              for t in snap["tracks"]["list"]],
                             [("stable", 900, 75), ("canary", 40, 25)])
            _, text = self.get("/metrics")[0::2]
            self.assertIn('dc_track_share_ratio{track="canary"} 0.25\n', text.decode())
            h.write_stats(self.redis.r, "dc:stats:tracks",
                          {"hashes.stable": 990, "recent.stable": 90, "hashes.canary": 40,
                           "recent.canary": 0, "window_s": 10})
            h.wait_for("the canary's line gone once it stops mining",
                       lambda: client.next_snapshot()[1]["tracks"]["text"] is None, timeout=5)
        finally:
            client.close()
            self.redis.r.delete("dc:stats:tracks")

    def test_events_stream(self):
        feeder = h.Feeder(self.redis.r, rate=30).start()
        client = h.SseClient(self.webui.port)
        try:
            self.assertEqual(client.status, 200)
            self.assertTrue(client.headers["content-type"].startswith("text/event-stream"))
            self.assertIn("no-cache", client.headers["cache-control"])
            first = client.next_event()
            self.assertEqual(first[0], "history")
            self.assertEqual(client.retry, 2000)
            self.assertIn("points", json.loads(first[2]))
            snapshots = [client.next_snapshot() for _ in range(14)]
        finally:
            client.close()
            feeder.stop()
        ids = [s[0] for s in snapshots]
        self.assertEqual(ids, list(range(ids[0], ids[0] + len(ids))), "ids step by one")
        # cadence: after the first (sent at once on connect) one per second
        gaps = [b[1]["ts_ms"] - a[1]["ts_ms"] for a, b in zip(snapshots[1:], snapshots[2:])]
        for gap in gaps:
            self.assertAlmostEqual(gap, 1000, delta=150, msg=f"gaps {gaps}")
        for _, snap, arrived in snapshots[1:]:
            self.assertLess(arrived * 1000 - snap["ts_ms"], 500, "event delivered late")
        last = snapshots[-1][1]
        self.assertEqual(set(last), {"ts_ms", "redis", "hashes", "coins", "speed", "data",
                                     "books", "tracks", "stages", "bottleneck"})
        # no release tracks reported: nothing to show
        self.assertEqual(last["tracks"], {"window_s": None, "list": [], "text": None})
        self.assertTrue(last["redis"]["ok"])
        # the feeder's dispatcher never lost its books: nothing to warn about
        self.assertEqual(last["books"], {"lost": 0, "t_ms": None, "text": None})
        self.assertTrue(last["data"]["fresh"], last["data"])
        self.assertLess(last["data"]["age_s"], 3)
        self.assertGreater(last["hashes"], 0)
        self.assertGreater(last["coins"], 0)
        self.assertEqual(last["speed"]["window_s"], 10)
        # the feeder adds 30 a second: the 10 s average must say about 30
        self.assertAlmostEqual(last["speed"]["hashes_per_s"], 30, delta=4)
        self.assertEqual([s["name"] for s in last["stages"]],
                         ["rng", "hasher", "broker", "worker", "dispatcher"])
        # the chart's newest points come with every snapshot, the speed last
        self.assertEqual(last["speed"]["recent"][-1], [last["speed"]["t_ms"],
                                                       last["speed"]["hashes_per_s"]])
        rng = last["stages"][0]
        self.assertEqual((rng["instances"], rng["busy_pct"], rng["queue"]), (1, 100, 9))
        hasher = last["stages"][1]
        self.assertEqual((hasher["instances"], hasher["slots"]), (1, 20))
        # the feeder writes every field of proto/dc_stats.h: the reader lacks none
        self.assertEqual({st["name"]: st["missing"] for st in last["stages"]},
                         {name: [] for name in ("rng", "hasher", "broker", "worker", "dispatcher")})
        # stage rates: the counters' rise over the same 10 s window as the
        # speed, not the per-second field (the feeder leaves that at 10)
        by_name = {stage["name"]: stage for stage in last["stages"]}
        for name, want in (("rng", 30), ("hasher", 30), ("broker", 60), ("worker", 30),
                           ("dispatcher", 30)):
            self.assertAlmostEqual(by_name[name]["rate"], want, delta=want * 0.15, msg=name)
        self.assertEqual(last["bottleneck"]["stage"], "rng")
        self.assertIn("rng is the bottleneck: 1 instance, 1 slot, 100% busy",
                      last["bottleneck"]["text"])
        self.assertIn("Scale rng next", last["bottleneck"]["text"])

    def test_events_workers_are_the_limit(self):
        stats = h.ten_workers_one_rng()
        stats["dc:stats:rng"].update(busy_pct=35, queue=0)
        stats["dc:stats:hasher"].update(busy_pct=30, queue=0)
        stats["dc:stats:worker"].update(workers=3)
        # rewritten every second: stats older than 5 s no longer count
        feeder = h.Feeder(self.redis.r, rate=10, stats=stats).start()
        client = h.SseClient(self.webui.port)
        try:
            # the verdict may hold the previous test's stage for its 5 s
            # hysteresis (when no poll saw the flushed Redis in between)
            snap = self.snapshot_where(
                client, lambda s: s["stages"][0]["busy_pct"] == 35
                and s["bottleneck"]["stage"] == "worker", 15, "the workers named")
        finally:
            client.close()
            feeder.stop()
        self.assertEqual(snap["bottleneck"]["stage"], "worker")
        self.assertIn("The workers are the limit: 3 workers, no service saturated; "
                      "rng 35% busy, hasher 30% busy. Add workers", snap["bottleneck"]["text"])

    def snapshot_where(self, client, condition, timeout, what):
        """The next snapshot on client's stream for which condition holds."""
        def matching():
            snap = client.next_snapshot()[1]
            return snap if condition(snap) else None
        return h.wait_for(what, matching, timeout)

    def test_events_both_saturated_and_broker(self):
        stats = h.ten_workers_one_rng()
        stats["dc:stats:hasher"].update(slots=1, busy_pct=99)
        feeder = h.Feeder(self.redis.r, rate=10, stats=stats).start()
        client = h.SseClient(self.webui.port)
        try:
            snap = self.snapshot_where(
                client, lambda s: "both saturated" in s["bottleneck"]["text"], 15,
                "both services named saturated")
            self.assertEqual(snap["bottleneck"]["stage"], "rng")
            self.assertIn("rng and hasher are both saturated: scale rng first, then hasher",
                          snap["bottleneck"]["text"])
            # services keep up, the broker's process is CPU-bound: the broker
            for key, change in (("dc:stats:rng", dict(busy_pct=40, queue=0)),
                                ("dc:stats:hasher", dict(busy_pct=20, queue=0)),
                                ("dc:stats:broker", dict(cpu_pct=97))):
                feeder.stats[key] = dict(feeder.stats[key], **change)
            snap = self.snapshot_where(client, lambda s: s["bottleneck"]["stage"] == "broker",
                                       15, "the broker named")
            self.assertIn("The broker is the limit: its process uses 97% of a CPU core",
                          snap["bottleneck"]["text"])
        finally:
            client.close()
            feeder.stop()

    # --- the chart's history lives in Redis -------------------------------------
    def test_history_comes_from_redis(self):
        # five minutes of a rig at 12 hashes/s, written before this viewer
        # (and as far as it knows, before this server) existed
        now = int(time.time() * 1000)
        h.write_series(self.redis.r, now - 299_000, 12, 300)
        def history():
            # what a viewer connecting now gets first
            viewer = h.SseClient(self.webui.port)
            try:
                kind, _, data, _ = viewer.next_event()
                return kind, json.loads(data)["points"]
            finally:
                viewer.close()
        # the server reads Redis once a second: the first viewers may come
        # before it read the series
        kind, points = h.wait_for("a history of five minutes",
                                  lambda: (lambda k: k if len(k[1]) >= 290 else None)(history()), 5)
        self.assertEqual(kind, "history")
        client = h.SseClient(self.webui.port)
        try:
            self.assertLessEqual(now - points[0][0], 300_000)
            for t, speed in points:
                self.assertAlmostEqual(speed, 12, delta=0.5, msg=t)
            _, snap, _ = client.next_snapshot()
            self.assertAlmostEqual(snap["speed"]["hashes_per_s"], 12, delta=0.5)
        finally:
            client.close()

    def test_no_data_when_the_series_stops(self):
        now = int(time.time() * 1000)
        h.write_series(self.redis.r, now - 60_000, 10, 41)  # the last sample 20 s ago
        client = h.SseClient(self.webui.port)
        try:
            snap = self.snapshot_where(client, lambda s: s["data"]["t_ms"] == now - 20_000, 5,
                                       "a snapshot with this series")
            self.assertFalse(snap["data"]["fresh"])
            self.assertAlmostEqual(snap["data"]["age_s"], 20, delta=3)
            self.assertIsNone(snap["bottleneck"]["stage"])
            self.assertIn("Stopped: no counts from the dispatcher", snap["bottleneck"]["text"])
            # the rig comes back: fresh again at once; it stops: stale after ~3 s
            feeder = h.Feeder(self.redis.r, rate=10).start()
            try:
                self.snapshot_where(client, lambda s: s["data"]["fresh"], 5, "fresh data")
            finally:
                feeder.stop()
            stopped = time.monotonic()
            snap = self.snapshot_where(client, lambda s: not s["data"]["fresh"], 10,
                                       "stale data after the feeder stopped")
            self.assertGreater(time.monotonic() - stopped, 2, "stale too early")
        finally:
            client.close()

    # --- /healthz and Redis outages -------------------------------------------
    def test_healthz_and_redis_outage(self):
        status, _, body = self.get("/healthz")
        self.assertEqual(status, 200, body)
        self.assertTrue(body.startswith(b"ok"))
        client = h.SseClient(self.webui.port)
        try:
            self.redis.stop()
            status, _, body = h.wait_for(
                "/healthz to report 503",
                lambda: (lambda r: r if r[0] == 503 else None)(self.get("/healthz")), 5)
            self.assertIn(b"redis unreachable", body)
            status, _, body = self.get("/json")
            self.assertEqual(status, 503)
            self.assertIn("redis unreachable", json.loads(body)["error"])
            snap = self.snapshot_where(client, lambda s: not s["redis"]["ok"], 5,
                                       "a snapshot saying Redis is down")
            self.assertIn("Redis unreachable", snap["bottleneck"]["text"])
            self.assertIsNone(snap["speed"]["hashes_per_s"])
            # the server keeps serving, and recovers by itself
            self.assertEqual(self.get("/")[0], 200)
            self.redis.start()
            h.wait_for("/healthz back to 200", lambda: self.get("/healthz")[0] == 200, 5)
            snap = self.snapshot_where(client, lambda s: s["redis"]["ok"], 5,
                                       "a snapshot with Redis back")
            self.assertIsNone(snap["redis"]["error"])
        finally:
            client.close()

    # --- /metrics -------------------------------------------------------------
    METRIC_LINE = re.compile(
        r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"'
        r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? [-+]?(\d+(\.\d*)?([eE][-+]?\d+)?|NaN|Inf)$')

    def parse_metrics(self, text):
        samples, types = {}, {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.assertNotIn(name, types, "one TYPE per family")
                self.assertIn(kind, ("counter", "gauge"))
                types[name] = kind
            elif line.startswith("# HELP "):
                continue
            else:
                self.assertRegex(line, self.METRIC_LINE)
                key, value = line.rsplit(" ", 1)
                family = key.split("{")[0]
                self.assertIn(family, types, f"sample before its TYPE: {line}")
                samples[key] = float(value)
        return samples

    def test_metrics(self):
        # 10 s of a rig at 10/3.03 hashes/s: the speed is 3.30033003...
        h.write_series(self.redis.r, int(time.time() * 1000) - 9_090, 1000 / 303, 11, 909)
        self.redis.r.set("hashes", 777)
        self.redis.r.hset("wallet", "a", "b")
        for key, fields in h.ten_workers_one_rng().items():
            h.write_stats(self.redis.r, key, fields)
        h.wait_for("metrics to show the totals",
                   lambda: b"dc_hashes_total 777\n" in self.get("/metrics")[2], 5)
        status, headers, body = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        samples = self.parse_metrics(body.decode())
        self.assertEqual(samples["dc_hashes_total"], 777)
        self.assertEqual(samples["dc_coins_total"], 1)
        self.assertEqual(samples["dc_redis_up"], 1)
        self.assertIn("dc_speed_hashes_per_second", samples)
        # no float noise: 3 decimals for rates, 6 for seconds, no more
        for line in body.decode().splitlines():
            if not line.startswith("#"):
                self.assertNotRegex(line, r"\.\d{7,}", line)
                if "_seconds" not in line:
                    self.assertNotRegex(line, r"\.\d{4,}", line)
        self.assertEqual(samples['dc_stage_busy_ratio{stage="rng"}'], 1)
        self.assertEqual(samples['dc_stage_queue_depth{stage="rng"}'], 9)
        self.assertEqual(samples['dc_stage_instances{stage="worker"}'], 10)
        self.assertAlmostEqual(
            samples['dc_stage_wait_seconds{stage="rng",quantile="0.99"}'], 0.95)
        self.assertEqual(samples['dc_bottleneck{stage="rng"}'], 1)
        self.assertEqual(samples['dc_bottleneck{stage="hasher"}'], 0)
        self.assertTrue(all(math.isfinite(v) for v in samples.values()))

    # --- the page -------------------------------------------------------------
    def test_page_and_assets(self):
        status, headers, body = self.get("/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertIn("script-src 'self'", headers["content-security-policy"])
        self.assertNotRegex(body.decode(), r"<script>|<script [^>]*>[^<]")  # no inline script
        self.assertNotIn("http://", body.decode().replace("http://www.w3.org", ""))
        for path, kind in (("/app.js", "text/javascript"), ("/app.css", "text/css"),
                           ("/chart.min.js", "text/javascript"), ("/index.html", "text/html")):
            status, headers, body = self.get(path)
            self.assertEqual(status, 200, path)
            self.assertTrue(headers["content-type"].startswith(kind), path)
            self.assertEqual(int(headers["content-length"]), len(body))
            status, _, _ = self.get(path, headers={"If-None-Match": headers["etag"]})
            self.assertEqual(status, 304, path)
        self.assertIn(b"Chart.js v3", self.get("/chart.min.js")[2][:200])
        # the icon browsers ask for: a real Windows icon, 16 and 32 px
        status, headers, body = self.get("/favicon.ico")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "image/x-icon")
        self.assertEqual(body[:6], b"\x00\x00\x01\x00\x02\x00")
        self.assertIn(b'rel="icon" href="favicon.ico"', self.get("/")[2])

    # --- bad requests -----------------------------------------------------------
    def test_bad_requests(self):
        self.assertEqual(self.get("/nope")[0], 404)
        self.assertEqual(self.get("/../../etc/passwd")[0], 404)
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
            status, headers, _ = self.get("/json", method=method)
            self.assertEqual(status, 405, method)
            self.assertEqual(headers.get("allow"), "GET, HEAD")
        # every one is answered (a silent close would fail): 400, or 505 for an unknown version
        huge = h.raw_request(self.webui.port, b"GET /json HTTP/1.1\r\nHost: x\r\nX-Big: "
                             + b"a" * 40000 + b"\r\n\r\n")
        self.assertRegex(huge[:13], rb"^HTTP/1\.[01] 4\d\d ")
        for garbage in (b"GARBAGE\r\n\r\n", b"GET /json HTTP/9.9\r\n\r\n",
                        b"\x00\x01\x02\xff\r\n\r\n", b"GET\r\n\r\n", b"GET json HTTP/1.1\r\n\r\n"):
            answer = h.raw_request(self.webui.port, garbage)
            self.assertRegex(answer[:13], rb"^HTTP/\d\.\d (4\d\d|505) ", garbage)
        # and it still serves
        self.assertEqual(self.get("/healthz")[0], 200)

    def test_security_headers_on_every_answer(self):
        for path, method, want in (("/", "GET", 200), ("/json", "HEAD", 200),
                                   ("/app.js", "GET", 200), ("/nope", "GET", 404),
                                   ("/json", "POST", 405), ("/metrics", "GET", 200)):
            status, headers, _ = self.get(path, method=method)
            self.assertEqual(status, want, (method, path))
            csp = headers.get("content-security-policy", "")
            self.assertIn("default-src 'none'", csp, path)
            self.assertIn("frame-ancestors 'none'", csp, path)
            self.assertNotIn("unsafe-inline", csp, path)
            self.assertNotIn("unsafe-eval", csp, path)
            self.assertEqual(headers.get("x-content-type-options"), "nosniff", path)
            self.assertEqual(headers.get("x-frame-options"), "DENY", path)
            self.assertEqual(headers.get("referrer-policy"), "no-referrer", path)


class WebuiProcess(unittest.TestCase):
    """Tests that need their own dc-webui instance."""

    def setUp(self):
        self.redis = h.RedisServer().start()
        self.webui = None

    def tearDown(self):
        if self.webui:
            self.webui.stop()
        self.redis.close()

    def test_replicas_draw_the_same_chart(self):
        # two replicas on one Redis, one started a minute into the run: the
        # same history, point for point (it comes from dc:series, not memory)
        now = int(time.time() * 1000)
        h.write_series(self.redis.r, now - 59_000, 7, 60)
        self.webui = h.Webui(WEBUI, self.redis.address).start()
        second = h.Webui(WEBUI, self.redis.address).start()

        def history(webui):
            client = h.SseClient(webui.port)
            try:
                return json.loads(client.next_event()[2])["points"]
            finally:
                client.close()
        try:
            first, other = h.wait_for(
                "both replicas' history",
                lambda: (lambda a, b: (a, b) if len(a) >= 59 and len(b) >= 59 else None)(
                    history(self.webui), history(second)), 5)
        finally:
            second.stop()
        self.assertEqual(first, other)
        self.assertEqual(len(first), 59)  # one point per sample but the first

    def test_help_and_bad_flags(self):
        done = subprocess.run([WEBUI, "--help"], capture_output=True, text=True, timeout=5)
        self.assertEqual(done.returncode, 0)
        for flag in ("--port", "DC_WEBUI_PORT", "--redis", "DC_REDIS", "--threads",
                     "DC_WEBUI_THREADS"):
            self.assertIn(flag, done.stdout)
        for bad in (["--bogus"], ["--threads", "x"], ["--redis", "a:b:c"], ["--port"]):
            done = subprocess.run([WEBUI, *bad], capture_output=True, text=True, timeout=5)
            self.assertEqual(done.returncode, 2, bad)
            self.assertIn("dc-webui:", done.stderr)

    def test_env_configures(self):
        self.webui = h.Webui(WEBUI, "127.0.0.1:1",
                             env={"DC_REDIS": self.redis.address, "DC_WEBUI_THREADS": "70"})
        # the flag wins over DC_REDIS: drop it to let the environment speak
        self.webui.args = [WEBUI, "--port", "127.0.0.1:0"]
        self.webui.start()
        self.assertIn("70 threads", self.webui.log())
        h.wait_for("healthz via DC_REDIS",
                   lambda: h.http_get(self.webui.url + "/healthz")[0] == 200, 5)

    def test_viewer_cap_keeps_health_answering(self):
        self.webui = h.Webui(WEBUI, self.redis.address, ["--threads", "60"]).start()
        clients = []
        try:
            for _ in range(10):
                clients.append(h.SseClient(self.webui.port))
                self.assertEqual(clients[-1].status, 200)
            status, headers, _ = h.http_get(self.webui.url + "/events")
            self.assertEqual(status, 503)
            self.assertEqual(headers.get("retry-after"), "5")
            self.assertEqual(h.http_get(self.webui.url + "/healthz")[0], 200)
        finally:
            for client in clients:
                client.close()

    def test_sigterm_with_open_streams_exits_fast(self):
        self.webui = h.Webui(WEBUI, self.redis.address).start()
        clients = [h.SseClient(self.webui.port) for _ in range(50)]
        try:
            for client in clients:
                self.assertIsNotNone(client.next_snapshot())
            # a client mid-request (headers never finished) must not hold it either
            idle = socket.create_connection(("127.0.0.1", self.webui.port))
            idle.sendall(b"GET /json HTTP/1.1\r\n")
            code, elapsed = self.webui.stop()
            idle.close()
        finally:
            for client in clients:
                client.close()
        self.assertEqual(code, 0, self.webui.log())
        self.assertLess(elapsed, h.exit_bound(WEBUI), "exit after SIGTERM took too long")
        # orderly ("stopped in") or, on a starved CPU, the 800 ms watchdog
        self.assertRegex(self.webui.log(), r"stopped in \d+ ms|exiting now")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    WEBUI = sys.argv.pop(1)
    unittest.main(verbosity=2)
