"""PromptStudio and its panels: provider and key, controls (with styles, estimate and
batches), jobs, gallery (with the viewer) and history, laid out in one column."""

from .prompt_studio import CONTACT_SHEET_IMAGES, LIVE_TEXT, PromptStudio
from .provider_panel import MOCK_BANNER

__all__ = ["CONTACT_SHEET_IMAGES", "LIVE_TEXT", "MOCK_BANNER", "PromptStudio"]
