"""What a person reads of a widget's HTML: the text, without tags and without the hover text
(``title``), where a technical detail may sit on purpose (``wording.describe_error``)."""

from __future__ import annotations

from html.parser import HTMLParser


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(markup: str) -> str:
    """The text of ``markup`` as shown: tags and attributes dropped, entities decoded."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def hover_text(markup: str) -> list[str]:
    """Every ``title`` (tooltip) in ``markup``, decoded."""
    titles: list[str] = []

    class _Titles(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            titles.extend(value for name, value in attrs if name == "title" and value)

    _Titles(convert_charrefs=True).feed(markup)
    return titles
