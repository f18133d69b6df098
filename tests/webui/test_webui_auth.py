"""dc-webui with Redis AUTH: the right password (from --redis-password-file or
DC_REDIS_PASSWORD) serves /json and a healthy /healthz; a wrong or missing one gives a
503 /healthz whose reason names the setting to fix. Usage: test_webui_auth.py DC_WEBUI"""
import os
import subprocess
import sys

from dcrig import Checks, RedisServer, Webui, http_get

webui = sys.argv[1]
check = Checks()
running = []


def get(w, path):
    status, _, body = http_get(w.url + path, timeout=2)
    return status, body.decode()


def start_webui(args, env=None):
    w = Webui(webui, redis.address, args, env=env)
    running.append(w)
    return w.start()


redis = RedisServer(password="letmein").start()
try:
    pwfile = os.path.join(redis.dir, "pw")
    with open(pwfile, "w") as f:
        f.write("letmein\n")
    redis.r.set("hashes", 42)

    good = start_webui(["--redis-password-file", pwfile])
    check.until("healthy with the right password", lambda: get(good, "/healthz")[0] == 200)
    check(get(good, "/readyz")[0] == 200, "ready with the right password")
    status, body = get(good, "/json")
    check(status == 200 and '"hashes":"42"' in body.replace(" ", ""), body)

    env_good = start_webui([], env={"DC_REDIS_PASSWORD": "letmein"})
    check.until("healthy with DC_REDIS_PASSWORD", lambda: get(env_good, "/healthz")[0] == 200)

    for label, env in [("wrong", {"DC_REDIS_PASSWORD": "nope"}), ("missing", {})]:
        w = start_webui([], env=env)
        status, body = check.until(
            f"{label} password reported",
            lambda: (lambda r: r if r[0] == 503 and "redis" in r[1] else None)(
                get(w, "/healthz")), timeout=10)
        want = "redis-password-file" if label == "wrong" else "NOAUTH"
        check(want in body, (label, body))
        check(get(w, "/readyz")[0] == 503, label)

    r = subprocess.run([webui, "--redis-password-file", "/nonexistent"], capture_output=True,
                       text=True, timeout=5)
    # a file named by a flag that cannot be read is a start failure (exit 1), as a
    # --keys directory is for every binary (dc_app)
    check(r.returncode == 1 and "/nonexistent" in r.stderr, r)
finally:
    for w in running:
        w.stop()
    redis.close()
print(f"{check.passed} passed, 0 failed")
