"""Placeholder images for the mock: visibly fake, deterministic, and cheap enough for load tests.

The same (prompt, seed, index, format, quality, size) always gives the same bytes, so tests can
compare files and a seed reproduces an image exactly as on the real API (with ``go_fast`` off).
Rendering happens in worker threads (Pillow releases the GIL while it resizes and encodes) and
the encoded bytes are kept in a small LRU bounded by total size, so a file GET is served from
memory and a re-render is only needed after eviction.
"""

from __future__ import annotations

import hashlib
import io
import os
import textwrap
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

_CONTENT_TYPES = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}
_MAX_PROMPT_LINES = 6


@dataclass(frozen=True)
class RenderSpec:
    """Everything that decides an output file's bytes; hashable, so it is the cache key too."""

    prompt: str
    seed: int
    index: int
    output_format: str
    quality: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.output_format not in _CONTENT_TYPES:
            raise ValueError(f"output_format must be one of {sorted(_CONTENT_TYPES)}")
        if self.output_format == "png":
            # PNG is lossless: quality is ignored, so it must not split the cache either.
            object.__setattr__(self, "quality", 0)

    @property
    def content_type(self) -> str:
        """The MIME type the file is served with."""
        return _CONTENT_TYPES[self.output_format]


def render(spec: RenderSpec) -> bytes:
    """Encode one placeholder image; pure and thread-safe (no cache: see ``Renderer``)."""
    digest = hashlib.blake2b(
        f"{spec.prompt}\x00{spec.seed}\x00{spec.index}".encode(), digest_size=64
    ).digest()
    image = _background(spec.width, spec.height, digest)
    _draw_labels(image, spec)
    out = io.BytesIO()
    if spec.output_format == "webp":
        # method=0 is the fastest encoder setting; quality still changes the bytes and size.
        image.save(out, "WEBP", quality=spec.quality, method=0)
    elif spec.output_format == "jpg":
        image.save(out, "JPEG", quality=spec.quality)
    else:
        image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _background(width: int, height: int, digest: bytes) -> Image.Image:
    # A 4x4 grid of hash-derived colours, upscaled smoothly: colourful and different per seed,
    # yet a few milliseconds at 1 MP.
    small = Image.frombytes("RGB", (4, 4), digest[:48])
    image = small.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    unit = min(width, height)
    for i in range(4):
        b = digest[48 + 4 * i : 52 + 4 * i]
        cx, cy = b[0] * width // 255, b[1] * height // 255
        radius = unit // 10 + b[2] * unit // 1024
        colour = (b[3], 255 - b[3], (b[0] + b[1]) % 256)
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=colour, width=6)
    return image


def _draw_labels(image: Image.Image, spec: RenderSpec) -> None:
    draw = ImageDraw.Draw(image)
    width, height = image.size
    unit = min(width, height)
    margin = width // 16
    title = _font(max(12, width // 12))
    body = _font(max(10, unit // 26))
    small = _font(max(10, unit // 22))

    lines = _wrap(spec.prompt, body, width - 2 * margin)
    title_h = _line_height(title)
    body_h = _line_height(body)
    small_h = _line_height(small)
    total = title_h + body_h // 2 + len(lines) * body_h + body_h // 2 + small_h
    y = max(margin // 2, (height - total) // 2)

    def put(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, top: int) -> None:
        text_width = draw.textlength(text, font=font)
        x = max(margin // 2, int((width - text_width) / 2))
        stroke = max(1, int(getattr(font, "size", 12)) // 14)
        draw.text((x, top), text, font=font, fill="white", stroke_width=stroke, stroke_fill="black")

    put("MOCK · placeholder", title, y)
    y += title_h + body_h // 2
    for line in lines:
        put(line, body, y)
        y += body_h
    put(f"seed {spec.seed} · #{spec.index}", small, y + body_h // 2)


def _wrap(prompt: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    average = max(1.0, float(font.getlength("abcdefghij nopqrstuvwxyz")) / 25)
    columns = max(8, int(width / average))
    lines = textwrap.wrap(" ".join(prompt.split()), columns) or [""]
    if len(lines) > _MAX_PROMPT_LINES:
        lines = lines[:_MAX_PROMPT_LINES]
        lines[-1] = lines[-1][: columns - 1] + "…"
    return lines


def _line_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    return int(getattr(font, "size", 12) * 1.25)


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow >= 10.1 ships a scalable default font (FreeType); without FreeType it is a bitmap.
    return ImageFont.load_default(size=size)


class Renderer:
    """Renders in a thread pool, deduplicates renders in flight, keeps bytes in an LRU."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024, max_workers: int | None = None) -> None:
        self.max_bytes = max_bytes
        self._max_workers = max_workers or min(32, os.cpu_count() or 1)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[RenderSpec, bytes] = OrderedDict()
        self._cached_bytes = 0
        self._in_flight: dict[RenderSpec, Future[bytes]] = {}

    def submit(self, spec: RenderSpec) -> Future[bytes]:
        """A future of the file's bytes: already done when cached, shared while rendering."""
        with self._lock:
            data = self._cache.get(spec)
            if data is not None:
                self._cache.move_to_end(spec)
                done: Future[bytes] = Future()
                done.set_result(data)
                return done
            pending = self._in_flight.get(spec)
            if pending is not None:
                return pending
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._max_workers, "flux-mock-render")
            future = self._executor.submit(render, spec)
            self._in_flight[spec] = future
        future.add_done_callback(lambda f: self._store(spec, f))
        return future

    def cached(self, spec: RenderSpec) -> bytes | None:
        """The bytes if they are in the cache (no render)."""
        with self._lock:
            return self._cache.get(spec)

    def _store(self, spec: RenderSpec, future: Future[bytes]) -> None:
        with self._lock:
            self._in_flight.pop(spec, None)
            if future.cancelled() or future.exception() is not None:
                return
            data = future.result()
            if spec not in self._cache and len(data) <= self.max_bytes:
                self._cache[spec] = data
                self._cached_bytes += len(data)
            while self._cached_bytes > self.max_bytes:
                _, evicted = self._cache.popitem(last=False)
                self._cached_bytes -= len(evicted)


_default_renderer: Renderer | None = None
_default_lock = threading.Lock()


def default_renderer() -> Renderer:
    """The process-wide renderer every mock app shares (one pool, one cache)."""
    global _default_renderer
    with _default_lock:
        if _default_renderer is None:
            _default_renderer = Renderer()
        return _default_renderer
