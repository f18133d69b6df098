#!/usr/bin/python3
"""Writes the seed corpus (valid and near-valid messages) in fuzz_frames.h's framing:
each frame a 2-byte little-endian length then its bytes. Run from this directory."""
import hashlib
import os
import struct


def frames(*parts):
    return b"".join(struct.pack("<H", len(p)) + p for p in parts)


def write(target, name, data):
    os.makedirs(os.path.join("corpus", target), exist_ok=True)
    with open(os.path.join("corpus", target, name), "wb") as f:
        f.write(data)


write("mdp", "client-request", frames(b"ID", b"", b"MDPC01", b"rng", b"32"))
write("mdp", "worker-ready", frames(b"W1", b"", b"MDPW01", b"\x01", b"hasher"))
write("mdp", "worker-reply", frames(b"W1", b"", b"MDPW01", b"\x03", b"C1", b"", b"200", b"x"))
write("mdp", "worker-heartbeat", frames(b"W1", b"", b"MDPW01", b"\x04"))
write("mdp", "to-worker-request", frames(b"", b"MDPW01", b"\x02", b"C1", b"", b"32"))
write("mdp", "to-client-reply", frames(b"", b"MDPC01", b"rng", b"200", b"0123"))
write("mdp", "mmi", frames(b"ID", b"", b"MDPC01", b"mmi.service", b"rng"))

write("svc", "rng", frames(b"32"))
write("svc", "rng-batch", frames(b"32", b"4096"))
write("svc", "hasher", frames(b"abc"))
write("svc", "hasher-chunks", frames(b"abcabc", b"3"))
write("svc", "hasher-binary", frames(bytes(64), b"32", b"1"))
write("svc", "reply-ok", frames(b"200", b"payload"))
write("svc", "reply-error", frames(b"503", b"queue full"))

write("job", "job", frames(struct.pack(">BBQII", 1, 1, 42, 8, 0)))
write("job", "ack", frames(struct.pack(">BBI", 1, 4, 2), struct.pack(">QQ", 42, 43)))
write("job", "ready", frames(struct.pack(">BBIIQ", 1, 3, 2, 1, 12345), b"w1"))
write("job", "ready-track", frames(struct.pack(">BBIIQ", 1, 3, 2, 1, 12345), b"w1", b"canary"))


def coin():
    """32 random bytes whose SHA-256 starts with 0 in hex (1 in 16)."""
    data = os.urandom(32)
    while not hashlib.sha256(data).hexdigest().startswith("0"):
        data = os.urandom(32)
    return data


write("job", "result", frames(struct.pack(">BBQIIIII", 1, 2, 42, 1, 0, 5, 5, 10), b"w1"))
write("job", "result-coin",
      frames(struct.pack(">BBQIIIII", 1, 2, 42, 16, 1, 5, 5, 10), b"w1", coin()))
write("job", "result-coins",
      frames(struct.pack(">BBQIIIII", 1, 2, 42, 4096, 3, 5, 5, 10), b"w1", coin() + coin() + coin()))

write("webui-stats", "rng", frames(b"slots", b"1", b"instances", b"1", b"busy_pct", b"99",
                                   b"queue", b"7", b"wait_p99_ms", b"700", b"ts_ms",
                                   b"1795590000000"))
write("webui-stats", "odd", frames(b"queue", b"-1e308", b"x" * 40, b"nan", b"busy_pct", b"inf"))
