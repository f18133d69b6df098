"""dc-webui with Redis AUTH: the right password (from --redis-password-file or
DC_REDIS_PASSWORD) serves /json and a healthy /healthz; a wrong or missing one gives a
503 /healthz whose reason names the setting to fix. Usage: test_webui_auth.py DC_WEBUI"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

webui = sys.argv[1]
work = tempfile.mkdtemp(prefix="dc-webui-auth-")
procs = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def wait_for(what, cond, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_webui(args, env=None):
    port = free_port()
    e = dict(os.environ)
    e.update(env or {})
    procs.append(subprocess.Popen([webui, "--port", f"127.0.0.1:{port}"] + args, env=e,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_for("webui up", lambda: get(port, "/healthz")[0] is not None)
    return port


checks = 0
try:
    rport = free_port()
    procs.append(subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                   "--save", "", "--requirepass", "letmein",
                                   "--loglevel", "warning"], stdout=subprocess.DEVNULL))
    redis = f"127.0.0.1:{rport}"
    pwfile = os.path.join(work, "pw")
    with open(pwfile, "w") as f:
        f.write("letmein\n")
    subprocess.run(["redis-cli", "-p", str(rport), "--no-auth-warning", "-a", "letmein", "set",
                    "hashes", "42"], check=False, capture_output=True)
    wait_for("redis", lambda: subprocess.run(["redis-cli", "-p", str(rport), "--no-auth-warning",
                                              "-a", "letmein", "set", "hashes", "42"],
                                             capture_output=True, text=True).stdout.strip() == "OK")

    good = start_webui(["--redis", redis, "--redis-password-file", pwfile])
    wait_for("healthy with the right password", lambda: get(good, "/healthz")[0] == 200)
    assert get(good, "/readyz")[0] == 200
    status, body = get(good, "/json")
    assert status == 200 and '"hashes":"42"' in body.replace(" ", ""), body
    checks += 2

    env_good = start_webui(["--redis", redis], env={"DC_REDIS_PASSWORD": "letmein"})
    wait_for("healthy with DC_REDIS_PASSWORD", lambda: get(env_good, "/healthz")[0] == 200)
    checks += 1

    for label, env in [("wrong", {"DC_REDIS_PASSWORD": "nope"}), ("missing", {})]:
        port = start_webui(["--redis", redis], env=env)
        status, body = wait_for(f"{label} password reported",
                                lambda: (lambda r: r if r[0] == 503 and "redis" in r[1] else None)(
                                    get(port, "/healthz")))
        want = "redis-password-file" if label == "wrong" else "NOAUTH"
        assert want in body, (label, body)
        assert get(port, "/readyz")[0] == 503, label
        checks += 1

    r = subprocess.run([webui, "--redis-password-file", "/nonexistent"], capture_output=True,
                       text=True, timeout=5)
    assert r.returncode == 2 and "/nonexistent" in r.stderr, r
    checks += 1
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(5)
print(f"{checks} passed, 0 failed")
