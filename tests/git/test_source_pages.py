"""The /source/ browser over HTTP: repo lists, tree, file, raw, log, commit, refs; private repos; bad paths."""

from __future__ import annotations

import re

from yarl import URL

from tests.git.repos_fixture import MakeGitRepo, commit_files, git, make_git_repo, push
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser

__all__ = ["make_git_repo"]

README = "# Hello\n\nSome *words* and <script>alert(1)</script> [x](javascript:alert(1)).\n"
PY = 'def greet(name):\n    """Say hello."""\n    return f"hi {name}"\n'


async def test_repo_home_shows_tree_readme_and_last_commit(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    await make_git_repo(ada, "hello", {"README.md": README, "src/app.py": PY}, message="Start the project")
    page = await browser.get("/source/ada/hello")
    assert page.status == 200, page.text
    assert page.has("Start the project")
    assert 'href="/source/ada/hello/tree/main/src">src/</a>' in page.text
    assert 'href="/source/ada/hello/blob/main/README.md">README.md</a>' in page.text
    assert "<em>words</em>" in page.text
    assert "<script>alert(1)" not in page.text
    assert 'href="javascript' not in page.text
    assert page.has("git clone ssh://git@localhost:")
    assert page.has("/ada/hello.git")


async def test_tree_file_and_line_anchors(browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo) -> None:
    ada = await make_user("ada")
    await make_git_repo(ada, "hello", {"README.md": README, "src/app.py": PY})
    tree = await browser.get("/source/ada/hello/tree/main/src")
    assert tree.status == 200
    assert 'href="/source/ada/hello/blob/main/src/app.py">app.py</a>' in tree.text
    blob = await browser.get("/source/ada/hello/blob/main/src/app.py")
    assert blob.status == 200
    assert 'id="L1"' in blob.text
    assert 'href="#L3"' in blob.text
    assert '<span class="k">def</span>' in blob.text
    assert "3 lines · Python" in blob.text
    # A file path under tree/ and a directory under blob/ are not found.
    assert (await browser.get("/source/ada/hello/tree/main/src/app.py")).status == 404
    assert (await browser.get("/source/ada/hello/blob/main/src")).status == 404
    assert (await browser.get("/source/ada/hello/blob/main/nope.txt")).status == 404
    assert (await browser.get("/source/ada/hello/tree/nobranch")).status == 404


async def test_raw_is_plain_text_and_html_is_never_rendered(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    html = "<html><script>alert(1)</script></html>\n"
    await make_git_repo(ada, "hello", {"page.html": html, "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0"})
    async with browser.client.get("/source/ada/hello/raw/main/page.html") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert await response.text() == html
    async with browser.client.get("/source/ada/hello/raw/main/logo.png") as response:
        assert response.headers["Content-Type"] == "image/png"
        assert await response.read() == b"\x89PNG\r\n\x1a\n\0\0\0"


async def test_binary_and_huge_files_are_not_shown_inline(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    big = "x" * 100 + "\n"
    await make_git_repo(ada, "hello", {"data.bin": b"\0\1\2\3" * 100, "big.txt": big * 12_000})
    binary = await browser.get("/source/ada/hello/blob/main/data.bin")
    assert binary.status == 200
    assert binary.has("This is a binary file (400 bytes)")
    assert 'id="L1"' not in binary.text
    huge = await browser.get("/source/ada/hello/blob/main/big.txt")
    assert huge.status == 200
    assert huge.has("This file is too large to show here (1.2 MiB)")
    assert 'href="/source/ada/hello/raw/main/big.txt">View raw</a>' in huge.text
    async with browser.client.get("/source/ada/hello/raw/main/big.txt") as response:
        assert response.headers["Content-Length"] == str(101 * 12_000)
        assert len(await response.read()) == 101 * 12_000


async def test_branches_tags_log_pagination_and_commit_diff(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    _, work = await make_git_repo(ada, "hello", {"a.txt": "one\n"})
    for index in range(35):
        commit_files(work, {"a.txt": f"line {index}\n"}, f"Change number {index}")
    git(work, "tag", "-a", "v1.0", "-m", "release")
    git(work, "checkout", "-q", "-b", "feature/x")
    last = commit_files(work, {"b.txt": "new file\n"}, "Add b on a branch")
    push(work, "main", "feature/x", "v1.0")

    refs = await browser.get("/source/ada/hello/refs")
    assert 'href="/source/ada/hello/tree/feature/x">feature/x</a>' in refs.text
    assert 'href="/source/ada/hello/tree/v1.0">v1.0</a>' in refs.text
    # A ref holding a slash, then a path.
    branch = await browser.get("/source/ada/hello/blob/feature/x/b.txt")
    assert branch.status == 200
    assert branch.has("new file")
    tag = await browser.get("/source/ada/hello/tree/v1.0")
    assert tag.status == 200
    assert "b.txt" not in tag.text

    first = await browser.get("/source/ada/hello/commits/main")
    assert first.status == 200
    assert first.text.count('class="commit-row"') == 30
    assert first.has("Change number 34")
    assert not first.has("First commit")
    assert 'href="?page=2"' in first.text
    second = await browser.get("/source/ada/hello/commits/main?page=2")
    assert second.text.count('class="commit-row"') == 6
    assert second.has("First commit")
    assert 'rel="next"' not in second.text
    assert (await browser.get("/source/ada/hello/commits/main?page=x")).status == 200
    assert (await browser.get("/source/ada/hello/commits", follow=False)).location == "/source/ada/hello/commits/main"
    file_log = await browser.get("/source/ada/hello/commits/feature/x/b.txt")
    assert file_log.text.count('class="commit-row"') == 1

    commit = await browser.get(f"/source/ada/hello/commit/{last}")
    assert commit.status == 200
    assert commit.has("Add b on a branch")
    assert '<span class="add">+new file</span>' in commit.text
    short = await browser.get(f"/source/ada/hello/commit/{last[:8]}")
    assert short.status == 200
    assert (await browser.get("/source/ada/hello/commit/" + "0" * 40)).status == 404
    assert (await browser.get("/source/ada/hello/commit/not-a-sha")).status == 404


async def test_empty_repo_tells_the_owner_how_to_push(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    await make_git_repo(ada, "blank")
    page = await browser.get("/source/ada/blank")
    assert page.status == 200
    assert page.has("This repository is empty")
    await sign_in(browser, "ada")
    owner = await browser.get("/source/ada/blank")
    match = re.search(r"git remote add origin (ssh://git@localhost:(\d+)/ada/blank\.git)", owner.text)
    assert match, owner.text
    assert (await browser.get("/source/ada/blank/commits/main")).status == 404


async def test_private_repo_is_not_found_for_others(
    browser: Browser, other_browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    await make_user("bob")
    await make_git_repo(ada, "secret", {"s.txt": "secret\n"}, private=True)
    await make_git_repo(ada, "open", {"o.txt": "open\n"})
    await sign_in(other_browser, "bob")
    for who in (browser, other_browser):
        for path in ("", "/tree/main", "/blob/main/s.txt", "/raw/main/s.txt", "/commits/main", "/refs"):
            page = await who.get(f"/source/ada/secret{path}")
            assert page.status == 404, path
            assert "secret\n" not in page.text
        listing = await who.get("/source/ada")
        assert "ada/open" in listing.text
        assert "ada/secret" not in listing.text
    await sign_in(browser, "ada")
    assert (await browser.get("/source/ada/secret/blob/main/s.txt")).status == 200
    assert "ada/secret" in (await browser.get("/source/ada")).text
    assert "ada/secret" in (await browser.get("/source/")).text
    assert (await browser.get("/source/nobody")).status == 404
    assert (await browser.get("/source/ada/none")).status == 404


async def test_bad_paths_are_refused(browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo) -> None:
    ada = await make_user("ada")
    await make_git_repo(ada, "hello", {"a.txt": "a\n"})
    for path in ("main/%2e%2e/a.txt", "main/%2e/a.txt", "main//a.txt", "main/a%00.txt", "main/a%01"):
        url = URL(f"/source/ada/hello/blob/{path}", encoded=True)
        async with browser.client.get(url, headers=browser.headers) as response:
            assert response.status == 400, (path, await response.text())
    nul = URL("/source/ada/hello/blob/main/a%00.txt", encoded=True)
    async with browser.client.get(nul, headers={"Accept": "application/json"}) as response:
        assert (await response.json())["type"].endswith("/nul-character")
    assert (await browser.get("/source/ada/hello.git", follow=False)).location == "/source/ada/hello"


async def test_blame_names_the_commit_of_each_line(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    _, work = await make_git_repo(ada, "hello", {"a.py": "one = 1\ntwo = 2\n", "b.bin": b"\0\1"})
    second = commit_files(work, {"a.py": "one = 1\ntwo = 22\nthree = 3\n"}, "Change two, add three")
    push(work, "main")
    page = await browser.get("/source/ada/hello/blame/main/a.py")
    assert page.status == 200
    rows = re.findall(r'<tr id="L(\d)"( class="blame-start")?>', page.text)
    assert rows == [("1", ' class="blame-start"'), ("2", ' class="blame-start"'), ("3", "")]
    assert f'href="/source/ada/hello/commit/{second}" title="Change two, add three"' in page.text
    assert page.has("Ada Lovelace")
    assert '<span class="n">three</span>' in page.text
    assert (await browser.get("/source/ada/hello/blame/main/b.bin")).has("binary, empty or too large to blame")
    assert (await browser.get("/source/ada/hello/blame/main/nope")).status == 404
    assert (await browser.get("/source/ada/hello/blame/main")).status == 404
    assert (
        'href="/source/ada/hello/blame/main/a.py">Blame</a>'
        in (await browser.get("/source/ada/hello/blob/main/a.py")).text
    )


async def test_each_entry_shows_the_last_commit_that_changed_it(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    _, work = await make_git_repo(ada, "hello", {"a.txt": "a\n", "b.txt": "b\n", "src/x.py": "x = 1\n"})
    commit_files(work, {"b.txt": "b2\n"}, "Change b")
    commit_files(work, {"src/y.py": "y = 1\n"}, "Add y in src")
    commit_files(work, {"a.txt": "a\n"}, "Touch nothing")
    push(work, "main")

    def last_commits(html: str) -> dict[str, str]:
        rows = re.findall(r'<tr class="entry entry-\w+">(.*?)</tr>', html, re.DOTALL)
        found = {}
        for row in rows:
            name = re.search(r">([^<>]+?)/?</a>", row)
            summary = re.search(r'class="muted-link"[^>]*>([^<]*)</a>', row)
            assert name
            found[name.group(1)] = summary.group(1) if summary else ""
        return found

    root = await browser.get("/source/ada/hello")
    assert last_commits(root.text) == {"src": "Add y in src", "a.txt": "First commit", "b.txt": "Change b"}
    src = await browser.get("/source/ada/hello/tree/main/src")
    assert last_commits(src.text) == {"x.py": "First commit", "y.py": "Add y in src"}


async def test_history_of_a_file_named_like_pathspec_magic_is_only_its_own(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    _, work = await make_git_repo(ada, "hello", {"a.txt": "a\n", ":(glob)*.txt": "magic\n"})
    commit_files(work, {"a.txt": "a2\n"}, "Change a")
    push(work, "main")
    magic = await browser.get("/source/ada/hello/commits/main/%3A%28glob%29%2A.txt")
    assert magic.status == 200
    assert magic.text.count('class="commit-row"') == 1
    assert not magic.has("Change a")
    assert (await browser.get("/source/ada/hello/blob/main/%3A%28glob%29%2A.txt")).has("magic")
