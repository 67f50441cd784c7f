"""Who reaches what over SSH: private repos are "not found" to others for every verb, public ones readable by
any key and writable by the owner only, nobody creates under another's name, and the identity is the key
that signed, not the key first offered (GHSA-pchf-49fh-w34r)."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.git.conftest import MakeGitUser, make_commits, run, write_key


async def test_a_private_repo_is_not_found_for_every_verb_by_another_key(
    git_user: MakeGitUser, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    alice = await git_user("alice")
    bob = await git_user("bob")
    await make_commits(alice, tmp_path / "secret")
    assert (await alice.git("push", "-q", alice.url("alice/secret.git"), "main", cwd=tmp_path / "secret")).status == 0

    for command in (
        "git-upload-pack 'alice/secret.git'",
        "git-receive-pack 'alice/secret.git'",
        "git-upload-archive 'alice/secret.git'",
    ):
        refused = await bob.ssh(command)
        missing = await bob.ssh(command.replace("secret", "nothing-here"))
        assert refused.status == missing.status == 1
        assert refused.stderr.replace("secret", "X") == missing.stderr.replace("nothing-here", "X")
        assert "repository not found: alice/secret" in refused.stderr
    cloned = await bob.git("clone", "-q", bob.url("alice/secret.git"), str(tmp_path / "stolen"))
    assert cloned.status != 0
    assert "repository not found" in cloned.stderr
    assert not (tmp_path / "stolen").exists()


async def test_a_public_repo_is_readable_by_any_key_and_writable_by_its_owner(
    git_user: MakeGitUser, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    alice = await git_user("alice")
    bob = await git_user("bob")
    work = tmp_path / "lib"
    head = await make_commits(alice, work)
    assert (await alice.git("push", "-q", alice.url("alice/lib"), "main", cwd=work)).status == 0
    await pool.execute("UPDATE git_repos SET is_private = false WHERE name = 'lib'")

    clone = tmp_path / "bobs-clone"
    cloned = await bob.git("clone", "-q", bob.url("alice/lib.git"), str(clone))
    assert cloned.status == 0, cloned.stderr
    assert (await bob.git("rev-parse", "HEAD", cwd=clone)).stdout.strip() == head
    await make_commits(bob, clone)
    pushed = await bob.git("push", "origin", "main", cwd=clone)
    assert pushed.status != 0
    assert "bob may not push to alice/lib: only its owner may" in pushed.stderr
    refs = await alice.git("ls-remote", alice.url("alice/lib"))
    assert refs.stdout.split()[0] == head


async def test_nobody_creates_a_repo_under_another_name(
    git_user: MakeGitUser, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await git_user("alice")
    bob = await git_user("bob")
    work = tmp_path / "intruder"
    await make_commits(bob, work)
    pushed = await bob.git("push", bob.url("alice/intruder.git"), "main", cwd=work)
    assert pushed.status != 0
    assert "repository not found: alice/intruder" in pushed.stderr
    nobody = await bob.git("push", bob.url("nobody/intruder.git"), "main", cwd=work)
    assert nobody.status != 0
    assert await pool.fetchval("SELECT count(*) FROM git_repos") == 0


async def test_offering_the_owners_public_key_then_signing_with_ones_own_gets_nothing_of_the_owners(
    git_user: MakeGitUser, tmp_path: Path
) -> None:
    """Regression test for the Soft Serve advisory: the identity is bound to the key that signed."""
    alice = await git_user("alice")
    await make_commits(alice, tmp_path / "secret")
    assert (await alice.git("push", "-q", alice.url("alice/secret"), "main", cwd=tmp_path / "secret")).status == 0
    mallory = await git_user("mallory")
    # Only alice's *public* key: ssh offers it (the server says "yes, I would accept it"), cannot sign with it,
    # and goes on to mallory's own key, which signs.
    public_only = tmp_path / "alice-public-only"
    public_only.write_text(alice.key_path.with_suffix(".pub").read_text())
    greeting = await mallory.ssh(identities=(public_only,))
    assert "Hi mallory!" in greeting.stderr
    stolen = await mallory.ssh("git-upload-pack 'alice/secret.git'", identities=(public_only,))
    assert stolen.status == 1
    assert "repository not found: alice/secret" in stolen.stderr
    pushed = await mallory.ssh("git-receive-pack 'alice/secret.git'", identities=(public_only,))
    assert "repository not found" in pushed.stderr


async def test_a_suspended_accounts_keys_open_nothing(
    git_user: MakeGitUser, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    alice = await git_user("alice")
    await pool.execute("UPDATE users SET suspended_at = now() WHERE id = $1", alice.user_id)
    answer = await alice.ssh()
    assert answer.status == 255
    assert "Permission denied (publickey)" in answer.stderr


async def test_password_and_keyboard_interactive_are_not_offered(git_user: MakeGitUser, tmp_path: Path) -> None:
    alice = await git_user("alice")
    nokey = tmp_path / "nokey"
    write_key(nokey)
    args = [a for a in alice.ssh_args() if a not in {str(alice.key_path)}]
    args.remove("-i")
    answer = await run(
        *args, "-i", str(nokey), "-o", "PreferredAuthentications=password,keyboard-interactive", "git@127.0.0.1"
    )
    assert answer.status == 255
    assert "Permission denied (publickey)" in answer.stderr
