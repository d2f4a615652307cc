"""The history: every image on disk as it arrives (``store``), found by its index (``index``),
shared and re-opened as a zip or a web page (``share_and_reopen``)."""

from .exporting import ExportReport
from .importing import ImportReport
from .records import HistoryFilter, HistoryRecord
from .store import History, StoredImage, default_directory

__all__ = [
    "ExportReport",
    "History",
    "HistoryFilter",
    "HistoryRecord",
    "ImportReport",
    "StoredImage",
    "default_directory",
]
