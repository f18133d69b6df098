"""Release tracks: each worker names its track (--track / DC_TRACK, default stable) and
the dispatcher counts hashes per track in dc:stats:tracks and its /metrics. 3 stable
workers (two of them without --track: the default, no track frame on the wire; one with
--track stable) and 2 canary workers (--track canary, and DC_TRACK=canary), each held to the same pace by its own 100 ms pause: the canary's share of the
hashes counted is ~40 % (30-50 %), and the totals per track add up to the dispatcher's.
Beyond 8 tracks, hashes are counted as untracked."""
import os
import subprocess

from dcrig import Rig, bindir, wait_for

# a bad track is refused before anything starts
for bad in ["Canary", "a_b", "x" * 17, ""]:
    r = subprocess.run([os.path.join(bindir(), "dc-worker"), "--track", bad, "--insecure"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "track" in r.stderr, (bad, r)
r = subprocess.run([os.path.join(bindir(), "dc-worker"), "--help"], capture_output=True,
                   text=True, timeout=10)
assert "DC_TRACK" in r.stdout, r.stdout


def tracks(rig):
    raw = rig.r.hgetall("dc:stats:tracks")
    return {k.decode(): int(v) for k, v in raw.items()}


def per_track(snapshot, prefix):
    return {k[len(prefix):]: v for k, v in snapshot.items() if k.startswith(prefix)}


with Rig() as rig:
    rig.start_redis()
    rig.start_broker()
    rig.start_service("rng", None, 5)
    rig.start_service("hasher", None, 5)
    rig.start_dispatcher()
    for _ in range(2):
        rig.start_worker(None, 100)  # no --track: stable, and no track frame on the wire
    rig.start_worker(None, 100, "--track", "stable")
    rig.start_worker(None, 100, "--track", "canary")
    name = rig.next_name("worker")
    rig.spawn(name, [os.path.join(rig.bin, "dc-worker"), "--broker", rig.ep("broker"),
                     "--jobs", rig.ep("jobs"), "--results", rig.ep("results"),
                     "--delay-ms", "100", "--id", name] + rig.common(name),
              env={"DC_TRACK": "canary"}, kind="worker")
    wait_for("all 5 workers counted", lambda: rig.stats("worker").get("workers", 0) >= 5,
             timeout=30)
    a = wait_for("both tracks in dc:stats:tracks",
                 lambda: (lambda t: t if {"hashes.stable", "hashes.canary"} <= t.keys()
                          else None)(tracks(rig)), timeout=10)
    # the share over >= 10 s of counted hashes, each snapshot stamped with its own time
    b = wait_for("a snapshot 10 s later",
                 lambda: (lambda t: t if t.get("ts_ms", 0) >= a["ts_ms"] + 10000 else None)(
                     tracks(rig)), timeout=20, interval=0.2)
    grown = {t: per_track(b, "hashes.")[t] - per_track(a, "hashes.")[t]
             for t in ("stable", "canary")}
    total = sum(grown.values())
    assert total > 100, grown  # 5 workers at ~9/s each for 10 s: ~450
    share = grown["canary"] / total
    print(f"over {(b['ts_ms'] - a['ts_ms']) / 1000:.1f} s: {grown}; canary {share:.1%} "
          "(2 of 5 workers)")
    assert 0.30 <= share <= 0.50, (share, grown)
    # the recent window (what the page's shares come from) says about the same
    recent = per_track(b, "recent.")
    rshare = recent["canary"] / max(1, sum(recent.values()))
    assert 0.25 <= rshare <= 0.55 and b["window_s"] == 10, (recent, b)
    assert b["untracked_hashes"] == 0, b
    # /metrics carries one series per track
    _, text = rig.http("dispatcher", "/metrics")
    lines = {l.rsplit(" ", 1)[0]: int(l.rsplit(" ", 1)[1]) for l in text.splitlines()
             if l.startswith("dc_dispatcher_track_hashes_total{")}
    assert set(lines) == {'dc_dispatcher_track_hashes_total{track="stable"}',
                          'dc_dispatcher_track_hashes_total{track="canary"}'}, lines
    # at most 8 tracks: 8 more workers of 8 new tracks make 10; the last two to arrive
    # mine untracked, counted as such
    for i in range(8):
        rig.start_worker(None, 100, "--track", "t%d" % i)
    full = wait_for("8 tracks and untracked hashes", lambda: (
        lambda t: t if len(per_track(t, "hashes.")) == 8 and t["untracked_hashes"] > 0 else None)(
        tracks(rig)), timeout=30, interval=0.2)
    print(f"10 tracks named: {sorted(per_track(full, 'hashes.'))} counted apart, "
          f"{full['untracked_hashes']} hashes untracked so far")
    # at the end the tracks and the untracked add up to every hash the dispatcher counted
    books = rig.stop_and_check_books(wallet=False)
    final = tracks(rig)
    assert sum(per_track(final, "hashes.").values()) + final["untracked_hashes"] == books["hashes"], (
        final, books)
    print(f"tracks {per_track(final, 'hashes.')} + {final['untracked_hashes']} untracked add up to "
          f"the books' {books['hashes']} hashes")
