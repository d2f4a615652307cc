"""The history: every image on disk as it arrives (``store``), found by its index (``index``)."""

from .records import HistoryFilter, HistoryRecord
from .store import History, StoredImage, default_directory

__all__ = ["History", "HistoryFilter", "HistoryRecord", "StoredImage", "default_directory"]
