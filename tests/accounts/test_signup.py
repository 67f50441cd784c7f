from __future__ import annotations

import re

import asyncpg
import pytest

from mnwd.config import Config
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.support.accounts import PASSWORD, MakeUser
from tests.support.browser import Browser
from tests.support.outbound import run_jobs


def signup_form(username: str = "alice", email: str = "alice@example.org", password: str = PASSWORD) -> dict[str, str]:
    return {"username": username, "email": email, "password": password, "password_confirm": password}


async def test_sign_up_creates_the_account_signs_in_and_mails_a_verification_link(
    browser: Browser, pool: asyncpg.Pool, config: Config, services: Services
) -> None:
    page = await browser.submit("/signup", "/signup", signup_form(username="Alice_1"))
    assert page.status == 303
    assert page.location == "/settings?saved=signed-up"
    row = await pool.fetchrow("SELECT username, email, password_hash, email_verified FROM users")
    assert row["username"] == "alice_1"
    assert row["password_hash"].startswith("$argon2id$")
    assert not row["email_verified"]
    settings = await browser.get("/settings")
    assert settings.status == 200
    assert settings.has("@alice_1")
    assert read_outbox(config.data_dir / "outbox") == []  # the mail is a job, run after the commit
    assert await run_jobs(services) == 1
    [mail] = read_outbox(config.data_dir / "outbox")
    assert mail["To"] == "alice@example.org"
    body = mail.get_body().get_content()
    link = next(line for line in body.splitlines() if "/verify-email/" in line).strip()
    path = link.removeprefix(config.base_url)
    confirm = await browser.get(path)
    assert confirm.has("Confirm the email of @alice_1")
    done = await browser.post(path, {"csrf_token": confirm.csrf})
    assert done.status == 200
    assert done.has("Email confirmed")
    assert await pool.fetchval("SELECT email_verified FROM users") is True
    again = await browser.post(path, {"csrf_token": confirm.csrf})
    assert again.status == 410
    assert again.has("already used")


async def test_the_link_copied_from_the_raw_outbox_file_confirms_the_address(
    browser: Browser, pool: asyncpg.Pool, config: Config, services: Services
) -> None:
    """What a developer does without SMTP: open the .eml in a text editor and copy the link. Quoted-printable
    used to wrap it (``=`` at the end of a line, ``=3D`` inside), and the copy was not a working link."""
    await browser.submit("/signup", "/signup", signup_form())
    await run_jobs(services)
    [path] = (config.data_dir / "outbox").glob("*.eml")
    links = re.findall(r"https?://\S+", path.read_text())
    [link] = [link for link in links if "/verify-email/" in link]
    path_only = link.removeprefix(config.base_url)
    assert path_only.startswith("/verify-email/")
    confirm = await browser.get(path_only)
    assert confirm.has("Confirm the email of @alice")
    done = await browser.post(path_only, {"csrf_token": confirm.csrf})
    assert done.has("Email confirmed")
    assert await pool.fetchval("SELECT email_verified FROM users") is True


async def test_every_sign_up_problem_is_shown_at_once_and_the_first_field_has_the_focus(browser: Browser) -> None:
    """The passwords differing used to be checked first and alone: fix it, submit, and meet the next problem."""
    page = await browser.submit(
        "/signup",
        "/signup",
        {"username": "admin", "email": "not-an-email", "password": "short", "password_confirm": "other"},
    )
    assert page.status == 422
    for field, message in [
        ("username", "reserved"),
        ("email", "Enter one email address"),
        ("password", "at least 10 characters"),
        ("password_confirm", "The two passwords differ."),
    ]:
        assert re.search(rf'id="{field}-error">[^<]*{message}', page.text), field
    assert re.search(r'id="username"[^>]*autofocus', page.text)
    assert len(re.findall("autofocus", page.text)) == 1


