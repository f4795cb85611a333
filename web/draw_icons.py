#!/usr/bin/env python3
"""Draw the Vigil PWA icons from simple geometry (no downloaded artwork).

Usage (from the repository root):

    python3 web/draw_icons.py

Writes into web/static/icons/:

    icon-192.png         192x192  "any": purple rounded square, white candle
    icon-512.png         512x512  same
    maskable-512.png     512x512  full-bleed purple, motif inside the 80% safe zone
    apple-touch-icon.png 180x180  full-bleed purple, opaque (iOS adds its own mask)
    badge-96.png         96x96    white candle + flame on transparent (Android badge)
    icon.svg             vector version of the "any" icon, viewBox 0 0 512 512

Only the Python standard library is used (zlib + struct for PNG).  The
rasteriser evaluates shapes per 4x4 sub-sample grid, using only + - * / and
sqrt, so the output is byte-identical from run to run.

The motif is defined once, in a 512x512 design space centred on (256, 256):
a teardrop flame (a closed path of cubic Bezier curves), a short wick and a
rounded-rectangle candle.  Each icon draws it with its own scale.
"""

import math
import os
import struct
import zlib

PURPLE = (0x5B, 0x2A, 0x86)  # theme_color
WHITE = (0xFF, 0xFF, 0xFF)

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static", "icons")

SS = 4  # sub-samples per pixel along each axis (4x4 = 16 per pixel)

# ---------------------------------------------------------------------------
# Motif, in 512-unit design coordinates (y grows downwards, like SVG).
# ---------------------------------------------------------------------------

# Flame: sharp tip at the top, round belly at the bottom, the tip flicking a
# little to the right so it reads as a living flame rather than a raindrop.
FLAME_START = (272.0, 66.0)
FLAME_CURVES = [
    # (control 1, control 2, end point)
    ((276.0, 116.0), (320.0, 146.0), (320.0, 204.0)),   # tip -> right belly
    ((320.0, 244.0), (291.0, 272.0), (256.0, 272.0)),   # right belly -> bottom
    ((221.0, 272.0), (192.0, 244.0), (192.0, 204.0)),   # bottom -> left belly
    ((192.0, 160.0), (230.0, 138.0), (248.0, 110.0)),   # left belly -> shoulder
    ((258.0, 94.0), (266.0, 82.0), (272.0, 66.0)),      # shoulder -> tip
]
# Inner core of the flame, cut out in the background colour.
CORE_START = (258.0, 164.0)
CORE_CURVES = [
    ((262.0, 194.0), (286.0, 204.0), (286.0, 230.0)),
    ((286.0, 248.0), (273.0, 258.0), (256.0, 258.0)),
    ((239.0, 258.0), (226.0, 248.0), (226.0, 230.0)),
    ((226.0, 204.0), (252.0, 194.0), (258.0, 164.0)),
]
# Wick: a short stub between flame and candle.
WICK = (251.0, 282.0, 261.0, 312.0, 5.0)     # x0, y0, x1, y1, corner radius
# Candle body.
CANDLE = (212.0, 304.0, 300.0, 450.0, 14.0)  # x0, y0, x1, y1, corner radius

DESIGN = 512.0
CENTER = 256.0


def _cubic_points(p0, c1, c2, p3, steps):
    """Flatten a cubic Bezier into `steps` line segments (excluding p0)."""
    pts = []
    for i in range(1, steps + 1):
        t = i / steps
        u = 1.0 - t
        a = u * u * u
        b = 3.0 * u * u * t
        c = 3.0 * u * t * t
        d = t * t * t
        pts.append((a * p0[0] + b * c1[0] + c * c2[0] + d * p3[0],
                    a * p0[1] + b * c1[1] + c * c2[1] + d * p3[1]))
    return pts


def path_polygon(start, curves, steps=32):
    """Flatten a closed path of cubic Beziers into a list of points."""
    pts = [start]
    cur = start
    for c1, c2, end in curves:
        pts.extend(_cubic_points(cur, c1, c2, end, steps))
        cur = end
    if pts[-1] == pts[0]:
        pts.pop()
    return pts


# ---------------------------------------------------------------------------
# Shapes.  Each shape answers spans(y) -> list of (x0, x1) inside intervals
# on the horizontal line at height y (pixel coordinates).
# ---------------------------------------------------------------------------

