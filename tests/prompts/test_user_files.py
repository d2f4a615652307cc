"""User files (wildcard lists, saved styles) are read as their authors wrote them: byte-order
marks are not text, UTF-16 is decoded, and bytes that are not text are refused by file and line."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from flux_widgets.errors import StyleError, TemplateError
from flux_widgets.prompts.styles import StyleLibrary
from flux_widgets.prompts.templates import PromptTemplate, Wildcards
from flux_widgets.prompts.user_files import read_user_text

LINES = "velvet scarf\ncafé crème\n水彩\n"


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + LINES.encode("utf-8"),
        codecs.BOM_UTF16_LE + LINES.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + LINES.encode("utf-16-be"),
        codecs.BOM_UTF32_LE + LINES.encode("utf-32-le"),
        codecs.BOM_UTF32_BE + LINES.encode("utf-32-be"),
        LINES.encode("utf-16-le"),  # Windows "Unicode" without its mark
        LINES.encode("utf-16-be"),
        LINES.replace("\n", "\r\n").encode("utf-8"),
    ],
    ids=[
        "utf8-bom",
        "utf16le-bom",
        "utf16be-bom",
        "utf32le-bom",
        "utf32be-bom",
        "utf16le",
        "utf16be",
        "crlf",
    ],
)
def test_wildcard_files_in_any_knowable_encoding_give_the_values_written(
    tmp_path: Path, data: bytes
) -> None:
    (tmp_path / "things.txt").write_bytes(data)
    wildcards = Wildcards((tmp_path,))
    assert PromptTemplate("a __things__", wildcards).expand() == [
        "a café crème",
        "a velvet scarf",
        "a 水彩",
    ]
    for prompt in PromptTemplate("a __things__", wildcards).sample(5, seed=1):
        assert prompt in {"a café crème", "a velvet scarf", "a 水彩"}


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ("velvet scarf\ncafé crème\n".encode("cp1252"), 2),
        ("velvet\nwool\ncrème brûlée\n".encode("latin-1"), 3),
        (b"ok\n\x00\x00\x00a\x00\x00\x00b\n", 2),  # UTF-32 without a mark
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1),  # not text at all
    ],
    ids=["cp1252", "latin1", "utf32-no-mark", "png"],
)
def test_a_wildcard_file_that_is_not_text_is_refused_naming_file_and_line(
    tmp_path: Path, data: bytes, line: int
) -> None:
    (tmp_path / "food.txt").write_bytes(data)
    with pytest.raises(TemplateError) as caught:
        PromptTemplate("a __food__", Wildcards((tmp_path,))).expand()
    message = str(caught.value)
    assert str(tmp_path / "food.txt") in message and f"line {line}" in message
    assert "UTF-8" in message


def test_the_refusal_says_where_and_what_on_the_line(tmp_path: Path) -> None:
    path = tmp_path / "food.txt"
    path.write_bytes("tea\ncafé crème\n".encode("cp1252"))
    with pytest.raises(TemplateError, match=r"line 2: byte\(s\) E9 after 'caf'"):
        read_user_text(path)


def test_random_picks_refuse_an_undecodable_file_too(tmp_path: Path) -> None:
    (tmp_path / "food.txt").write_bytes("café crème\n".encode("cp1252"))
    with pytest.raises(TemplateError, match=r"food\.txt, line 1"):
        PromptTemplate("a {~__food__|tea}", Wildcards((tmp_path,))).sample(3, seed=1)


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
        lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        lambda text: text.encode("utf-16-le"),
    ],
    ids=["utf8-bom", "utf16-bom", "utf16"],
)
def test_a_style_file_with_a_mark_or_in_utf16_is_read(
    tmp_path: Path, encode: Callable[[str], bytes]
) -> None:
    style = {"name": "Aquarelle", "template": "une aquarelle de {prompt}", "params": {}}
    (tmp_path / "aquarelle.json").write_bytes(encode(json.dumps(style, ensure_ascii=False)))
    assert StyleLibrary(tmp_path).get("Aquarelle").template == "une aquarelle de {prompt}"


def test_a_style_file_in_cp1252_is_skipped_with_its_name_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    style = '{"name": "crème", "template": "a crème {prompt}"}'
    (tmp_path / "creme.json").write_bytes(style.encode("cp1252"))
    assert "crème" not in StyleLibrary(tmp_path).names()
    assert "creme.json" in caplog.text and "line 1" in caplog.text


def test_style_errors_are_style_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b"\xff\xfe\x00")  # a UTF-16 mark, then half a character
    with pytest.raises(StyleError, match=r"x\.json"):
        read_user_text(path, kind="style file", error=StyleError)
