"""The inline HTML and CSS every widget writes the same way: errors (in words for people,
``wording.describe_error``) and warnings in the theme's colours, and the studio's one style sheet.

Colours come from JupyterLab's ``--jp-*`` theme variables (Notebook 7 and Voila use the same
themes; VS Code's renderer maps some of them), each with a fallback for front ends without
them, so a light and a dark theme both stay readable.
"""

from __future__ import annotations

import html

from ..wording import describe_error

ERROR_COLOR = "var(--jp-error-color1, #b00020)"
WARNING_COLOR = "var(--jp-warn-color0, #8a5a00)"
SUCCESS_COLOR = "var(--jp-success-color1, #1b7f3b)"
MUTED_COLOR = "var(--jp-ui-font-color2, #777777)"
ACCENT_COLOR = "var(--jp-brand-color1, #1f5fbf)"


def error_html(error: BaseException, prefix: str = "") -> str:
    """``<span>`` with ``[prefix: ]what happened and what to do`` (``wording.describe_error``:
    no class name, no ``[Errno n]``), escaped (messages quote user input); the technical
    detail is its hover text, for a bug report."""
    words = describe_error(error, prefix)
    title = f" title='{html.escape(words.detail, quote=True)}'" if words.detail else ""
    return (
        f"<span class='flux-error' style='color:{ERROR_COLOR}'{title}>"
        f"{html.escape(words.text)}</span>"
    )


def warning_html(text: str) -> str:
    """A warning line (escaped), in the theme's warning colour."""
    return f"<span class='flux-warning'>{html.escape(text)}</span>"


# Injected once per studio through a hidden HTML widget (a <style> in innerHTML applies; no
# script runs), scoped under .flux-studio / .flux-grid so nothing else on the page changes.
STUDIO_CSS = """<style>
.flux-studio, .flux-grid { max-width: 100%; box-sizing: border-box; }
.flux-studio *, .flux-grid * { box-sizing: border-box; }
.flux-studio .widget-hbox, .flux-studio .widget-vbox,
.flux-grid .widget-hbox, .flux-grid .widget-vbox { max-width: 100%; min-width: 0; }
.flux-studio .flux-mock-banner {
  background: var(--jp-layout-color2, #f3f3f3);
  color: var(--jp-ui-font-color0, #1a1a1a);
  border: 1px solid var(--jp-warn-color1, #e0a000);
  border-left: 6px solid var(--jp-warn-color1, #e0a000);
  border-radius: 3px; padding: 4px 8px;
}
.flux-studio .flux-warning, .flux-grid .flux-warning { color: var(--jp-warn-color0, #8a5a00); }
.flux-studio .flux-job-note { color: var(--jp-ui-font-color2, #777777); }
.flux-studio .flux-seed-state { margin: 0 4px 0 8px; }
.flux-studio .flux-seed-locked b { color: var(--jp-warn-color0, #8a5a00); }
/* A thumbnail's "open · seed 2212868123" wraps under a narrow thumbnail instead of "seed 22…". */
.flux-studio .flux-open, .flux-grid .flux-open {
  white-space: normal; height: auto; min-height: var(--jp-widgets-inline-height, 28px);
  line-height: 1.25; padding: 2px 6px; overflow-wrap: anywhere;
}
.flux-studio .widget-html-content,
.flux-grid .widget-html-content { white-space: normal; overflow-wrap: anywhere; }
/* A line that wraps reads as one paragraph (the widgets' 28 px line height spaced it like
   two); one line keeps the 28 px a row of controls needs: 18 px plus 5 px above and below. */
.flux-studio .widget-html > .widget-html-content,
.flux-grid .widget-html > .widget-html-content { line-height: 18px; padding: 5px 0; }
.flux-studio .widget-html > .widget-html-content:empty,
.flux-grid .widget-html > .widget-html-content:empty { padding: 0; }
/* Long paths (the history and styles folders) wrap instead of running out or clipping. */
.flux-studio code, .flux-grid code { white-space: normal; overflow-wrap: anywhere; }
/* Links look like links (JupyterLab's widget CSS draws them as plain text). */
.flux-studio a, .flux-grid a {
  color: var(--jp-content-link-color, #1f5fbf); text-decoration: underline; cursor: pointer;
}
/* A job row keeps its height in the scrolling list (flex items shrink by default). */
.flux-studio .flux-job-rows > .flux-job { flex: 0 0 auto; }
/* Notebook 7 (and JupyterLab with "scroll outputs" on) collapses an output taller than about
   1,800 px into a 24em (312 px) scroll box: the studio or a grid there hides Generate and the
   gallery. The notebooks set the cell's "scrolled": false metadata, which the front end
   honours; this covers a studio in any other notebook. */
.jp-CodeCell.jp-mod-outputsScrolled .jp-Cell-outputArea:has(.flux-studio, .flux-grid) {
  max-height: none; overflow-y: visible; resize: none; margin-left: 0;
}
.jp-CodeCell.jp-mod-outputsScrolled .jp-Cell-outputArea:has(.flux-studio, .flux-grid)::after {
  display: none;
}
</style>"""
