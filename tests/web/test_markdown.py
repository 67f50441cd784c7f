from mnwd.web.markdown import plain_text_words, render_markdown


def test_markdown_renders_commonmark_and_tables() -> None:
    html = render_markdown("# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~ **bold**")
    assert "<h1>Title</h1>" in html
    assert "<td>1</td>" in html
    assert "<s>gone</s>" in html
    assert "<strong>bold</strong>" in html


def test_markdown_strips_scripts_handlers_and_javascript_links() -> None:
    html = render_markdown(
        '<script>alert(1)</script>\n\n<img src="x" onerror="alert(2)">\n\n[click](javascript:alert(3))'
        '\n\n<a href="https://example.com" onclick="x()">ok</a>'
    )
    assert "<script" not in html
    assert "alert(1)" not in html
    assert "onerror" not in html
    assert 'href="javascript' not in html
    assert "onclick" not in html
    assert 'href="https://example.com"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_word_count_ignores_markup_and_urls() -> None:
    assert plain_text_words("# Hello *there* [link text](https://example.com/a-b) don't") == 5
    assert plain_text_words("") == 0
