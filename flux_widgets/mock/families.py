"""The registry of faked protocol families: a new family is its module plus one line here.

The app mounts each family's routes in this order (``app.py``), and the file host asks the
family that made a prediction how its CDN answers (``MockFamily.file_refusal``).
"""

from __future__ import annotations

from collections.abc import Mapping

from .cloudflare import CLOUDFLARE
from .cometapi import COMETAPI
from .fal import FAL
from .family import MockFamily
from .huggingface import HUGGINGFACE
from .openai_images import TOGETHER
from .replicate import REPLICATE

FAMILIES: tuple[MockFamily, ...] = (COMETAPI, REPLICATE, FAL, TOGETHER, HUGGINGFACE, CLOUDFLARE)
"""Every family the mock serves."""

BY_NAME: Mapping[str, MockFamily] = {family.name: family for family in FAMILIES}
"""The families by the name predictions record (``MockPrediction.family``)."""