async def test_a_taken_username_is_reported_with_the_other_problems(browser: Browser, make_user: MakeUser) -> None:
    await make_user("alice")
    page = await browser.submit(
        "/signup", "/signup", {**signup_form(email="new@example.org"), "password_confirm": "something else"}
    )
    assert page.has("This username is taken.")
    assert page.has("The two passwords differ.")
    assert re.search(r'id="username"[^>]*autofocus', page.text)


async def test_after_sign_up_the_settings_page_says_to_check_the_mail(browser: Browser) -> None:
    page = await browser.submit("/signup", "/signup", signup_form())
    assert page.location == "/settings?saved=signed-up"
    settings = await browser.get(page.location)
    assert settings.has("Check your mail: we sent a link to alice@example.org to confirm the address.")


async def test_the_sign_up_page_promises_no_profile_page(browser: Browser) -> None:
    assert not (await browser.get("/signup")).has("/@")


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (signup_form(username="a"), "username", "Use 2 to 39 lowercase letters"),
        (signup_form(username="bad name"), "username", "Use 2 to 39 lowercase letters"),
        (signup_form(username="x" * 40), "username", "Use 2 to 39 lowercase letters"),
        (signup_form(username="admin"), "username", "reserved"),
        (signup_form(username="oauth"), "username", "reserved"),
        (signup_form(email="not-an-email"), "email", "Enter one email address"),
        (signup_form(email="a@b"), "email", "Enter one email address"),
        (signup_form(email="Alice <alice@example.org>"), "email", "Enter one email address"),
        (signup_form(password="short"), "password", "at least 10 characters"),
        (signup_form(password="x" * 10 * 1024), "password", "at most 256 characters"),
        (signup_form(password="1234567890"), "password", "too easy to guess"),
        (signup_form(password="aaaaaaaaaaaa"), "password", "too easy to guess"),
        (signup_form(password="alice-password"), "password", "must not contain your username"),
        (signup_form(password="StartFinding"), "password", "too easy to guess"),
        (signup_form(password="1q2w3e4r5t6y7u8i9o0p"), "password", "too easy to guess"),
        (signup_form(username="ann", email="x@example.org", password="ann-is-great-2026"), "password", "username"),
        (signup_form(username="ann", email="x@example.org", password="I am ANN 2026!"), "password", "username"),
        ({**signup_form(), "password_confirm": "something else 123"}, "password_confirm", "differ"),
        ({"csrf_token": ""}, "username", "Use 2 to 39"),
    ],
)
async def test_bad_sign_up_input_is_answered_per_field(
    browser: Browser, pool: asyncpg.Pool, form: dict[str, str], field: str, message: str
) -> None:
    page = await browser.submit("/signup", "/signup", form)
    assert page.status == 422
    assert page.has(message)
    assert f'id="{field}-error"' in page.text
    assert await pool.fetchval("SELECT count(*) FROM users") == 0


