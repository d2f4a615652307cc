"""Placeholder images for the mock: visibly fake, deterministic, cheap enough for load tests,
and changing along each parameter the way real FLUX.1 [schnell] output does, so a lesson
(a steps x seeds grid, go_fast on and off) shows on the mock what it will show for real.

- **seed** decides the composition: sky, sun, hills and foreground strokes move and recolour;
- **steps** (1-4) decide how finished it is: 1 step is coarse (the scene at about 1/12 of its
  resolution) and noisy, 2 and 3 progressively cleaner, 4 clean, the same scene throughout;
- **go_fast** (fp8 on the real API) adds a slight variation per prediction: the same seed gives
  a close, not identical, image; with go_fast off the same seed repeats the bytes exactly;
- **aspect ratio** and **megapixels** give the real pixel size, the scene laid out for it.

The same (prompt, seed, index, steps, variation, format, quality, size) always gives the same
bytes. Rendering happens in worker threads (Pillow releases the GIL while it resizes, draws and
encodes) and the encoded bytes are kept in a small LRU bounded by total size, so a file GET is
served from memory and a re-render is only needed after eviction.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import textwrap
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps

_CONTENT_TYPES = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}
_MAX_PROMPT_LINES = 6
# How unfinished each step count looks: (downscale factor, share of noise blended in). One step
# of a distilled model leaves a soft, low-detail image with visible noise; four are clean.
# Steps 1-3 are made at half size, so a factor of 2 costs nothing more.
_STEP_LOOK = {1: (12, 0.30), 2: (4, 0.14), 3: (2, 0.06), 4: (1, 0.0)}
# go_fast's per-prediction variation: shapes move by up to this share of the short side.
_VARIATION_SHIFT = 0.012


@dataclass(frozen=True)
class RenderSpec:
    """Everything that decides an output file's bytes; hashable, so it is the cache key too.

    ``steps`` is num_inference_steps (1-4); ``variation`` is 0 for an exact render (go_fast
    off) or any other number for go_fast's slight per-prediction difference.
    """

    prompt: str
    seed: int
    index: int
    output_format: str
    quality: int
    width: int
    height: int
    steps: int = 4
    variation: int = 0

    def __post_init__(self) -> None:
        if self.output_format not in _CONTENT_TYPES:
            raise ValueError(f"output_format must be one of {sorted(_CONTENT_TYPES)}")
        if self.steps not in _STEP_LOOK:
            raise ValueError(f"steps must be one of {sorted(_STEP_LOOK)}, got {self.steps!r}")
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
    size = (spec.width, spec.height)
    if spec.steps == max(_STEP_LOOK):
        image = _scene(size, digest, spec.variation)
    else:
        # An unfinished image has no full-resolution detail: it is made at half size (a
        # quarter of the pixels), so fewer steps never cost more than four.
        half = (max(1, spec.width // 2), max(1, spec.height // 2))
        image = _unfinished(_scene(half, digest, spec.variation), spec.steps, digest)
        image = image.resize(size, Image.Resampling.BILINEAR)
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


def _scene(size: tuple[int, int], digest: bytes, variation: int) -> Image.Image:
    """A landscape the seed composes: sky gradient, sun, three hill ranges, foreground strokes.

    Laid out in fractions of the frame, so every aspect ratio gets its own layout, not a
    stretched square. A few milliseconds at 1 MP: a resized gradient and filled polygons.
    """
    width, height = size
    rng = random.Random(digest)
    jitter = random.Random(variation) if variation else None
    unit = min(width, height)

    def shift() -> float:  # go_fast's slight difference: shapes move by a few pixels
        return jitter.uniform(-1, 1) * _VARIATION_SHIFT * unit if jitter else 0.0

    def tint(colour: tuple[int, int, int]) -> tuple[int, int, int]:
        if jitter is None:
            return colour
        red, green, blue = (max(0, min(255, c + jitter.randint(-6, 6))) for c in colour)
        return (red, green, blue)

    def colour(low: int, high: int) -> tuple[int, int, int]:
        return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))

    horizon = rng.uniform(0.35, 0.65)
    # Colourised at 256 rows, then stretched: one resize instead of a full-size colorize.
    sky = ImageOps.colorize(_gradient(), tint(colour(40, 200)), tint(colour(150, 255)))
    sky = sky.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(sky)
    sun_x = rng.uniform(0.1, 0.9) * width + shift()
    sun_y = rng.uniform(0.08, horizon * 0.8) * height + shift()
    radius = rng.uniform(0.05, 0.12) * unit
    draw.ellipse(
        (sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius),
        fill=tint(colour(200, 255)),
    )
    for layer in range(3):  # far to near: each range lower and darker
        base = (horizon + layer * (1 - horizon) / 4) * height
        peaks = [rng.uniform(-0.12, 0.12) * height for _ in range(7)]
        points = [(0.0, float(height))]
        for i, peak in enumerate(peaks):
            points.append((i * width / (len(peaks) - 1) + shift(), base + peak + shift()))
        points.append((float(width), float(height)))
        shade = 170 - layer * 55
        draw.polygon(points, fill=tint(colour(max(0, shade - 60), shade)))
    # Fine detail (grass, reeds): what a finished image has and a one-step one has lost.
    stroke = max(1, unit // 256)
    near = (horizon + 0.5 * (1 - horizon)) * height
    for _ in range(60):
        x = rng.uniform(0, width) + shift()
        y = rng.uniform(near, height)
        length = rng.uniform(0.02, 0.08) * unit
        draw.line(
            (x, y, x + rng.uniform(-0.3, 0.3) * length, y - length),
            fill=tint(colour(0, 90)),
            width=stroke,
        )
    return sky


def _unfinished(image: Image.Image, steps: int, digest: bytes) -> Image.Image:
    """The scene as ``steps`` denoising steps leave it: coarser and noisier the fewer there are.

    The noise is the spec's own (same seed, same noise), like the starting noise of diffusion.
    """
    factor, noise_share = _STEP_LOOK[steps]
    size = image.size
    if factor > 2:  # the image is at half size already
        image = image.reduce(factor // 2).resize(size, Image.Resampling.BILINEAR)
    # Grey grain: a third of the random bytes, and cheaper to encode than coloured noise.
    noise = Image.frombytes("L", size, hashlib.shake_256(digest).digest(size[0] * size[1]))
    return Image.blend(image, noise.convert("RGB"), noise_share)


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
    steps = f"{spec.steps} step" + ("s" if spec.steps > 1 else "")
    fast = " · go_fast" if spec.variation else ""
    put(f"seed {spec.seed} · {steps}{fast} · #{spec.index}", small, y + body_h // 2)


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


@lru_cache(maxsize=1)
def _gradient() -> Image.Image:
    return Image.linear_gradient("L").resize((1, 256))


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
