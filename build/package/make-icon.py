#!/usr/bin/env python3
"""Writes build/package/icon.png, the package icon (128x128 RGBA): a staircase of quantization levels
over the smooth curve it approximates, on a rounded square. Standard library only (zlib + struct),
so the icon is reproducible byte for byte: python3 build/package/make-icon.py"""
import math
import os
import struct
import zlib

SIZE = 128
BACKGROUND = (24, 48, 96)      # dark blue
STEPS = (80, 200, 255)         # the quantized staircase
CURVE = (255, 190, 60)         # the float curve


def inside_rounded_square(x, y, radius=22):
    cx = min(max(x, radius), SIZE - 1 - radius)
    cy = min(max(y, radius), SIZE - 1 - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius


def curve(x):
    """The float function: a sigmoid across the icon, in pixel rows (top = 0)."""
    t = (x - SIZE / 2) / 18.0
    return SIZE - 24 - (SIZE - 48) / (1 + math.exp(-t))


def pixel(x, y):
    if not inside_rounded_square(x, y):
        return (0, 0, 0, 0)
    levels = 8
    lo, hi = 24, SIZE - 24
    step_height = (hi - lo) / (levels - 1)
    # The staircase: the curve rounded to one of 8 levels, as bars from the bottom margin.
    quantized = lo + round((curve(x + 0.5) - lo) / step_height) * step_height
    if 16 <= x < SIZE - 16 and quantized <= y < SIZE - 16:
        return STEPS + (255,)
    if 16 <= x < SIZE - 16 and abs(y - curve(x + 0.5)) < 2.5:
        return CURVE + (255,)
    return BACKGROUND + (255,)


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def main():
    rows = bytearray()
    for y in range(SIZE):
        rows.append(0)  # filter type None
        for x in range(SIZE):
            rows.extend(pixel(x, y))
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0))  # 8-bit RGBA
    png += chunk(b"IDAT", zlib.compress(bytes(rows), 9))
    png += chunk(b"IEND", b"")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icon.png")
    with open(path, "wb") as f:
        f.write(png)
    print(f"wrote {path} ({len(png)} bytes)")


if __name__ == "__main__":
    main()
