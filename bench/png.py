"""A small line chart written as PNG with the standard library only (zlib + struct), so the
backlog curve needs no plotting dependency. Axes, grid, tick values (a 3x5 digit font), one
coloured line per series; the legend and titles live in BENCHMARKS.md and the JSON result.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

Color = tuple[int, int, int]
COLORS: list[Color] = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189)]
# 3x5 glyphs, rows top to bottom, 3 bits each.
FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001010010010",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
}


class Canvas:
    def __init__(self, width: int, height: int):
        self.width = width
        self.height = height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def dot(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = (y * self.width + x) * 3
            self.pixels[offset:offset + 3] = bytes(color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, thick: int = 1) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for step in range(steps + 1):
            x = round(x0 + (x1 - x0) * step / steps)
            y = round(y0 + (y1 - y0) * step / steps)
            for dx in range(thick):
                for dy in range(thick):
                    self.dot(x + dx, y + dy, color)

    def text(self, x: int, y: int, value: str, color: Color = (60, 60, 60), scale: int = 2) -> None:
        for index, char in enumerate(value):
            glyph = FONT.get(char)
            if glyph is None:
                continue
            for bit, on in enumerate(glyph):
                if on == "1":
                    for sx in range(scale):
                        for sy in range(scale):
                            self.dot(x + (index * 4 + bit % 3) * scale + sx, y + (bit // 3) * scale + sy, color)

    def write(self, path: Path) -> None:
        rows = b"".join(b"\x00" + bytes(self.pixels[row * self.width * 3:(row + 1) * self.width * 3])
                        for row in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
                         + chunk(b"IEND", b""))


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = (high - low) or 1.0
    return [low + span * index / count for index in range(count + 1)]


def _label(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"


def line_chart(path: Path, series: list[list[tuple[float, float]]], width: int = 800, height: int = 400,
               y_from_zero: bool = True) -> Path:
    canvas = Canvas(width, height)
    left, right, top, bottom = 70, width - 20, 20, height - 40
    points = [point for line in series for point in line]
    if not points:
        canvas.write(path)
        return path
    x_low, x_high = min(x for x, _ in points), max(x for x, _ in points)
    y_low = 0.0 if y_from_zero else min(y for _, y in points)
    y_high = max(y for _, y in points) * 1.1 or 1.0
    x_high = x_high if x_high > x_low else x_low + 1

    def to_pixel(x: float, y: float) -> tuple[int, int]:
        return (round(left + (x - x_low) / (x_high - x_low) * (right - left)),
                round(bottom - (y - y_low) / (y_high - y_low) * (bottom - top)))

    for value in _ticks(y_low, y_high):
        _, y = to_pixel(x_low, value)
        canvas.line(left, y, right, y, (225, 225, 225))
        canvas.text(8, y - 5, _label(value))
    for value in _ticks(x_low, x_high):
        x, _ = to_pixel(value, y_low)
        canvas.line(x, top, x, bottom, (225, 225, 225))
        canvas.text(x - 10, bottom + 10, _label(value))
    canvas.line(left, bottom, right, bottom, (0, 0, 0))
    canvas.line(left, top, left, bottom, (0, 0, 0))
    for index, line in enumerate(series):
        color = COLORS[index % len(COLORS)]
        pixels = [to_pixel(x, y) for x, y in line]
        for (x0, y0), (x1, y1) in zip(pixels, pixels[1:]):
            canvas.line(x0, y0, x1, y1, color, thick=2)
    canvas.write(path)
    return path
