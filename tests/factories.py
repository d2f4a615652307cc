"""Images and records made for tests: small, deterministic, no request."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from PIL import Image

from flux_widgets.images import GeneratedImage
from flux_widgets.params import FluxParams

_PIL = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
_T0 = datetime(2026, 11, 23, 21, 15, 30, 123456, tzinfo=timezone.utc)


def make_image(
    n: int = 0, fmt: str = "webp", prediction_id: str | None = "pred", **params: object
) -> GeneratedImage:
    out = io.BytesIO()
    Image.new("RGB", (32, 16), (n * 40 % 256, 80, 160)).save(out, _PIL[fmt])
    flux = FluxParams(prompt=f"boat {n}", output_format=fmt, **params)  # type: ignore[arg-type]
    return GeneratedImage.from_bytes(
        out.getvalue(),
        flux,
        seed=1000 + n,
        prediction_id=prediction_id,
        index=n % 2,
        url=f"https://replicate.delivery/x/{n}.{fmt}",
        predict_time=0.5,
        download_time=0.1,
        created_at=_T0 + timedelta(seconds=n),
    )