class RoundRect:
    def __init__(self, x0, y0, x1, y1, r):
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1
        self.r = min(r, (x1 - x0) / 2.0, (y1 - y0) / 2.0)

    def spans(self, y):
        if y < self.y0 or y >= self.y1:
            return []
        r = self.r
        inset = 0.0
        if r > 0.0:
            if y < self.y0 + r:
                dy = self.y0 + r - y
            elif y > self.y1 - r:
                dy = y - (self.y1 - r)
            else:
                dy = 0.0
            if dy > 0.0:
                inset = r - math.sqrt(max(0.0, r * r - dy * dy))
        return [(self.x0 + inset, self.x1 - inset)]


class Polygon:
    """Even-odd filled polygon (used for the flattened Bezier flame)."""

    def __init__(self, pts):
        self.edges = []
        n = len(pts)
        for i in range(n):
            (xa, ya), (xb, yb) = pts[i], pts[(i + 1) % n]
            if ya == yb:
                continue
            if ya > yb:
                xa, ya, xb, yb = xb, yb, xa, ya
            self.edges.append((ya, yb, xa, (xb - xa) / (yb - ya)))
        self.ymin = min(p[1] for p in pts)
        self.ymax = max(p[1] for p in pts)

    def spans(self, y):
        if y < self.ymin or y >= self.ymax:
            return []
        xs = [xa + (y - ya) * k for ya, yb, xa, k in self.edges if ya <= y < yb]
        xs.sort()
        return [(xs[i], xs[i + 1]) for i in range(0, len(xs) - 1, 2)]


def motif_layers(size, scale, core_colour):
    """The candle motif mapped into a `size`-pixel square, as paint layers.

    `scale` is the motif size relative to the 512 design (1.0 = as designed
    on a 512 canvas, before resizing to `size`).  The flame's inner core is
    painted in `core_colour` (None = cut out to transparency)."""
    s = size / DESIGN * scale
    off = size / 2.0

    def tx(v):
        return (v - CENTER) * s + off

    def poly(start, curves):
        return Polygon([(tx(x), tx(y)) for x, y in path_polygon(start, curves)])

    white = [poly(FLAME_START, FLAME_CURVES)]
    for x0, y0, x1, y1, r in (WICK, CANDLE):
        white.append(RoundRect(tx(x0), tx(y0), tx(x1), tx(y1), r * s))
    return [(WHITE, white), (core_colour, [poly(CORE_START, CORE_CURVES)])]


# ---------------------------------------------------------------------------
# Rasteriser: layers painted in order, 4x4 supersampling.
# ---------------------------------------------------------------------------

def _sample_range(x0, x1, n):
    """Sub-sample indices s (centres at (s + 0.5) / SS) with x0 <= centre < x1."""
    a = math.ceil(x0 * SS - 0.5)
    b = math.ceil(x1 * SS - 0.5)
    return max(0, a), min(n, b)


