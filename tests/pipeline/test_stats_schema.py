"""The dc:stats:* schema has one source, proto/dc_stats.h, which the writers (broker,
dispatcher) and the reader (dc-webui) compile from. On the real binaries and a real
redis-server:
(a) docs/runtime.md's stats table lists every field of the header, and no other;
(b) a real pipeline (broker, rng, hasher, dispatcher, workers) writes exactly the header's
    fields in each hash, and the real dc-webui reads them into a view with nothing
    missing: every stage live, a stage named, no field it reads absent;
(c) mmi.stats stays valid JSON, and the broker's /metrics valid Prometheus text, for a
    service named a"b\\c (service names may hold '"' and '\\');
(d) the broker's and the dispatcher's /metrics serve exactly the families docs/runtime.md
    lists for them, each declared once by its # TYPE line (they are written from the
    same table as the stats hashes: a figure dropped from the table fails (b) or (d))."""
import json
import os
import re
import urllib.request

import zmq

from dcrig import Checks, Rig, free_port, sse_snapshot, stats_schema, wait_for

check = Checks()
HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME_MD = os.path.join(HERE, "..", "..", "docs", "runtime.md")
SCHEMA = stats_schema()
STAGES = ("rng", "hasher", "broker", "worker", "dispatcher")
HASHES = STAGES + ("tracks",)  # tracks: besides a hashes.T and a recent.T per track T


def key_of(stage):
    return "dc:stats:" + stage if "dc:stats:" + stage in SCHEMA else "dc:stats:<service>"


# (a) the doc's table --------------------------------------------------------------------
def doc_rows():
    """{key: set of backticked field names in its row} of the stats table."""
    rows = {}
    for line in open(RUNTIME_MD, encoding="utf-8"):
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 5 or "`dc:stats:" not in cells[1]:
            continue
        keys = re.findall(r"`(dc:stats:[a-z]+)`", cells[1])
        # field-like words only: not other keys, metrics (dc_...), paths or numbers
        names = {w for w in re.findall(r"`([^`]+)`", cells[3])
                 if re.fullmatch(r"[a-z][a-z0-9_]*", w) and not w.startswith("dc_")}
        for key in keys:
            rows[key] = names
    return rows


rows = doc_rows()
for stage in HASHES:
    key = "dc:stats:" + stage
    check(key in rows, f"docs/runtime.md has a row for {key}")
    want = set(SCHEMA[key_of(stage)])
    check(rows[key] == want, f"docs/runtime.md lists the fields of {key} as proto/dc_stats.h "
          f"does (doc only: {sorted(rows[key] - want)}, header only: {sorted(want - rows[key])})")


def doc_metrics():
    """{role: set of the /metrics families its rows list} of the /metrics table."""
    roles = {}
    for line in open(RUNTIME_MD, encoding="utf-8"):
        cells = [c.strip() for c in line.split("|")]
        if len(cells) != 4 or not re.fullmatch(r"(broker|dispatcher)(,.*)?", cells[1]):
            continue
        role = cells[1].split(",")[0]
        roles.setdefault(role, set()).update(re.findall(r"`(dc_[a-z_]+)`", cells[2]))
    return roles


def served_families(text):
    """{family: number of # TYPE lines} of a /metrics page, every sample's family
    included (0 when it has none)."""
    families = {}
    for line in text.splitlines():
        typed = re.fullmatch(r"# TYPE (\S+) (counter|gauge)", line)
        if typed:
            families[typed.group(1)] = families.get(typed.group(1), 0) + 1
        elif line and not line.startswith("#"):
            families.setdefault(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0), 0)
    return families


def settled(snap):
    """Every stage live, both workers heard from, rng and hasher registered."""
    by_name = {st["name"]: st for st in snap["stages"]}
    return (snap["redis"]["ok"] and all(st["live"] for st in snap["stages"])
            and by_name["worker"]["instances"] == 2 and by_name["hasher"]["slots"] == 20
            and by_name["rng"]["slots"] == 1)


# a Prometheus text line: a comment, or NAME{LABEL="VALUE",...} NUMBER with '"', '\\' and
# newlines escaped in VALUE
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{%s(?:,%s)*\})? [-+0-9.eEInfa]+" % (LABEL, LABEL))

