"""The map in the repo stays true: every link in the Markdown files and every `.md` path cited in
the package's comments and docstrings points at a file that exists, and the README stays a first
page. Nothing is fetched: links to http(s) are skipped.
"""

from __future__ import annotations

import io
import re
import subprocess
import tokenize
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "flux_widgets"
README_MAX_LINES = 300

# Folders that hold no Markdown of ours when the repository is not a git checkout.
_NOT_OURS = {".git", ".venv", ".venv-ipywidgets7", "node_modules", "test-output", "build", "dist"}

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
_REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
_HTML_LINK = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.M)
_MD_PATH = re.compile(r"(?<![\w/.-])((?:\.{1,2}/)?[\w.-]+(?:/[\w.-]+)*\.md)\b")


def markdown_files() -> list[Path]:
    """Every Markdown file of the repository: tracked, or new and not ignored."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "*.md"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            text=True,
        ).stdout.split("\0")
    except (OSError, subprocess.CalledProcessError):
        listed = [
            str(path.relative_to(ROOT))
            for path in ROOT.rglob("*.md")
            if not _NOT_OURS & set(path.relative_to(ROOT).parts)
        ]
    return sorted(ROOT / name for name in listed if name and (ROOT / name).is_file())


def links(markdown: str) -> list[str]:
    """The targets of every link and image, outside code blocks and inline code."""
    prose = _INLINE_CODE.sub("", _FENCE.sub("", markdown))
    found = [*_INLINE_LINK.findall(prose), *_REFERENCE_LINK.findall(prose)]
    return found + _HTML_LINK.findall(prose)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown file (repeats get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    result = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return frozenset(result)


def broken_link(source: Path, target: str) -> str | None:
    """Why ``target``, linked from ``source``, does not resolve in the repo; None if it does."""
    if _EXTERNAL.match(target):
        return None  # http(s), mailto: never fetched
    path_part, _, anchor = target.partition("#")
    path_part = path_part.split("?", 1)[0]
    if not path_part:
        resolved = source
    elif path_part.startswith("/"):
        resolved = (ROOT / path_part.lstrip("/")).resolve()
    else:
        resolved = (source.parent / path_part).resolve()
    if not resolved.is_relative_to(ROOT):
        return f"{target}: outside the repository"
    if not resolved.exists():
        return f"{target}: no such file"
    if anchor and resolved.suffix == ".md" and anchor.lower() not in anchors(resolved):
        return f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}"
    return None


def cited_markdown(source: str) -> list[str]:
    """The `.md` paths named in a Python file's comments and strings (docstrings included)."""
    cited: list[str] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.STRING):
            cited.extend(_MD_PATH.findall(token.string))
    return cited


def test_markdown_is_found_including_the_readme_and_the_reference_pages() -> None:
    names = {str(path.relative_to(ROOT)) for path in markdown_files()}
    assert {"README.md", "ARCHITECTURE.md", "docs/protocol.md"} <= names


@pytest.mark.parametrize("source", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_and_image_resolves_to_a_file_in_the_repo(source: Path) -> None:
    text = source.read_text(encoding="utf-8")
    problems = [p for p in (broken_link(source, t) for t in links(text)) if p]
    assert problems == [], f"{source.relative_to(ROOT)}: {problems}"


def test_every_markdown_path_cited_in_the_package_exists() -> None:
    missing = []
    for module in sorted(PACKAGE.rglob("*.py")):
        source = module.read_text(encoding="utf-8")
        if ".md" not in source:
            continue
        for cited in cited_markdown(source):
            # Comments cite paths from the repository root ("docs/protocol.md").
            if not (ROOT / cited).is_file() and not (module.parent / cited).is_file():
                missing.append(f"{module.relative_to(ROOT)}: {cited}")
    assert missing == []


def test_the_readme_is_a_first_page_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    assert "make demo" in readme
    assert "make test" in readme


def test_the_readme_leads_to_every_reference_page_and_the_architecture() -> None:
    readme = ROOT / "README.md"
    linked = {
        (readme.parent / target.partition("#")[0]).resolve()
        for target in links(readme.read_text(encoding="utf-8"))
        if not _EXTERNAL.match(target)
    }
    pages = {*sorted((ROOT / "docs").glob("*.md")), ROOT / "ARCHITECTURE.md"}
    assert sorted(str(p.relative_to(ROOT)) for p in pages - linked) == []


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("[a](docs/a.md) ![b](docs/b.png 'title')", ["docs/a.md", "docs/b.png"]),
        ("[![x](https://x/badge.svg)](https://x/run)", ["https://x/badge.svg", "https://x/run"]),
        ("`[not](a-link.md)`\n```\n[nor](this.md)\n```\n[ref]: <docs/ref.md>", ["docs/ref.md"]),
        ('<img src="docs/pic.png" alt="">', ["docs/pic.png"]),
    ],
)
def test_links_are_read_from_prose_only(markdown: str, expected: list[str]) -> None:
    assert sorted(links(markdown)) == sorted(expected)


def test_a_missing_file_a_missing_heading_and_an_escape_are_each_reported() -> None:
    readme = ROOT / "README.md"
    assert broken_link(readme, "https://example.com/nowhere.md") is None
    assert broken_link(readme, "docs/protocol.md") is None
    assert "no such file" in (broken_link(readme, "docs/no-such-page.md") or "")
    assert "no heading" in (broken_link(readme, "docs/protocol.md#no-such-heading") or "")
    assert "outside" in (broken_link(readme, "../elsewhere.md") or "")


def test_headings_become_github_anchors() -> None:
    assert slug("Proxies, cancels, closing") == "proxies-cancels-closing"
    assert slug("`%%flux`") == "flux"
    assert slug("Faults, for tests and teaching") == "faults-for-tests-and-teaching"


def test_cited_paths_come_from_comments_and_docstrings() -> None:
    source = '"""See docs/protocol.md."""\nx = 1  # and ARCHITECTURE.md, ../README.md\n'
    assert cited_markdown(source) == ["docs/protocol.md", "ARCHITECTURE.md", "../README.md"]
