#!/usr/bin/env python3
"""Draw the page's icon, a gold coin with a dark "0" (a coin's digest starts
with 0), and write it as a Windows icon (16x16 and 32x32, 32-bit BMP
images), the format every browser asks for at /favicon.ico.

usage: gen_favicon.py OUTPUT.ico
"""
import struct
import sys

GOLD = (0xE8, 0xB4, 0x2A)
RIM = (0xA8, 0x74, 0x10)
INK = (0x1D, 0x23, 0x30)


def pixel(x, y, size):
    """RGBA of the icon at pixel centre (x, y) for a size x size image."""
    c = (size - 1) / 2
    dx, dy = (x - c) / (size / 2), (y - c) / (size / 2)
    r = (dx * dx + dy * dy) ** 0.5
    if r > 0.98:
        return (0, 0, 0, 0)
    if r > 0.80:
        return (*RIM, 255)
    # the "0": an ellipse ring in the middle of the coin
    e = ((dx / 0.34) ** 2 + (dy / 0.52) ** 2) ** 0.5
    if 0.62 <= e <= 1.0:
        return (*INK, 255)
    return (*GOLD, 255)


def bmp(size):
    """One icon image: BITMAPINFOHEADER (double height: XOR + AND masks),
    BGRA rows bottom-up, then an all-zero AND mask (alpha decides)."""
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, 0, 0, 0, 0, 0)
    rows = []
    for y in reversed(range(size)):
        row = bytearray()
        for x in range(size):
            r, g, b, a = pixel(x, y, size)
            row += bytes((b, g, r, a))
        rows.append(bytes(row))
    mask_row = ((size + 31) // 32) * 4
    return header + b"".join(rows) + bytes(mask_row * size)


def main(argv):
    if len(argv) != 2:
        raise SystemExit(__doc__)
    images = [(size, bmp(size)) for size in (16, 32)]
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for size, data in images:
        out += struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    out += b"".join(data for _, data in images)
    with open(argv[1], "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main(sys.argv)
