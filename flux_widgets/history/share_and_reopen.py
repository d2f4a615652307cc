"""A history's share and re-open methods: ``export_zip``, ``export_html`` and ``import_``
(``History`` takes them from here; store.py holds the files, exporting.py, importing.py and
gallery_html.py do the work)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from .exporting import ExportReport, HistoryFolder, Selection, export_items, write_zip
from .gallery_html import THUMBNAIL_SIZE, PageLayout, write_html
from .importing import MAX_IMAGE_BYTES, MAX_TOTAL_BYTES, ImportReport, import_zip
from .index import HistoryIndex


class ShareAndReopen:
    """The methods ``History`` shares its images with, and re-opens shared ones with."""

    directory: Path
    index: HistoryIndex

    def export_zip(self, path: str | os.PathLike[str], entries: Selection = None) -> ExportReport:
        """Write ``entries`` as a zip that ``History.import_`` re-opens in another notebook:
        each image file byte for byte (recipe embedded), its JSON record (recipe, seed,
        provider and price when known, times) and a manifest. ``entries``: None (everything),
        a ``HistoryFilter`` (what the browser's search shows), or records, stems or images
        (a gallery's ``GeneratedImage``s). The zip is written whole or not at all. Raises
        ``ValueError`` for an entry whose image was changed, ``FileNotFoundError`` for one
        that is gone, ``OSError`` when the target cannot be written."""
        return write_zip(export_items(cast(HistoryFolder, self), entries), path)

    def export_html(
        self,
        path: str | os.PathLike[str],
        entries: Selection = None,
        *,
        title: str = "flux-widgets images",
        full_size: bool = False,
        thumbnail_size: int = THUMBNAIL_SIZE,
        layout: Sequence[PageLayout] = (),
    ) -> ExportReport:
        """Write ``entries`` (as for ``export_zip``) as one web page that opens offline in
        any browser: WebP thumbnails of at most ``thumbnail_size`` px embedded, each image's
        recipe, "copy as code" and a side-by-side compare; ``full_size=True`` embeds the
        original files too (a page about as large as the images). Decodes every image:
        call it off the event loop. Errors as ``export_zip``."""
        items = export_items(cast(HistoryFolder, self), entries)
        return write_html(
            items,
            path,
            title=title,
            full_size=full_size,
            thumbnail_size=thumbnail_size,
            layout=layout,
            cache=self.index,  # thumbnails the browser made are not made again
        )

    def import_(
        self,
        path: str | os.PathLike[str],
        *,
        max_total_bytes: int = MAX_TOTAL_BYTES,
        max_image_bytes: int = MAX_IMAGE_BYTES,
    ) -> ImportReport:
        """Add the images of a zip made by ``export_zip`` to this history, byte for byte with
        their records; an image already here (same SHA-256) is not added again, so importing
        twice adds nothing. Returns how many were imported, already present, and refused (with
        why). Raises ``HistoryImportError`` (nothing written) for a file that is not such a
        zip, names paths outside its folder, or unpacks past ``max_total_bytes`` in all or
        ``max_image_bytes`` for an image."""
        return import_zip(
            self, path, max_total_bytes=max_total_bytes, max_image_bytes=max_image_bytes
        )
