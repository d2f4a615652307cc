"""History.export_html: one page, nothing fetched, every user string escaped."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from factories import make_image
from PIL import Image

from flux_widgets import History, HistoryFilter
from flux_widgets.history.gallery_html import PageLayout

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'


class _Page(HTMLParser):
    """The page's tags, attributes and text, as a browser's parser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _hostile(history: History, n: int = 0) -> Path:
    image = make_image(n, fmt="png")
    return history.add(dataclasses.replace(image, params=image.params.replace(prompt=HOSTILE)))


def test_a_prompt_holding_markup_is_shown_as_text_never_run(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    _hostile(history)
    path = history.export_html(tmp_path / "page.html").path
    page = _parse(path)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert len(scripts) == 1  # the page's own script only
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    assert all(str(attrs["src"]).startswith("data:image/webp;base64,") for attrs in images)
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    # The prompt reads back exactly, as text: in the card, its alt text and its code.
    assert HOSTILE in page.text
    assert images[0]["alt"] == HOSTILE
    assert any(repr(HOSTILE) in text for text in page.text)


def test_the_page_fetches_nothing_and_forbids_fetching(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    for n in range(3):
        history.add(make_image(n, fmt=["png", "jpg", "webp"][n]))
    path = history.export_html(tmp_path / "page.html", full_size=True).path
    page = _parse(path)
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "srcset", "poster"):
            value = attrs.get(name)
            assert value is None or value.startswith(("data:", "#")), (tag, name, value)
    csp = "Content-Security-Policy"
    [policy] = [a["content"] for _, a in page.tags if a.get("http-equiv") == csp]
    assert "default-src 'none'" in str(policy) and "img-src data:" in str(policy)
    assert "http" not in re.sub(r"data:[^\"]+", "", path.read_text()).replace("http-equiv", "")


def test_thumbnails_are_bounded_and_full_size_embeds_the_originals_byte_for_byte(
    tmp_path: Path,
) -> None:
    history = History(tmp_path / "h")
    out = io.BytesIO()
    Image.new("RGB", (600, 300), (10, 120, 200)).save(out, "PNG")
    image = dataclasses.replace(
        make_image(1, fmt="png"), data=out.getvalue(), width=600, height=300
    )
    stored = history.add(image)
    path = history.export_html(tmp_path / "page.html", thumbnail_size=100, full_size=True).path
    page = _parse(path)
    [thumb] = [a["src"] for t, a in page.tags if t == "img"]
    decoded = Image.open(io.BytesIO(base64.b64decode(str(thumb).split(",", 1)[1])))
    assert decoded.format == "WEBP" and max(decoded.size) == 100
    [link] = [a for t, a in page.tags if t == "a" and "download" in a]
    assert base64.b64decode(str(link["href"]).split(",", 1)[1]) == stored.read_bytes()
    assert link["download"] == stored.name
    without = history.export_html(tmp_path / "small.html").path
    assert not [a for t, a in _parse(without).tags if t == "a" and "download" in a]


def test_each_card_holds_the_full_recipe_and_its_code(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    record_path = history.add(make_image(3, fmt="webp", num_inference_steps=2)).with_suffix(".json")
    record = json.loads(record_path.read_bytes())
    record["provider"] = "fal"
    record_path.write_text(json.dumps(record))
    history.reindex()
    text = history.export_html(tmp_path / "page.html").path.read_text()
    for key, value in [("seed", "1003"), ("num_inference_steps", "2"), ("provider", "fal")]:
        assert f'<tr data-key="{key}"><th>{key}</th><td>{value}</td></tr>' in text
    code = re.search(r'<pre class="code">(.*?)</pre>', text, re.S)
    assert code is not None
    assert "num_inference_steps=2," in code.group(1) and "seed=1003," in code.group(1)
    assert "&#x27;boat 3&#x27;," in code.group(1)  # the prompt, escaped in the page


def test_a_search_and_a_grid_layout_shape_the_page(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    stems = [history.add(make_image(n)).stem for n in range(4)]
    layout = PageLayout(
        title="steps x seed",
        row_heading="steps",
        column_heading="seed <b>",
        rows=["1", "2"],
        columns=["a", "b"],
        cells={(0, 0): stems[0], (0, 1): stems[1], (1, 0): stems[2]},
        notes={(1, 1): "failed: <timeout>"},
    )
    text = history.export_html(tmp_path / "grid.html", stems, layout=[layout]).path.read_text()
    assert text.count('<section class="grid">') == 1
    assert f'href="#e-{stems[0]}"' in text and f'id="e-{stems[0]}"' in text
    assert "seed &lt;b&gt; →" in text and '<td class="empty">failed: &lt;timeout&gt;</td>' in text
    only = history.export_html(tmp_path / "one.html", HistoryFilter(text="boat 2")).path
    assert only.read_text().count('<article class="card"') == 1


def test_a_too_small_thumbnail_size_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    history.add(make_image(1))
    with pytest.raises(ValueError, match="at least 16 px"):
        history.export_html(tmp_path / "page.html", thumbnail_size=8)
    assert not (tmp_path / "page.html").exists()
