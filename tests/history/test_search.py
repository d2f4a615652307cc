"""History search: what people type, in every script, with the same answers in both modes."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from factories import _T0, make_image

from flux_widgets.history.store import History, HistoryFilter
from flux_widgets.params import FluxParams


@pytest.mark.parametrize("search", ["fts5", "like"])
def test_search_finds_every_term_case_insensitive(tmp_path: Path, search: str) -> None:
    history = History(tmp_path, search=search)
    prompts = [
        "A paper Boat on calm water",
        "boats in a harbour at dusk",
        "a red fox under snow",
        "lighthouse, watercolor",
        'quote " star * (paren) 100% under_score',
    ]
    for n, prompt in enumerate(prompts):
        history.add(dataclasses.replace(make_image(n), params=FluxParams(prompt=prompt)))
    assert history.index.use_fts is (search == "fts5")

    def found(text: str) -> list[str]:
        return [record.prompt for record in history.page(0, 10, HistoryFilter(text=text))]

    assert found("boat") == ["boats in a harbour at dusk", "A paper Boat on calm water"]
    assert found("BOAT calm") == ["A paper Boat on calm water"]
    assert found("fox snow") == ["a red fox under snow"]
    assert found("zebra") == []
    assert history.count(HistoryFilter(text="boat")) == 2
    # Search syntax from users is taken literally, never as FTS5 or LIKE syntax: symbols are
    # terms like any other (matched as written), not dropped into "no filter".
    assert found('" * (') == [prompts[4]]
    assert found('quote "') == [prompts[4]]
    assert found("100") == [prompts[4]]
    assert found("under_score") == [prompts[4]]
    assert found("   ") == list(reversed(prompts))


def test_without_fts5_the_history_searches_with_like(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flux_widgets.history.index as history_index

    monkeypatch.setattr(history_index, "fts5_available", lambda: False)
    history = History(tmp_path)
    history.add(make_image(3))
    assert history.index.use_fts is False
    assert history.count(HistoryFilter(text="oat")) == 1  # substrings, as in FTS5 mode
    with pytest.raises(ValueError, match="search"):
        History(tmp_path, search="regex")


def test_filters_by_star_aspect_ratio_and_date(tmp_path: Path) -> None:
    history = History(tmp_path)
    for n, ratio in enumerate(["1:1", "16:9", "16:9", "9:16"]):
        image = make_image(n, aspect_ratio=ratio)
        history.add(dataclasses.replace(image, created_at=_T0 + timedelta(days=n)))
    history.star(history.page(0, 1)[0].stem)
    history.star(history.page(3, 1)[0].stem)
    history.star(history.page(3, 1)[0].stem, False)

    def seeds(**where: object) -> list[int | None]:
        return [r.seed for r in history.page(0, 10, HistoryFilter(**where))]  # type: ignore[arg-type]

    assert seeds(favourite=True) == [1003]
    assert seeds(aspect_ratio="16:9") == [1002, 1001]
    day1 = (_T0 + timedelta(days=1)).astimezone().date()
    day2 = (_T0 + timedelta(days=2)).astimezone().date()
    assert seeds(since=day1, until=day2) == [1002, 1001]
    assert seeds(since=day2, aspect_ratio="16:9") == [1002]
    newest, oldest = history.page(0, 1)[0], history.page(3, 1)[0]
    assert json.loads((tmp_path / f"{newest.stem}.json").read_text())["favourite"] is True
    assert json.loads((tmp_path / f"{oldest.stem}.json").read_text())["favourite"] is False


# -- every script, every kind of term: one corpus, the same answers in both modes -------------

_CORPUS = [
    "一只猫在屋顶上",  # 0 Chinese: no spaces between words
    "富士山の朝焼け",  # 1 Japanese: kanji and kana
    "屋顶上的cat和狗",  # 2 a Latin word glued to CJK text
    "Ägypten bei Nacht",  # 3
    "Ёжик в тумане",  # 4
    "ÉCLAIR au chocolat",  # 5
    "C++ logo on a whiteboard",  # 6
    "a cat on a mat",  # 7 (starred)
    "rocket 🚀 launch",  # 8
    "rating ★★★ hotel",  # 9
    "i++ and ++i",  # 10
    "ねこがすきです カタカナ",  # 11 hiragana, katakana
    "한국어 고양이",  # 12 Hangul
    "แมวนอนบนหลังคา",  # 13 Thai: no spaces
    "قطة على السطح",  # 14 Arabic
    "नमस्ते दुनिया",  # 15 Devanagari, with combining vowel signs and a virama
    "thumbs 👍🏽 up",  # 16 an emoji with a skin-tone modifier
    "family 👨\u200d👩\u200d👧 picnic",  # 17 a ZWJ sequence
    "ＦＵＬＬ width",  # 18 full-width Latin
    "cafe\u0301 in NFD",  # 19 "café" stored decomposed
    "Straße in Berlin",  # 20
    "plain thumbs 👍 up",  # 21
    "love ❤\ufe0f heart",  # 22 with the emoji presentation selector
    "क\u093c in NFC",  # 23 a Devanagari composition exclusion (NFC keeps it decomposed)
]
_STARRED = 7


@pytest.fixture(scope="module", params=["fts5", "like"])
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> History:
    history = History(tmp_path_factory.mktemp(request.param), search=request.param)
    for n, prompt in enumerate(_CORPUS):
        history.add(dataclasses.replace(make_image(n), params=FluxParams(prompt=prompt)))
    history.star(history.page(len(_CORPUS) - 1 - _STARRED, 1)[0].stem)
    assert history.index.use_fts is (request.param == "fts5")
    return history


def _found(history: History, where: HistoryFilter) -> list[int]:
    """The corpus numbers of the entries found, in order; count and page agree."""
    records = history.page(0, 100, where)
    assert history.count(where) == len(records)
    return sorted(_CORPUS.index(record.prompt) for record in records)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # CJK: a character, two, three; a Latin word glued to CJK; several terms.
        ("猫", [0]),
        ("屋顶", [0, 2]),
        ("富士山", [1]),
        ("cat", [2, 7]),
        ("CAT", [2, 7]),
        ("猫 屋顶", [0]),
        ("cat 屋顶", [2]),
        ("上的cat和", [2]),
        # Case folding beyond ASCII, in both modes.
        ("ägypten", [3]),
        ("ÄGYPTEN", [3]),
        ("ёжик", [4]),
        ("éclair", [5]),
        ("strasse", [20]),
        ("STRASSE", [20]),
        # Symbols and emoji are terms, matched as written: never "list everything".
        ("🚀", [8]),
        ("++", [6, 10]),
        ("★★★", [9]),
        ("★", [9]),
        ("C++", [6]),
        ("c++ ++", [6]),
        ("%%%", []),
        ("!!", []),
        ("🦄", []),
        # Other scripts.
        ("ねこ", [11]),
        ("カタカナ", [11]),
        ("ｶﾀｶﾅ", [11]),  # half-width katakana
        ("고양이", [12]),
        ("\u1100\u1169\u110b\u1163\u11bc\u110b\u1175", [12]),  # the same word as jamo
        ("한", [12]),
        ("หลังคา", [13]),
        ("แมว", [13]),
        ("السطح", [14]),
        ("قطة", [14]),
        ("ﻗﻄﺔ", [14]),  # Arabic presentation forms
        ("दुनिया", [15]),
        ("नमस्ते", [15]),
        ("\u0958", [23]),  # the precomposed letter finds its NFC (decomposed) form
        # Emoji: a skin tone is part of the term; a ZWJ family is one term.
        ("👍🏽", [16]),
        ("👍", [16, 21]),
        ("👨\u200d👩\u200d👧", [17]),
        ("❤", [22]),
        ("❤\ufe0f", [22]),
        # Full-width Latin, NFC and NFD forms of one word.
        ("full", [18]),
        ("ＷＩＤＴＨ", [18]),
        ("café", [19]),
        ("cafe\u0301", [19]),
    ],
)
def test_search_finds_what_people_type_in_every_script(
    corpus: History, text: str, expected: list[int]
) -> None:
    assert _found(corpus, HistoryFilter(text=text)) == expected


def test_short_and_long_terms_combine_with_the_other_filters(corpus: History) -> None:
    assert _found(corpus, HistoryFilter(text="cat", favourite=True)) == [_STARRED]
    assert _found(corpus, HistoryFilter(text="at", favourite=True)) == [_STARRED]
    assert _found(corpus, HistoryFilter(text="++", favourite=True)) == []
    assert _found(corpus, HistoryFilter(text="mat a", aspect_ratio="1:1")) == [_STARRED]
    assert _found(corpus, HistoryFilter(text="猫", aspect_ratio="16:9")) == []
    day = (_T0 + timedelta(seconds=_STARRED)).astimezone().date()
    assert _STARRED in _found(corpus, HistoryFilter(text="cat", since=day, until=day))


def test_both_modes_answer_as_substrings_of_the_folded_text(corpus: History) -> None:
    """Any piece of any prompt, of any length, in any case: found exactly where it occurs."""
    import random

    from flux_widgets.history.search import search_terms, searchable

    folded = [searchable(prompt) for prompt in _CORPUS]
    pick = random.Random(17)
    for prompt in _CORPUS:
        for _ in range(6):
            start = pick.randrange(len(prompt))
            piece = prompt[start : start + pick.randint(1, 6)]
            piece = piece.upper() if pick.random() < 0.5 else piece
            terms = search_terms(piece)
            expected = [n for n, text in enumerate(folded) if all(t in text for t in terms)]
            assert _found(corpus, HistoryFilter(text=piece)) == expected, piece
