"""Markdown written by users (READMEs, issues, items, blog posts) as HTML that is safe to put in a page.

`render_markdown` parses CommonMark with tables and strikethrough (markdown-it-py, raw HTML passed through
to the sanitizer) and cleans the result with nh3 (ammonia): scripts, event handlers, ``javascript:`` links
and styles go; links get ``rel="noopener noreferrer nofollow"``. `plain_text_words` counts words of the
source for reading times. markdown-it-py is imported by the first rendering, not at start-up.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

import nh3
from markupsafe import Markup

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["ALLOWED_TAGS", "plain_text_words", "render_markdown"]

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "figcaption",
    "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "mark", "ol", "p", "pre", "s",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u",
    "ul",
}  # fmt: skip

ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height", "loading"},
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])


_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")


def render_markdown(source: str) -> Markup:
    """``source`` as sanitized HTML, safe to insert into a template unescaped."""
    html = _parser().render(source)
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(cleaned)


def plain_text_words(source: str) -> int:
    """The number of words in ``source`` (markdown syntax and URLs are not words)."""
    text = re.sub(r"\]\([^)]*\)|https?://\S+|[#*_`>~|\[\]-]+", " ", source)
    return len(_WORD.findall(text))
