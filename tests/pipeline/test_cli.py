"""Every binary answers --help (exit 0, naming its environment variables) and --version,
and refuses unknown flags and out-of-range values with exit 2 and a message."""
import os
import subprocess
import tempfile

from dcrig import bindir

BINARIES = {
    "dc-broker": ["DC_BROKER_BIND", "DC_REDIS", "DC_HEARTBEAT_MS", "DC_MAX_QUEUE", "DC_HTTP"],
    "dc-rng": ["DC_BROKER", "DC_DELAY_MS", "DC_RAW"],
    "dc-hasher": ["DC_BROKER", "DC_DELAY_MS", "DC_RAW"],
    "dc-worker": ["DC_BROKER", "DC_JOBS", "DC_RESULTS", "DC_DELAY_MS", "DC_TIMEOUT_MS"],
    "dc-dispatcher": ["DC_JOBS_BIND", "DC_RESULTS_BIND", "DC_REDIS", "DC_BATCH", "DC_WINDOW",
                      "DC_REDIS_PASSWORD_FILE", "DC_KEYS", "DC_INSECURE"],
}


def run(*argv, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, env=e)


checks = 0
for name, envs in BINARIES.items():
    exe = os.path.join(bindir(), name)
    r = run(exe, "--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage: " + name), (name, r)
    for var in envs:
        assert var in r.stdout, (name, var)
    r = run(exe, "--version")
    assert r.returncode == 0 and name in r.stdout, (name, r)
    r = run(exe, "--no-such-flag")
    assert r.returncode == 2 and "unknown option" in r.stderr and "--help" in r.stderr, (name, r)
    r = run(exe, "--http")
    assert r.returncode == 2 and "needs a value" in r.stderr, (name, r)
    checks += 4

for exe, flag, env in [("dc-dispatcher", "--batch", "DC_BATCH"), ("dc-rng", "--delay-ms", "DC_DELAY_MS"),
                       ("dc-broker", "--max-queue", "DC_MAX_QUEUE")]:
    path = os.path.join(bindir(), exe)
    r = run(path, flag, "-1")
    assert r.returncode == 2 and flag in r.stderr and "must be an integer" in r.stderr, r
    r = run(path, env={env: "lots"})
    assert r.returncode == 2 and env in r.stderr, r
    checks += 2

# usage is checked before anything starts (no keys given here: a start would fail with 1):
# a malformed HOST:PORT, a track the worker's own check refuses; --help shows each range
no_keys = {"DC_KEYS": "", "DC_INSECURE": ""}
r = run(os.path.join(bindir(), "dc-dispatcher"), "--redis", "::1:6379", env=no_keys)
assert r.returncode == 2 and "--redis" in r.stderr and "HOST:PORT" in r.stderr, r
r = run(os.path.join(bindir(), "dc-worker"), "--track", "Bad!", env=no_keys)
assert r.returncode == 2 and "--track" in r.stderr, r
# a worker id the dispatcher would refuse in every READY (a space, 65 bytes) is refused here
for bad in ("a b", "w" * 65):
    r = run(os.path.join(bindir(), "dc-worker"), env=dict(no_keys, DC_WORKER_ID=bad))
    assert r.returncode == 2 and "DC_WORKER_ID" in r.stderr, r
r = run(os.path.join(bindir(), "dc-dispatcher"), "--help")
assert "--batch 1..4096" in r.stdout, r.stdout
checks += 4

# an endpoint that cannot be bound (no such address) is an error that says what to do
r = run(os.path.join(bindir(), "dc-dispatcher"), "--jobs", "@tcp://256.1.1.1:1", "--insecure")
assert r.returncode == 1 and "cannot bind" in r.stderr and "--jobs" in r.stderr, r
assert "INSECURE" in r.stderr, "--insecure must say so loudly"
checks += 1

# security is not optional: no keys and no --insecure is an error that says what to do
for name in BINARIES:
    r = run(os.path.join(bindir(), name), env={"DC_KEYS": "", "DC_INSECURE": ""})
    assert r.returncode == 1 and "dc-keygen" in r.stderr and "--insecure" in r.stderr, (name, r)
    r = run(os.path.join(bindir(), name), "--keys", "/nonexistent")
    assert r.returncode == 1 and "/nonexistent" in r.stderr, (name, r)
    checks += 2

# endpoint flags explain the czmq prefixes; tools that serve nothing offer no --http
r = run(os.path.join(bindir(), "dc-worker"), "--help")
assert "'@tcp://HOST:PORT' binds" in r.stdout and "'>tcp://HOST:PORT'" in r.stdout, r.stdout
r = run(os.path.join(bindir(), "dc-keygen"), "--help")
assert r.returncode == 0 and "--keys DIR" in r.stdout and "--http" not in r.stdout, r.stdout
r = run(os.path.join(bindir(), "dc-selftest"), "--help")
assert r.returncode == 0 and "Usage: dc-selftest" in r.stdout and "dc_broker" in r.stdout, r
r = run(os.path.join(bindir(), "dc-hasher"), "--concurrency", "0")
assert r.returncode == 2 and "--concurrency" in r.stderr, r
r = run(os.path.join(bindir(), "dc-rng"), "--concurrency", "2")
assert r.returncode == 2 and "unknown option" in r.stderr, "rng serves one request at a time"
checks += 5

# dc-audit: a tool (no --http), usage errors exit 2, an unreachable Redis exit 3
audit = os.path.join(bindir(), "dc-audit")
r = run(audit, "--help")
assert r.returncode == 0 and "--http" not in r.stdout, r.stdout
for var in ("DC_REDIS", "DC_REDIS_PASSWORD_FILE", "DC_REDIS_PASSWORD", "DC_AUDIT_SHOW"):
    assert var in r.stdout, var
r = run(audit, "--show", "-1")
assert r.returncode == 2 and "--show" in r.stderr, r
r = run(audit, "--redis", "nohostport:x")
assert r.returncode == 2 and "--redis" in r.stderr, r
r = run(audit, "--redis", "127.0.0.1:1")
assert r.returncode == 3 and r.stdout.startswith("dc-audit: UNREAD: 127.0.0.1:1"), r
checks += 4

# dc-keygen makes a key directory and never overwrites one
keygen = os.path.join(bindir(), "dc-keygen")
with tempfile.TemporaryDirectory() as d:
    r = run(keygen, "--keys", d + "/k")
    assert r.returncode == 0, r
    for f in ["broker.cert", "broker.cert_secret", "dispatcher.cert", "dispatcher.cert_secret",
              "client.cert", "client.cert_secret", "authorized/client.cert"]:
        assert os.path.exists(os.path.join(d, "k", f)), f
    assert oct(os.stat(os.path.join(d, "k", "client.cert_secret")).st_mode & 0o777) == "0o640"
    r = run(keygen, "--keys", d + "/k")
    assert r.returncode == 1 and "already holds keys" in r.stderr, r
checks += 2
print(f"{checks} passed, 0 failed")
