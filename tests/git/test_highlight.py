"""Highlighting stays one fragment per line, escaped, and gives up on what is too big to lex."""

from __future__ import annotations

import pytest

from mnwd.errors import BadRequest
from mnwd.git import highlight
from mnwd.git.browse import is_binary
from mnwd.git.listing import breadcrumbs, clean_path, human_size


def test_a_token_spanning_lines_is_split_per_line() -> None:
    lines = highlight.highlight_lines("a.py", 'x = """one\ntwo <b>\nthree"""\ny = 1\n')
    assert len(lines) == 4
    assert '<span class="s2">two &lt;b&gt;</span>' in lines[1]
    assert "<b>" not in "".join(lines)
    assert '<span class="n">y</span>' in lines[3]


def test_unknown_and_huge_files_are_plain_escaped_text() -> None:
    assert highlight.highlight_lines("notes.unknownext", "a <i>\nb") == ["a &lt;i&gt;", "b"]
    big = "x = 1\n" * (highlight.HIGHLIGHT_MAX_LINES + 1)
    lines = highlight.highlight_lines("a.py", big)
    assert lines[0] == "x = 1"
    assert len(lines) == highlight.HIGHLIGHT_MAX_LINES + 1
    assert highlight.highlight_lines("a.py", "") == [""]


def test_binary_sniffing() -> None:
    assert is_binary(b"abc\0def")
    assert is_binary(b"\xff\xfe\xfd" * 10)
    assert not is_binary("héllo".encode())
    # A multi-byte character cut at the sniff boundary is still text.
    assert not is_binary(("a" * 7999 + "é").encode()[:8000] + b"tail")


@pytest.mark.parametrize("raw", ["a/../b", "..", "a/./b", "a//b", "a\0b", "a\x01b", "x" * 5000])
def test_clean_path_refuses(raw: str) -> None:
    with pytest.raises(BadRequest):
        clean_path(raw)


def test_clean_path_breadcrumbs_and_sizes() -> None:
    assert clean_path("/src/app.py/") == "src/app.py"
    assert clean_path("") == ""
    assert [c.path for c in breadcrumbs("a/b/c")] == ["a", "a/b", "a/b/c"]
    assert human_size(10) == "10 bytes"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(3 << 30) == "3.0 GiB"
