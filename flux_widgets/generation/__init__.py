"""One generation's life: create, hold or poll, download, cancel on the server, the deadline.

``Generation`` (``machine.py``) runs it; ``Progress`` and ``GenerationPolicy`` (``progress.py``)
are what it reports and the settings it runs under; ``JobJournal`` (``journal.py``) is where
each paid job id is written as it arrives, for recovery in a new kernel; ``ImageKeeper``
(``keeper.py``) is where each paid image is kept (the history), once, as it arrives.
"""

from .journal import JobJournal, note_in_journal
from .keeper import (
    HistorySetting,
    ImageKeeper,
    check_history,
    keep_failed,
    keep_finished,
    keeping,
    with_origin,
)
from .machine import Generation
from .progress import (
    DetailCallback,
    GenerationPolicy,
    Progress,
    StatusCallback,
    UnclaimedOutputs,
)

__all__ = [
    "DetailCallback",
    "Generation",
    "GenerationPolicy",
    "HistorySetting",
    "ImageKeeper",
    "JobJournal",
    "Progress",
    "StatusCallback",
    "UnclaimedOutputs",
    "check_history",
    "keep_failed",
    "keep_finished",
    "keeping",
    "note_in_journal",
    "with_origin",
]