def rasterize(size, layers, opaque):
    """layers: list of (colour, [shapes]) painted in order; colour None clears.

    Returns rows of bytes (RGB if opaque else RGBA), without filter bytes."""
    if len(layers) > 254:
        raise ValueError("too many layers")
    # Sub-sample buffers hold 0 for "nothing painted", else the 1-based layer index.
    colours = [(idx, colour) for idx, (colour, _shapes) in
               enumerate(layers, start=1) if colour is not None]
    nsub = size * SS
    rows = []
    for py in range(size):
        sub_rows = []
        for sy in range(SS):
            y = py + (sy + 0.5) / SS
            buf = bytearray(nsub)
            for idx, (colour, shapes) in enumerate(layers, start=1):
                fill = idx if colour is not None else 0
                for shape in shapes:
                    for x0, x1 in shape.spans(y):
                        a, b = _sample_range(x0, x1, nsub)
                        if b > a:
                            buf[a:b] = bytes([fill]) * (b - a)
            sub_rows.append(buf)
        out = bytearray()
        for px in range(size):
            lo, hi = px * SS, px * SS + SS
            block = b"".join(bytes(r[lo:hi]) for r in sub_rows)
            total = SS * SS
            counts = [(block.count(idx), colour) for idx, colour in colours]
            filled = sum(c for c, _ in counts)
            if filled == 0:
                out += b"\x00\x00\x00" if opaque else b"\x00\x00\x00\x00"
                continue
            px_rgb = []
            for ch in range(3):
                acc = sum(c * colour[ch] for c, colour in counts)
                px_rgb.append((acc * 2 + filled) // (2 * filled))  # rounded mean
            if opaque:
                if filled != total:
                    raise ValueError("opaque image has uncovered samples")
                out += bytes(px_rgb)
            else:
                alpha = (filled * 255 * 2 + total) // (2 * total)
                out += bytes(px_rgb) + bytes([alpha])
        rows.append(bytes(out))
    return rows


# ---------------------------------------------------------------------------
# PNG writer (zlib + struct), Sub filter on every row, zlib level 9.
# ---------------------------------------------------------------------------

def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png_bytes(size, rows, opaque):
    bpp = 3 if opaque else 4
    raw = bytearray()
    for row in rows:
        raw.append(1)  # filter type 1: Sub
        filtered = bytearray(len(row))
        for i in range(len(row)):
            left = row[i - bpp] if i >= bpp else 0
            filtered[i] = (row[i] - left) & 0xFF
        raw += filtered
    colour_type = 2 if opaque else 6  # 2 = RGB, 6 = RGBA
    ihdr = struct.pack(">IIBBBBB", size, size, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + _chunk(b"IEND", b""))


# ---------------------------------------------------------------------------
# The icons.
# ---------------------------------------------------------------------------

ANY_RADIUS = 0.1875     # corner radius of the "any" rounded square, / size
ANY_SCALE = 1.0         # motif scale in the "any" icons
MASKABLE_SCALE = 0.80   # keeps the motif well inside the 40% safe-zone radius
APPLE_SCALE = 0.92      # iOS rounds the corners itself
BADGE_SCALE = 1.30      # badge: silhouette fills most of the 96 px square


def draw_any(size):
    bg = RoundRect(0.0, 0.0, float(size), float(size), size * ANY_RADIUS)
    layers = [(PURPLE, [bg])] + motif_layers(size, ANY_SCALE, PURPLE)
    return png_bytes(size, rasterize(size, layers, opaque=False), opaque=False)


def draw_full_bleed(size, scale):
    bg = RoundRect(0.0, 0.0, float(size), float(size), 0.0)
    layers = [(PURPLE, [bg])] + motif_layers(size, scale, PURPLE)
    return png_bytes(size, rasterize(size, layers, opaque=True), opaque=True)


def draw_badge(size):
    layers = motif_layers(size, BADGE_SCALE, None)
    return png_bytes(size, rasterize(size, layers, opaque=False), opaque=False)


def _fmt(v):
    v = round(v, 2)
    return f"{int(v)}" if v == int(v) else f"{v:g}"


def draw_svg():
    def path(start, curves):
        d = [f"M{_fmt(start[0])} {_fmt(start[1])}"]
        for c1, c2, end in curves:
            d.append("C" + " ".join(_fmt(v) for v in c1 + c2 + end))
        return "".join(d) + "Z"

    r = DESIGN * ANY_RADIUS

    def rect(x0, y0, x1, y1, rr):
        return (f'<rect x="{_fmt(x0)}" y="{_fmt(y0)}" width="{_fmt(x1 - x0)}" '
                f'height="{_fmt(y1 - y0)}" rx="{_fmt(rr)}"/>')

    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">'
        f'<rect width="512" height="512" rx="{_fmt(r)}" fill="#5b2a86"/>'
        f'<g fill="#fff"><path d="{path(FLAME_START, FLAME_CURVES)}"/>'
        f'{rect(*WICK)}{rect(*CANDLE)}</g>'
        f'<path fill="#5b2a86" d="{path(CORE_START, CORE_CURVES)}"/>'
        '</svg>\n'
    )


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    outputs = [
        ("icon-192.png", lambda: draw_any(192)),
        ("icon-512.png", lambda: draw_any(512)),
        ("maskable-512.png", lambda: draw_full_bleed(512, MASKABLE_SCALE)),
        ("apple-touch-icon.png", lambda: draw_full_bleed(180, APPLE_SCALE)),
        ("badge-96.png", lambda: draw_badge(96)),
        ("icon.svg", lambda: draw_svg().encode("ascii")),
    ]
    for name, make in outputs:
        data = make()
        path = os.path.join(OUT_DIR, name)
        with open(path, "wb") as fh:
            fh.write(data)
        print(f"{name:<22} {len(data):7d} bytes")


if __name__ == "__main__":
    main()
