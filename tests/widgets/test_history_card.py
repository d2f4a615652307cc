"""HistoryCard: one word for the one mark. A *starred* image is what the browser's "starred"
filter shows; the card's star button and its hover text say exactly that, and no other word
("favourite", "kept") stands for it where a person reads."""

from __future__ import annotations

from pathlib import Path

from factories import make_image

from flux_widgets.history.store import History
from flux_widgets.widgets.history_browser import HistoryBrowser
from flux_widgets.widgets.history_card import HistoryCard


def _words(card: HistoryCard) -> str:
    return f"{card.star.description} {card.star.tooltip}".lower()


def test_the_star_button_says_starred_and_what_the_filter_shows() -> None:
    card = HistoryCard(128)
    assert card.star.description == "star"
    assert "the starred filter shows it" in card.star.tooltip
    card.show_star(True)
    assert card.star.description == "starred"
    assert card.star.tooltip == "starred: click to take the star away"
    card.show_star(False)
    assert card.star.description == "star" and card.star.icon == "star-o"


async def test_star_and_starred_filter_use_one_word_and_no_other(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.add(make_image(1))
    browser = HistoryBrowser(history, page_size=4)
    await browser.reload()
    await browser.wait()
    [card] = [c for c in browser.cards if c.record is not None]
    texts = [
        _words(card),
        f"{browser.favourites.description} {browser.favourites.tooltip}".lower(),
    ]
    card.star.click()
    await browser.wait()
    texts.append(_words(card))
    for text in texts:
        assert "star" in text, text
        assert "favourite" not in text and "favorite" not in text and "kept" not in text, text
    assert browser.favourites.description == "starred"
    browser.close()