async def test_a_taken_username_is_refused_whatever_the_case(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    """Usernames are public (profile pages), so saying one is taken tells nothing secret."""
    await make_user("alice")
    page = await browser.submit("/signup", "/signup", signup_form(username="ALICE", email="other@example.org"))
    assert page.status == 422
    assert page.has("This username is taken.")
    assert await pool.fetchval("SELECT count(*) FROM users") == 1


@pytest.mark.parametrize("username", ["bob", "alice"])
async def test_sign_up_with_a_taken_email_does_not_say_so_and_mails_its_owner(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool, config: Config, services: Services, username: str
) -> None:
    """Attack (account enumeration): sign up with someone's address to learn whether it has an account. The
    page answered "This email is taken"; now it says to check the mail, creates nothing, signs nobody in, and
    mails the address's owner. With the username taken too, only the username is reported."""
    await make_user("alice")
    page = await browser.submit("/signup", "/signup", signup_form(username=username, email="Alice@Example.ORG"))
    assert not page.has("email is taken")
    assert not page.has("Alice@Example.ORG is taken")
    if username == "alice":
        assert page.status == 422
        assert page.has("This username is taken.")
        assert read_outbox(config.data_dir / "outbox") == []
    else:
        assert page.status == 200
        assert page.has("Check your email")
        await run_jobs(services)
        [mail] = read_outbox(config.data_dir / "outbox")
        assert mail["To"] == "alice@example.org"
        assert "tried to create a new mnwd account" in mail.get_body().get_content()
    assert await pool.fetchval("SELECT count(*) FROM users") == 1
    assert await pool.fetchval("SELECT count(*) FROM user_sessions") == 0
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind <> 'outbound.send'") == 0


async def test_sign_up_notices_to_one_address_are_few(
    browser: Browser, make_user: MakeUser, config: Config, services: Services
) -> None:
    await make_user("alice")
    for n in range(5):
        page = await browser.submit("/signup", "/signup", signup_form(username=f"bob{n}", email="alice@example.org"))
        assert page.status == 200
    await run_jobs(services)
    assert len(read_outbox(config.data_dir / "outbox")) == 3


async def test_sign_up_is_rate_limited_per_address(browser: Browser, pool: asyncpg.Pool) -> None:
    for n in range(10):
        page = await browser.submit("/signup", "/signup", signup_form(username=f"user{n}", email=f"u{n}@example.org"))
        assert page.status == 303
        await browser.post("/logout", {"csrf_token": (await browser.get("/settings")).csrf})
    page = await browser.submit("/signup", "/signup", signup_form(username="user10", email="u10@example.org"))
    assert page.status == 429
    assert int(page.headers["Retry-After"]) > 0
    assert await pool.fetchval("SELECT count(*) FROM users") == 10


async def test_the_verification_mail_is_queued_with_the_account_and_survives_a_failed_send(
    browser: Browser, pool: asyncpg.Pool, config: Config, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mail is a durable job written in the sign-up's transaction: a refused sign-up queues nothing, and a
    send that fails (SMTP down) is retried instead of lost."""
    refused = await browser.submit("/signup", "/signup", signup_form(password="short"))
    assert refused.status == 422
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 0

    await browser.submit("/signup", "/signup", signup_form())
    job = await pool.fetchrow("SELECT kind, payload, state FROM jobs")
    assert (job["kind"], job["state"]) == ("accounts.verification_mail", "queued")
    assert set(job["payload"]) == {"user_id"}  # no link secret is stored in the queue

    async def down(mail: object) -> None:
        raise ConnectionRefusedError("SMTP is down")

    monkeypatch.setattr(services.mailer, "send", down)
    await run_jobs(services)
    # The link was made and its mail queued (mnwd.outbound); sending that mail is what failed.
    failed = await pool.fetchrow("SELECT state, attempts, last_error FROM jobs WHERE kind = 'outbound.send'")
    assert (failed["state"], failed["attempts"]) == ("queued", 1)
    assert "SMTP is down" in failed["last_error"]
    monkeypatch.undo()
    await pool.execute("UPDATE jobs SET run_at = now()")
    assert await run_jobs(services) == 1
    assert await pool.fetchval("SELECT array_agg(DISTINCT state) FROM jobs") == ["done"]
    [mail] = read_outbox(config.data_dir / "outbox")
    assert "/verify-email/" in mail.get_body().get_content()


async def test_a_verified_account_gets_no_stale_verification_mail(
    browser: Browser, pool: asyncpg.Pool, config: Config, services: Services
) -> None:
    await browser.submit("/signup", "/signup", signup_form())
    await pool.execute("UPDATE users SET email_verified = true")
    assert await run_jobs(services) == 1
    assert read_outbox(config.data_dir / "outbox") == []


def test_the_common_password_list_is_a_real_one_loaded_once() -> None:
    from mnwd.accounts.passwords import common_passwords, password_problem

    listed = common_passwords()
    assert len(listed) >= 10_000
    assert all(entry == entry.lower() for entry in listed)
    assert common_passwords() is listed
    assert password_problem("JustinBieber", username="fan") is not None
    assert password_problem("a long unlisted passphrase", username="fan") is None
    # Two characters are inside too many words to refuse.
    assert password_problem("a wandering passphrase", username="an") is None
