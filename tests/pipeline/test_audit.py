"""dc-audit on the real rig and a real redis-server with a password:
it passes on the books a real dispatcher wrote (while it mines, and once it stopped), and
fails, naming what disagrees, on a forged wallet entry (a key that is not the SHA-256 of
its value; a real SHA-256 not starting with 0) and on `hashes` changed behind the
dispatcher's back; and says which counts it adopted from books older than the totals.
It writes nothing: every forgery is undone by the test itself."""
import hashlib
import os
import subprocess

from dcrig import Checks, Rig, wait_for

check = Checks()
PASSWORD = "audit-" + os.urandom(6).hex()


def audit(rig, *extra, password=True):
    """Runs dc-audit against the rig's Redis: (exit code, stdout lines)."""
    argv = [os.path.join(rig.bin, "dc-audit"), "--redis", rig.redis_address,
            "--scan-count", "3"]  # several HSCAN batches even on a small wallet
    if password:
        argv += ["--redis-password-file", rig.password_file]
    p = subprocess.run(argv + list(extra), capture_output=True, text=True, timeout=20)
    print("$ dc-audit", " ".join(extra), "->", p.returncode, "\n" + p.stdout.rstrip())
    return p.returncode, p.stdout.splitlines()


def expect_ok(rig, what):
    code, out = audit(rig)
    check(code == 0 and len(out) == 1 and out[0].startswith("dc-audit: OK"), (what, code, out))
    return out[0]


def expect_failed(rig, what, *needles):
    code, out = audit(rig)
    check(code == 1 and out and out[-1].startswith("dc-audit: FAILED"), (what, code, out))
    for needle in needles:
        check(any(needle in line for line in out[:-1]), (what, needle, out))


with Rig(redis_password=PASSWORD) as rig:
    code, out = audit(rig, "--help", password=False)
    check(code == 0 and any("dc:books:totals" in line for line in out), out)
    rig.start_all(workers=2, delay_ms=10)
    wait_for("a few coins", lambda: rig.r.hlen("wallet") >= 4, timeout=25)
    expect_ok(rig, "while the rig mines")

    books = rig.stop_and_check_books()
    line = expect_ok(rig, "after the dispatcher stopped")
    check(f"wallet {books['coins']} = books {books['coins']} coins" in line, (line, books))
    check(f"hashes {books['hashes']} = books {books['hashes']}" in line, (line, books))

    # a forged entry: a key that is not the SHA-256 of its value
    forged = "0" * 64
    rig.r.hset("wallet", forged, b"not the bytes of that hash")
    expect_failed(rig, "forged key", forged, "is not the SHA-256 of the value",
                  "the wallet holds %d entries" % (books["coins"] + 1))
    rig.r.hdel("wallet", forged)
    expect_ok(rig, "forged entry removed")

    # a real SHA-256 that does not start with 0 is not a coin
    value = b"abc"
    digest = hashlib.sha256(value).hexdigest()
    rig.r.hset("wallet", digest, value)
    expect_failed(rig, "not a coin", digest, "does not start with 0")
    rig.r.hdel("wallet", digest)

    # the books: hashes raised behind the dispatcher's back
    rig.r.incr("hashes")
    expect_failed(rig, "INCR hashes", "hashes is %d but the dispatcher's books (dc:books:totals)"
                  " say %d (+1)" % (books["hashes"] + 1, books["hashes"]))
    rig.r.decr("hashes")
    expect_ok(rig, "hashes restored")

    # no password: it cannot read, says which setting to fix, concludes nothing
    code, out = audit(rig, password=False)
    check(code == 3 and out[-1].startswith("dc-audit: UNREAD") and "password" in out[-1],
          (code, out))
    # it wrote nothing: the books are still the dispatcher's
    check(rig.hashes() == books["hashes"] and rig.check_wallet() == books["coins"], books)

    # books from before the totals existed (an upgrade over a persistent Redis): nothing
    # accounts for them until a dispatcher adopts them at its next batch, said as such
    rig.r.delete("dc:books:totals")
    expect_failed(rig, "no totals", "dc:books:totals is missing, yet Redis holds %d hashes"
                  % books["hashes"])
    rig.start_dispatcher()
    wait_for("the totals adopted", lambda: rig.r.exists("dc:books:totals"), timeout=15)
    line = expect_ok(rig, "adopted")
    check("adopted, written before the books kept totals: %d hashes, %d coins"
          % (books["hashes"], books["coins"]) in line, line)
print(f"{check.passed} passed, 0 failed")
