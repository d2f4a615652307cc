"""ipywidgets for flux-schnell: the studio and the parts it is built from.

Standard ipywidgets (7.7 and 8) for the controls; the viewer and the keyboard shortcuts are
anywidgets, whose ES modules ship inside the package (no extension to build or install).
"""

from .controls import ParameterControls
from .gallery import Gallery
from .history_browser import HistoryBrowser
from .jobs import JobList, JobRow
from .key_input import KeyInput
from .shortcuts import Shortcuts
from .studio import PromptStudio
from .viewer import Viewer

__all__ = [
    "Gallery",
    "HistoryBrowser",
    "JobList",
    "JobRow",
    "KeyInput",
    "ParameterControls",
    "PromptStudio",
    "Shortcuts",
    "Viewer",
]