with Rig() as rig:
    rig.start_all(workers=2, delay_ms=10)

    # (b) every hash holds exactly the header's fields ---------------------------------
    wait_for("all five dc:stats hashes",
             lambda: all(rig.r.exists("dc:stats:" + s) for s in STAGES), timeout=20)
    wait_for("the track of the workers in dc:stats:tracks",
             lambda: rig.r.hexists("dc:stats:tracks", "hashes.stable"), timeout=10)
    for stage in HASHES:
        fields = {k.decode() for k in rig.r.hgetall("dc:stats:" + stage)}
        if stage == "tracks":
            per_track = {f for f in fields if f.startswith(("hashes.", "recent."))}
            check(per_track == {"hashes.stable", "recent.stable"},
                  f"dc:stats:tracks: one track, stable: {sorted(per_track)}")
            fields -= per_track
        want = set(SCHEMA[key_of(stage)])
        check(fields == want, f"dc:stats:{stage} as written: not in the header "
              f"{sorted(fields - want)}, not written {sorted(want - fields)}")

    web_port = free_port()
    rig.spawn("webui", [os.path.join(rig.bin, "..", "webui", "dc-webui"), "--port",
                        "127.0.0.1:%d" % web_port, "--redis", rig.redis_address]
              + rig.redis_auth())
    wait_for("the webui listening", lambda: urllib.request.urlopen(
        "http://127.0.0.1:%d/json" % web_port, timeout=2).status == 200, timeout=15)
    snap = sse_snapshot(web_port, settled, 30)
    by_name = {st["name"]: st for st in snap["stages"]}
    check(set(by_name) == set(STAGES), f"the page's stages: {sorted(by_name)}")
    for stage in STAGES:
        check(by_name[stage]["missing"] == [],
              f"the webui misses no field of {stage}: {by_name[stage]['missing']}")
    for stage in ("rng", "hasher"):
        st = by_name[stage]
        check(st["instances"] == 1 and st["slots"] == (1 if stage == "rng" else 20)
              and st["busy_pct"] is not None and st["wait_p99_ms"] is not None
              and st["lat_p50_ms"] is not None,
              f"{stage}: 1 instance, its slots, busy and latencies read: {st}")
    check(by_name["worker"]["instances"] == 2 and by_name["worker"]["slots"] is None,
          f"worker: 2 instances (the miners), no slots: {by_name['worker']}")
    check(snap["bottleneck"]["stage"] in STAGES, f"a stage named: {snap['bottleneck']}")
    print("(b) the real writers' hashes hold the header's fields; the page's view misses "
          "none; named:", snap["bottleneck"]["stage"])

    # (c) a service name that JSON and Prometheus must escape ---------------------------
    name = b'a"b\\c'
    ctx = zmq.Context.instance()
    slot = rig.curve_client(ctx.socket(zmq.DEALER))
    slot.linger = 0
    slot.connect("tcp://127.0.0.1:%d" % rig.ports["broker"])
    slot.send_multipart([b"", b"MDPW01", b"\x01", name])

    def mmi_stats():
        req = rig.curve_client(ctx.socket(zmq.REQ))
        req.linger = 0
        req.rcvtimeo = 5000
        req.connect("tcp://127.0.0.1:%d" % rig.ports["broker"])
        req.send_multipart([b"MDPC01", b"mmi.stats"])
        reply = req.recv_multipart()
        req.close()
        # (polled by wait_for below: a failure here is reported, not counted each time)
        assert reply[:3] == [b"MDPC01", b"mmi.stats", b"200"], f"mmi.stats: {reply[:3]}"
        return json.loads(reply[3])  # raises on anything but valid JSON

    check.until("the slot registered in mmi.stats (200, valid JSON)",
                lambda: name.decode() in mmi_stats(), timeout=10)
    stats = mmi_stats()
    check(stats[name.decode()]["slots"] == 1 and stats[name.decode()]["instances"] == 1,
          f"mmi.stats, parsed as JSON: {stats[name.decode()]}")
    check(stats["rng"]["slots"] == 1 and stats["hasher"]["slots"] == 20,
          f"mmi.stats rng and hasher: {stats['rng']}, {stats['hasher']}")

    def metrics():
        return rig.http("broker", "/metrics")[1]

    label = 'dc_broker_service_slots{service="a\\"b\\\\c"} 1'
    wait_for("the service in /metrics", lambda: label in metrics().splitlines(), timeout=5)
    bad = [ln for ln in metrics().splitlines() if ln and not ln.startswith("#")
           and not SAMPLE.fullmatch(ln)]
    check(not bad, f"every /metrics line is valid exposition text: {bad[:3]}")
    slot.close()
    print("(c) mmi.stats parses as JSON and /metrics escapes the label of", name.decode())

    # (d) the /metrics families, as the docs list them ---------------------------------
    documented = doc_metrics()
    for role in ("broker", "dispatcher"):
        served = served_families(rig.http(role, "/metrics")[1])
        want = documented.get(role, set())
        check(want and set(served) == want,
              f"{role}'s /metrics serves the families docs/runtime.md lists (served only: "
              f"{sorted(set(served) - want)}, listed only: {sorted(want - set(served))})")
        check(all(n == 1 for n in served.values()), f"{role}: each family declared once by "
              f"its # TYPE line: {sorted(f for f, n in served.items() if n != 1)}")
    print("(d) /metrics of the broker and the dispatcher: the families the docs list")
print(f"{check.passed} passed, 0 failed")
