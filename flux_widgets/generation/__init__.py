"""One generation's life: create, hold or poll, download, cancel on the server, the deadline.

``Generation`` (``machine.py``) runs it; ``Progress`` and ``GenerationPolicy`` (``progress.py``)
are what it reports and the settings it runs under; ``JobJournal`` (``journal.py``) is where
each paid job id is written as it arrives, for recovery in a new kernel.
"""

from .journal import JobJournal, note_in_journal
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
    "JobJournal",
    "Progress",
    "StatusCallback",
    "UnclaimedOutputs",
    "note_in_journal",
]
