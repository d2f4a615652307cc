"""Where dynamic-prompts' grammar and plain prompt text disagree, and the one parse of a template.

The grammar reads ``#`` as the start of a comment (a hashtag would silently cut the prompt) and
refuses a ``$`` or ``%`` not followed by ``{`` ("$5", "50%"). Such characters stand in as
private-use characters while the library parses (``protect``), and are put back in every prompt
(``restore``). ``${var}``, ``%{wrap}`` and a variant's ``{2$$a|b}`` bound keep their meaning.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import TemplateError

if TYPE_CHECKING:
    from dynamicprompts.commands import Command

_PROTECTED = {"#": "\ue000", "$": "\ue001", "%": "\ue002"}
_PROTECT = re.compile(r"#|%(?!\{)|(?<!\$)\$(?![{$])")
_RESTORE = str.maketrans({v: k for k, v in _PROTECTED.items()})
TEMPLATE_MARKS = re.compile(r"[{}]|__")
"""Text without these is plain: sent exactly as typed, never parsed."""


def protect(text: str) -> str:
    """``text`` with the characters the library would misread replaced (see above)."""
    return _PROTECT.sub(lambda m: _PROTECTED[m.group(0)], text)


def restore(text: str) -> str:
    """``text`` with the protected characters put back."""
    return text.translate(_RESTORE)


def parse_template(text: str, *, where: str) -> Command:
    """The parse tree of ``text`` (protected first); ``TemplateError`` names ``where`` and the
    character at fault when the grammar refuses it."""
    from dynamicprompts.commands import LiteralCommand
    from dynamicprompts.parser.parse import parse
    from pyparsing import ParseBaseException

    protected = protect(text)
    if not TEMPLATE_MARKS.search(protected):
        return LiteralCommand(protected)  # what the grammar makes of it, 1,000 times faster
    try:
        return parse(protected)
    except ParseBaseException as error:
        raise TemplateError(
            f"{where}: {error.msg} at character {error.loc + 1} of {restore(text)!r} "
            "(every { needs its }, and | separates the choices inside)"
        ) from None
