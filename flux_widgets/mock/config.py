"""How the mock behaves: timings, auth, sync wait, URL bases and faults, in one dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

from .faults import FaultConfig


@dataclass
class MockConfig:
    """Settings of one mock app; every field has the default an offline demo wants.

    ``generation_time`` is seconds from create to ``succeeded``; ``start_delay`` the part of it
    spent in ``starting`` (``None``: ``min(0.1, generation_time / 4)``; fal's ``IN_QUEUE``). With
    ``api_key`` set the API routes demand ``Authorization: Bearer <key>`` (fal's: ``Key <key>``);
    the file routes never do. ``files_base_url``
    is where output URLs point (``None``: the request's own base URL); ``urls_base_url`` is what
    the prediction's ``urls.*`` point at, api.replicate.com by default, as CometAPI really does.
    """

    generation_time: float = 0.8
    start_delay: float | None = None
    api_key: str | None = None
    sync_wait_replicate: bool = True
    # CometAPI does not document Prefer: wait, so the /replicate routes ignore it by default.
    sync_wait_cometapi: bool = False
    files_base_url: str | None = None
    urls_base_url: str = "https://api.replicate.com"
    file_ttl: float = 3600.0
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if self.generation_time < 0:
            raise ValueError(f"generation_time must be >= 0, got {self.generation_time}")
        if self.start_delay is not None and self.start_delay < 0:
            raise ValueError(f"start_delay must be >= 0, got {self.start_delay}")
        if self.file_ttl <= 0:
            raise ValueError(f"file_ttl must be > 0, got {self.file_ttl}")
        self.urls_base_url = self.urls_base_url.rstrip("/")
        if self.files_base_url is not None:
            self.files_base_url = self.files_base_url.rstrip("/")

    def starting_time(self, generation_time: float) -> float:
        """Seconds a prediction that takes ``generation_time`` stays in ``starting``."""
        if self.start_delay is None:
            return min(0.1, generation_time / 4)
        return min(self.start_delay, generation_time)
