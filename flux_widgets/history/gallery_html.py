"""Images as one self-contained web page (``History.export_html``, a gallery's, a grid's): it
opens offline in any browser, and sends nothing anywhere.

Every image is a card: a thumbnail embedded as a ``data:`` URI (WebP, at most
``thumbnail_size`` px a side), the prompt, the full recipe, a "copy as code" button (the cell of
``recipes/snippet.py``) and a "compare" tick (two ticked: side by side, the recipe's differing
rows marked). ``full_size=True`` embeds the original files too, each behind a "full size"
download link and in the comparison. A grid's layout comes first as tables of thumbnails
(rows x columns, a table per page) linking to the cards.

Everything users typed (prompts, labels, file names) is escaped where it is written into the
page, which is built here, not by the script; the page's Content-Security-Policy allows
no request at all (``default-src 'none'``, images only from ``data:``). Light or dark follows
the reader's system (``prefers-color-scheme``). The CSS and script are the files beside this
module (``export_page.css``, ``export_page.js``).
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from ..images import GeneratedImage
from ..params import FluxParams, PromptOrigin
from ..recipes.snippet import code_snippet
from .exporting import ExportItem, ExportReport

THUMBNAIL_SIZE = 256  # the history caches its thumbnails at this size (store.py)
_CHUNK = 64  # images read and thumbnailed at a time
_MIME = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}
# The only sources the page may use: its own inline style and script, images inside it.
_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)
# Record keys that are bookkeeping, not recipe (the rest is shown).
_HIDDEN = {
    "version",
    "file",
    "bytes",
    "sha256",
    "params",
    "origin",
    "favourite",
    "url",
    "recipe_in_file",
}


@dataclass(frozen=True)
class PageLayout:
    """One grid sheet for the page: headings, labels, and which item fills each cell.

    ``cells`` maps ``(row number, column number)`` (from 0) to an item's stem; ``notes`` to
    the text of a cell without an image (why it failed)."""

    title: str
    row_heading: str
    column_heading: str
    rows: Sequence[str]
    columns: Sequence[str]
    cells: Mapping[tuple[int, int], str]
    notes: Mapping[tuple[int, int], str] = field(default_factory=dict)


class ThumbnailCache(Protocol):
    """Where thumbnails made before are kept (a history's index: ``HistoryIndex``)."""

    def thumbnails(self, stems: Iterable[str], size: int) -> dict[str, bytes]: ...

    def store_thumbnails(self, thumbnails: dict[str, bytes], size: int) -> None: ...


def write_html(
    items: Iterable[ExportItem],
    path: str | os.PathLike[str],
    *,
    title: str = "flux-widgets images",
    full_size: bool = False,
    thumbnail_size: int = THUMBNAIL_SIZE,
    layout: Sequence[PageLayout] = (),
    cache: ThumbnailCache | None = None,
) -> ExportReport:
    """Write the page at ``path`` (replaced whole at the end). Thumbnails come from ``cache``
    (the items' history's index: WebP keyed by stem) or are made, in worker threads, and
    cached there; call it off the event loop. Raises ``ValueError`` for a
    ``thumbnail_size`` under 16 px, ``OSError`` if the folder cannot be written."""
    if thumbnail_size < 16:
        raise ValueError(f"thumbnail_size must be at least 16 px, not {thumbnail_size}")
    target = Path(path).expanduser()
    cards: list[str] = []
    thumbs: dict[str, str] = {}
    size = 0
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for chunk in _chunks(items, _CHUNK):
            images = {item.stem: _image(item) for item in chunk if item.stem not in thumbs}
            made = _thumbnails(images, thumbnail_size, pool, cache)
            for item in chunk:
                if item.stem in thumbs:
                    continue  # the same entry twice
                thumbs[item.stem] = _data_uri(made[item.stem], "webp")
                cards.append(_card(item, images[item.stem], thumbs[item.stem], full_size))
                size += len(item.data)
    page = _page(title, cards, "".join(_grid(sheet, thumbs) for sheet in layout))
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-export-", suffix=".html", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(page)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ExportReport(target, len(cards), size)


def _thumbnails(
    images: dict[str, GeneratedImage],
    size: int,
    pool: ThreadPoolExecutor,
    cache: ThumbnailCache | None,
) -> dict[str, bytes]:
    """WebP thumbnails by stem: cached ones, and the rest made in ``pool`` (Pillow decodes and
    encodes without the GIL) and cached."""
    found = cache.thumbnails(images, size) if cache is not None else {}
    missing = [stem for stem in images if stem not in found]
    made = dict(
        zip(missing, pool.map(lambda s: images[s].thumbnail(size, "webp"), missing), strict=True)
    )
    if cache is not None and made:
        cache.store_thumbnails(made, size)
    return {**found, **made}


def _chunks(items: Iterable[ExportItem], size: int) -> Iterator[list[ExportItem]]:
    chunk: list[ExportItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _image(item: ExportItem) -> GeneratedImage:
    """The item as an image (for its thumbnail and its code), read from its record."""
    record = item.record
    created = datetime.fromisoformat(str(record["created_at"]))
    return GeneratedImage(
        data=item.data,
        format=str(record["format"]),
        width=int(record["width"]),
        height=int(record["height"]),
        params=FluxParams.from_input(record["params"]),
        seed=record.get("seed"),
        prediction_id=record.get("prediction_id"),
        index=int(record.get("index") or 0),
        created_at=created if created.tzinfo else created.replace(tzinfo=timezone.utc),
        origin=PromptOrigin.from_json(record.get("origin")),
    )


def _card(item: ExportItem, image: GeneratedImage, thumb: str, full_size: bool) -> str:
    e = _escape
    record = item.record
    prompt = image.params.prompt
    # The seed actually used (the one asked for, if any, is the same; None means random).
    rows = [("seed", record.get("seed"))]
    rows += [(k, v) for k, v in record["params"].items() if k not in ("prompt", "seed")]
    rows.append(("size", f"{image.width} × {image.height} px, {image.format}"))
    rows += [(name, value) for name, value in record.items() if name not in _HIDDEN | {"seed"}]
    table = "".join(
        f'<tr data-key="{e(name)}"><th>{e(name)}</th><td>{e(_text(value))}</td></tr>'
        for name, value in rows
        if name not in ("format", "width", "height")
    )
    full = ""
    if full_size:
        href = _data_uri(item.data, image.format)
        full = f'<a class="full" download="{e(item.file_name)}" href="{href}">full size</a>'
    return (
        f'<article class="card" id="e-{e(item.stem)}" data-stem="{e(item.stem)}">'
        f'<img class="thumb" src="{thumb}" alt="{e(prompt)}" loading="lazy">'
        f'<p class="prompt">{e(prompt)}</p>'
        '<div class="actions"><label><input type="checkbox" class="pick"> compare</label>'
        f'<button type="button" class="copy">copy as code</button>{full}</div>'
        f'<details><summary>recipe</summary><table class="recipe">{table}</table>'
        f'<pre class="code">{e(code_snippet(image))}</pre></details></article>'
    )


def _grid(sheet: PageLayout, thumbs: Mapping[str, str]) -> str:
    e = _escape
    head = "".join(f"<th>{e(label)}</th>" for label in sheet.columns)
    corner = f"{e(sheet.row_heading)} ↓ · {e(sheet.column_heading)} →"
    body = []
    for r, label in enumerate(sheet.rows):
        cells = []
        for c in range(len(sheet.columns)):
            stem = sheet.cells.get((r, c))
            if stem is not None and stem in thumbs:
                cells.append(
                    f'<td><a href="#e-{e(stem)}"><img src="{thumbs[stem]}" alt=""></a></td>'
                )
            else:
                cells.append(f'<td class="empty">{e(sheet.notes.get((r, c), "no image"))}</td>')
        body.append(f"<tr><th>{e(label)}</th>{''.join(cells)}</tr>")
    return (
        f'<section class="grid"><h2>{e(sheet.title)}</h2><table><thead><tr><th>{corner}</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></section>"
    )


def _page(title: str, cards: list[str], grids: str) -> str:
    e = _escape
    folder = resources.files(__package__ or "flux_widgets.history")
    css = (folder / "export_page.css").read_text(encoding="utf-8")
    script = (folder / "export_page.js").read_text(encoding="utf-8")
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    count = f"{len(cards):,} image{'' if len(cards) == 1 else 's'}"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{e(title)}</title><style>{css}</style></head><body>"
        f"<header><h1>{e(title)}</h1><p>{count} · exported {made} by flux-widgets · "
        'tick "compare" on two images to see them side by side; "copy as code" copies the '
        "notebook cell that makes an image again</p></header>"
        f'{grids}<main class="cards">{"".join(cards)}</main>'
        '<div id="compare" class="compare" hidden><div class="compare-bar">'
        '<strong>compare</strong><span class="compare-note">differing rows are marked</span>'
        '<button type="button" id="compare-close">close</button></div>'
        '<div class="compare-panes"></div></div>'
        f"<script>{script}</script></body></html>\n"
    )


def _data_uri(data: bytes, fmt: str) -> str:
    mime = _MIME.get(fmt, "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _escape(text: Any) -> str:
    return html.escape(str(text), quote=True)
