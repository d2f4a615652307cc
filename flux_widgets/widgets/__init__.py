"""ipywidgets for flux-schnell: the studio and the parts it is built from.

Standard ipywidgets only (7.7 and 8), so every front end shows them without an extension.
"""

from .controls import ParameterControls
from .gallery import Gallery, Viewer
from .history_browser import HistoryBrowser
from .jobs import JobList, JobRow
from .key_input import KeyInput
from .studio import PromptStudio

__all__ = [
    "Gallery",
    "HistoryBrowser",
    "JobList",
    "JobRow",
    "KeyInput",
    "ParameterControls",
    "PromptStudio",
    "Viewer",
]
