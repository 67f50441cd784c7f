"""The SSH command line a client sends, read without a shell: only git's three services on one
``owner/name[.git]`` path pass."""

from __future__ import annotations

import pytest

from mnwd.git.service import Refused, parse_command


@pytest.mark.parametrize(
    ("command", "parsed"),
    [
        ("git-upload-pack 'alice/site.git'", ("git-upload-pack", "alice", "site")),
        ("git-upload-pack '/alice/site.git'", ("git-upload-pack", "alice", "site")),
        ("git-receive-pack 'alice/site'", ("git-receive-pack", "alice", "site")),
        ("git-upload-archive 'alice/my.site_v2-x.git'", ("git-upload-archive", "alice", "my.site_v2-x")),
        ("git upload-pack 'alice/site.git'", ("git-upload-pack", "alice", "site")),
        ("git-upload-pack alice/site/", ("git-upload-pack", "alice", "site")),
    ],
)
def test_git_services_on_one_repo_path_pass(command: str, parsed: tuple[str, str, str]) -> None:
    assert parse_command(command) == parsed


@pytest.mark.parametrize(
    "command",
    [
        "",
        "sh",
        "git-upload-pack",
        "git-upload-pack 'alice/site' extra",
        "git-upload-pack '../x'",
        "git-upload-pack 'alice/../bob/x'",
        "git-upload-pack 'a/b/c'",
        "git-upload-pack 'alice/.git'",
        "git-upload-pack 'alice/site.git.git'",
        "git-upload-pack 'alice/.hidden'",
        "git-upload-pack 'alice/si te'",
        "git-upload-pack 'alice/site;rm -rf /'",
        'git-upload-pack "alice/$(id)"',
        "git-upload-pack 'alice/site\nx'",
        "git-upload-pack '" + "a" * 65 + "/x'",
        "git-upload-pack 'alice/" + "x" * 101 + "'",
        "git-upload-pack '''; rm",
        "git-shell -c 'git-upload-pack alice/site'",
        "scp -t /tmp",
    ],
)
def test_everything_else_is_refused_with_one_line(command: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_command(command)
    message = str(refused.value)
    assert message.startswith("mnwd: ")
    assert "\n" not in message
    assert len(message) < 300
