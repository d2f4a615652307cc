"""GeneratedImage: the encoded bytes of one output, with the recipe and timings that made it.

The bytes are kept exactly as downloaded (the provider deletes its copy within the hour); width
and height come from the header, so nothing is decoded until someone asks for pixels.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from .errors import ImageDecodeError
from .params import FluxParams

# Pillow's names for the API's output formats.
_PIL_FORMATS = {"webp": "WEBP", "jpg": "JPEG", "png": "PNG"}
_MIME_TYPES = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}
# flux-schnell never exceeds ~1.6 MP; anything far larger is a broken or hostile file.
MAX_PIXELS = 40_000_000
_SEED_IN_LOGS = re.compile(r"Using seed:\s*(-?\d+)")


def seed_from_logs(logs: str | None) -> int | None:
    """The seed the model reports in its logs (``Using seed: N``), if any."""
    match = _SEED_IN_LOGS.search(logs or "")
    return int(match.group(1)) if match else None


def probe_image(data: bytes, expected_format: str | None = None) -> tuple[str, int, int]:
    """Format, width and height read from the header alone; refuses non-images and huge sizes."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            pil_format, (width, height) = image.format, image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ImageDecodeError(
            f"the downloaded file is not a readable image ({exc.__class__.__name__}); "
            "generate again, and report it if it keeps happening"
        ) from None
    fmt = {v: k for k, v in _PIL_FORMATS.items()}.get(pil_format or "")
    if fmt is None:
        raise ImageDecodeError(f"the downloaded file is a {pil_format} image, not webp/jpg/png")
    if expected_format is not None and fmt != expected_format:
        raise ImageDecodeError(
            f"the server reported a {expected_format} image but sent {fmt} data; "
            "the file may be damaged: generate again"
        )
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(
            f"the downloaded image claims {width}x{height} pixels, far beyond what FLUX "
            "produces; it was refused before decoding (a damaged or hostile file)"
        )
    return fmt, width, height


@dataclass(frozen=True, eq=False)
class GeneratedImage:
    """One generated image: encoded bytes plus everything needed to make it again."""

    data: bytes = field(repr=False)
    format: str
    width: int
    height: int
    params: FluxParams
    seed: int | None = None
    prediction_id: str | None = None
    index: int = 0
    url: str | None = None
    predict_time: float | None = None
    download_time: float | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @classmethod
    def from_bytes(cls, data: bytes, params: FluxParams, **metadata: Any) -> GeneratedImage:
        """Wrap downloaded bytes, checking they are an image of the requested format."""
        fmt, width, height = probe_image(data, params.output_format)
        return cls(data=data, format=fmt, width=width, height=height, params=params, **metadata)

    @property
    def mime_type(self) -> str:
        return _MIME_TYPES[self.format]

    @property
    def recipe(self) -> FluxParams:
        """The parameters with the seed actually used, so the image can be made again."""
        if self.seed is None or self.params.seed == self.seed:
            return self.params
        return self.params.replace(seed=self.seed)

    def to_pil(self) -> Image.Image:
        """Decode into a Pillow image (a new one each call; the bytes stay the source of truth)."""
        image = Image.open(io.BytesIO(self.data))
        image.load()
        return image

    def save(self, path: str | Path) -> Path:
        """Write the image with its recipe embedded (``flux_widgets.recipes.read_recipe`` reads
        it back). The pixels are written as downloaded, never re-encoded, unless the suffix
        asks for another format (.png/.jpg/.webp); a missing suffix gets the image's own."""
        from .recipes import image_file_bytes  # recipes imports this module

        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(f".{self.format}")
        target.write_bytes(image_file_bytes(self, target.suffix))
        return target

    def thumbnail(self, max_size: int = 256, fmt: str = "webp") -> bytes:
        """A small copy for galleries (decodes; call it off the event loop for big batches)."""
        image = self.to_pil()
        image.draft("RGB", (max_size, max_size))  # JPEG decodes at reduced scale
        image.thumbnail((max_size, max_size))
        out = io.BytesIO()
        image.convert("RGB").save(out, _PIL_FORMATS[fmt], quality=80)
        return out.getvalue()

    @cached_property
    def _display_jpeg(self) -> bytes:
        # Saved notebooks (GitHub, nbviewer, VS Code) do not all render WebP: show a JPEG copy.
        out = io.BytesIO()
        self.to_pil().convert("RGB").save(out, "JPEG", quality=88)
        return out.getvalue()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if self.format == "webp":
            bundle: dict[str, Any] = {"image/jpeg": self._display_jpeg}
        else:
            bundle = {self.mime_type: self.data}
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        prompt = self.params.prompt
        if len(prompt) > 40:
            prompt = prompt[:39] + "…"
        return (
            f"<GeneratedImage {self.width}x{self.height} {self.format} seed={self.seed} "
            f"prompt={prompt!r}>"
        )
