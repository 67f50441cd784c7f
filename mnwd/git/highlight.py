"""Syntax highlighting of a file for the /source/ browser, one HTML fragment per line (for line anchors).

`highlight_lines(filename, text)` picks a pygments lexer by file name (then by content, then plain text)
and returns a list of `Markup`, one per source line, each holding escaped text in ``<span class="…">``
tokens; a token that spans lines (a docstring) is split so every line stands alone. Files bigger than
`HIGHLIGHT_MAX_BYTES` or longer than `HIGHLIGHT_MAX_LINES` are returned as escaped plain lines: the lexers
are regex-driven and some are slow on pathological input. `stylesheet()` is the pygments CSS, scoped to
``.hl`` with a dark variant under ``prefers-color-scheme: dark``.
"""

from __future__ import annotations

import contextlib
from functools import cache

from markupsafe import Markup, escape
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename, guess_lexer
from pygments.token import STANDARD_TYPES, _TokenType
from pygments.util import ClassNotFound

__all__ = [
    "HIGHLIGHT_MAX_BYTES",
    "HIGHLIGHT_MAX_LINES",
    "highlight_lines",
    "language_name",
    "plain_lines",
    "stylesheet",
]

HIGHLIGHT_MAX_BYTES = 256 * 1024
HIGHLIGHT_MAX_LINES = 10_000


def _lexer_for(filename: str, text: str) -> Lexer:
    """By the file's name, else by a shebang line, else plain text."""
    with contextlib.suppress(ClassNotFound):
        return get_lexer_for_filename(filename, stripnl=False, ensurenl=False)
    if text.startswith("#!"):
        with contextlib.suppress(ClassNotFound):
            return guess_lexer(text[:4096], stripnl=False, ensurenl=False)
    return TextLexer(stripnl=False, ensurenl=False)


def language_name(filename: str) -> str:
    try:
        return str(get_lexer_for_filename(filename).name)
    except ClassNotFound:
        return "Text"


@cache
def _css_class(ttype: _TokenType) -> str:
    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
    css: str = STANDARD_TYPES[ttype]
    return css


def plain_lines(text: str) -> list[Markup]:
    return [escape(line) for line in text.split("\n")]


def highlight_lines(filename: str, text: str) -> list[Markup]:
    """One fragment per line of ``text`` (a final newline does not make an empty last line)."""
    if text.endswith("\n"):
        text = text[:-1]
    if len(text) > HIGHLIGHT_MAX_BYTES or text.count("\n") >= HIGHLIGHT_MAX_LINES:
        return plain_lines(text)
    lexer = _lexer_for(filename, text)
    if isinstance(lexer, TextLexer):
        return plain_lines(text)
    lines: list[Markup] = []
    current: list[str] = []
    for ttype, value in lexer.get_tokens(text):
        css = _css_class(ttype)
        pieces = value.split("\n")
        for index, piece in enumerate(pieces):
            if index:
                lines.append(Markup("".join(current)))
                current = []
            if piece:
                escaped = str(escape(piece))
                current.append(f'<span class="{css}">{escaped}</span>' if css else escaped)
    lines.append(Markup("".join(current)))
    # Lexers may add a trailing newline of their own.
    while len(lines) > text.count("\n") + 1 and not lines[-1]:
        lines.pop()
    return lines


@cache
def stylesheet() -> str:
    light = HtmlFormatter(style="default").get_style_defs(".hl")
    dark = HtmlFormatter(style="monokai").get_style_defs(".hl")
    # The page sets the background; pygments' own would fight the site's light and dark modes.
    light = "\n".join(line for line in light.splitlines() if not line.startswith(".hl {") and "pre {" not in line)
    dark = "\n".join(line for line in dark.splitlines() if not line.startswith(".hl {") and "pre {" not in line)
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
