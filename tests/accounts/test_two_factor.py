"""TOTP two-factor authentication and backup codes, driven over HTTP like a browser."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime
from html import unescape
from urllib.parse import quote, unquote

import pyotp
import pytest

import mnwd.clock
from mnwd.accounts import backup_codes, queries, totp
from mnwd.accounts.pages_signin import PENDING_2FA_SECONDS
from mnwd.accounts.pages_twofactor import MAX_WRONG_CODES
from mnwd.accounts.signin import MAX_FAILURES
from mnwd.errors import ValidationFailed
from mnwd.services import Services
from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.browser import Browser, Page

SECRET_ON_PAGE = re.compile(r'id="totp-secret">([^<]+)<')
CODES_LIST = re.compile(r'<ul class="codes"[^>]*>(.*?)</ul>', re.S)
CODE_ITEM = re.compile(r"<li><code>([^<]+)</code></li>")
BACKUP_CODE_FORMAT = re.compile(r"^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{2}$")
STEP = 30


class Clock(mnwd.clock.Clock):
    """The daemon's clock (`Services.clock`) fixed mid-step, so a test never straddles a step boundary."""

    def __init__(self) -> None:
        self.seconds = float(int(time.time()) // STEP * STEP + STEP // 2)

    def time(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.seconds, UTC)


@pytest.fixture
def clock(services: Services) -> Clock:
    frozen = Clock()
    services.clock = frozen
    return frozen


def code_at(secret: str, at: float) -> str:
    return pyotp.TOTP(secret).at(at)


def wrong_code(secret: str, at: float) -> str:
    near = {code_at(secret, at + k * STEP) for k in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)


def codes_on(page: Page) -> list[str]:
    match = CODES_LIST.search(page.text)
    assert match, page.text
    return [unescape(code) for code in CODE_ITEM.findall(match.group(1))]


async def start_setup(browser: Browser) -> tuple[str, Page]:
    page = await browser.submit("/settings/2fa", "/settings/2fa/setup", {})
    assert page.status == 200, page.text
    match = SECRET_ON_PAGE.search(page.text)
    assert match, page.text
    return match.group(1).replace(" ", ""), page


async def enrol(browser: Browser, clock: Clock) -> tuple[str, list[str]]:
    """Set up TOTP as a person would: read the key off the page, type the app's code. Returns (secret, codes)."""
    secret, page = await start_setup(browser)
    enabled = await browser.post(
        "/settings/2fa/enable", {"code": code_at(secret, clock.seconds), "csrf_token": page.csrf}, follow=True
    )
    assert enabled.status == 200, enabled.text
    return secret, codes_on(enabled)


async def sign_out(browser: Browser) -> None:
    page = await browser.submit("/settings", "/logout", {})
    assert page.status == 303


async def password_step(browser: Browser, login: str = "alice") -> None:
    page = await browser.submit("/login", "/login", {"login": login, "password": PASSWORD})
    assert page.status == 303, page.text
    assert page.location == "/login/2fa"


async def answer(browser: Browser, **data: str) -> Page:
    return await browser.submit("/login/2fa", "/login/2fa", data)


async def signed_in(browser: Browser) -> bool:
    page = await browser.get("/settings", follow=False)
    return page.status == 200


async def enrolled_user(make_user: MakeUser, browser: Browser, clock: Clock) -> tuple[str, list[str]]:
    """alice with TOTP on, enrolled five minutes ago (so codes of the last minute are still unused)."""
    await make_user("alice")
    await sign_in(browser, "alice")
    real_now = clock.seconds
    clock.seconds -= 10 * STEP
    secret, codes = await enrol(browser, clock)
    clock.seconds = real_now
    await sign_out(browser)
    return secret, codes


async def test_enrolment_shows_qr_and_secret_and_stores_nothing_until_confirmed(
    make_user: MakeUser, browser: Browser, services: Services, clock: Clock
) -> None:
    user = await make_user("alice")
    await sign_in(browser, "alice")
    status = await browser.get("/settings/2fa")
    assert status.status == 200
    assert 'id="totp-status">off' in status.text

    secret, page = await start_setup(browser)
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert 'src="data:image/svg+xml' in page.text
    assert page.headers["Cache-Control"] == "no-store"
    row = await queries.get_user_by_id(services.pool, user["id"])
    assert row is not None
    assert row["totp_secret"] is None
    assert not row["totp_enabled"]
    # The pending secret is in the transient state only as ciphertext.
    states = await services.pool.fetch("SELECT data::text AS data FROM web_sessions")
    assert states
    assert all(secret not in s["data"] for s in states)


async def test_wrong_confirmation_code_is_refused(
    make_user: MakeUser, browser: Browser, services: Services, clock: Clock
) -> None:
    user = await make_user("alice")
    await sign_in(browser, "alice")
    secret, page = await start_setup(browser)
    refused = await browser.post(
        "/settings/2fa/enable", {"code": wrong_code(secret, clock.seconds), "csrf_token": page.csrf}
    )
    assert refused.status == 422
    assert refused.has("That code is not right")
    assert SECRET_ON_PAGE.search(refused.text), "the form is shown again with the same key"
    assert SECRET_ON_PAGE.search(refused.text).group(1).replace(" ", "") == secret  # type: ignore[union-attr]
    row = await queries.get_user_by_id(services.pool, user["id"])
    assert row is not None
    assert not row["totp_enabled"]
    assert row["totp_secret"] is None
    assert await backup_codes.count_unused(services, user["id"]) == 0

    # The right code still works after a wrong one.
    page = await browser.post(
        "/settings/2fa/enable", {"code": code_at(secret, clock.seconds), "csrf_token": page.csrf}, follow=True
    )
    assert page.status == 200
    assert len(codes_on(page)) == 10


async def test_enabling_shows_ten_codes_once_and_keeps_only_ciphertext_and_hashes(
    make_user: MakeUser, browser: Browser, services: Services, clock: Clock
) -> None:
    user = await make_user("alice")
    await sign_in(browser, "alice")
    secret, codes = await enrol(browser, clock)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(BACKUP_CODE_FORMAT.fullmatch(code) for code in codes), codes

    row = await queries.get_user_by_id(services.pool, user["id"])
    assert row is not None
    assert row["totp_enabled"]
    assert row["totp_secret"] != secret
    assert secret not in row["totp_secret"]
    assert services.keyring.decrypt("totp", row["totp_secret"]) == secret
    stored = await services.pool.fetch("SELECT code_hash, used_at FROM backup_codes WHERE user_id = $1", user["id"])
    assert len(stored) == 10
    hashes = {r["code_hash"] for r in stored}
    assert hashes == {backup_codes.hash_code(services.keyring, code) for code in codes}
    dump = str([dict(r) for r in await services.pool.fetch("SELECT * FROM backup_codes")])
    for code in codes:
        assert code not in dump
        assert code.replace("-", "") not in dump

    # Shown once: the status page only counts them.
    status = await browser.get("/settings/2fa")
    assert 'id="totp-status">on' in status.text
    assert "<strong>10</strong> unused backup codes" in status.text
    assert not any(code in status.text for code in codes)


async def test_sign_in_asks_for_a_code_and_a_valid_one_signs_in(
    make_user: MakeUser, browser: Browser, clock: Clock
) -> None:
    secret, _ = await enrolled_user(make_user, browser, clock)
    await password_step(browser)
    assert not await signed_in(browser), "the password alone does not sign in"
    challenge = await browser.get("/login/2fa")
    assert challenge.status == 200
    assert challenge.has('name="code"')

    before = browser.cookie("mnwd_session")
    page = await answer(browser, code=code_at(secret, clock.seconds))
    assert page.status == 303, page.text
    assert page.location == "/settings"
    assert browser.cookie("mnwd_session") != before, "the session cookie is rotated at sign-in"
    assert await signed_in(browser)
    # Done: the challenge is gone.
    assert (await browser.get("/login/2fa", follow=False)).location == "/login"


async def test_a_code_works_only_once(make_user: MakeUser, browser: Browser, clock: Clock) -> None:
    secret, _ = await enrolled_user(make_user, browser, clock)
    code = code_at(secret, clock.seconds)
    await password_step(browser)
    assert (await answer(browser, code=code)).status == 303
    await sign_out(browser)

    await password_step(browser)
    replayed = await answer(browser, code=code)
    assert replayed.status == 401
    assert replayed.has("each one works only once")
    assert not await signed_in(browser)
    # An earlier code than the last one used is refused too, even inside the window.
    assert (await answer(browser, code=code_at(secret, clock.seconds - STEP))).status == 401
    # The next step's code is new, so it works.
    assert (await answer(browser, code=code_at(secret, clock.seconds + STEP))).status == 303


async def test_codes_one_step_away_are_accepted_two_steps_away_refused(
    make_user: MakeUser, browser: Browser, clock: Clock
) -> None:
    secret, _ = await enrolled_user(make_user, browser, clock)
    await password_step(browser)
    assert (await answer(browser, code=code_at(secret, clock.seconds - 2 * STEP))).status == 401
    assert (await answer(browser, code=code_at(secret, clock.seconds + 2 * STEP))).status == 401
    assert not await signed_in(browser)
    assert (await answer(browser, code=code_at(secret, clock.seconds - STEP))).status == 303
    assert await signed_in(browser)


async def test_one_step_late_code_accepted_with_the_real_clock(
    make_user: MakeUser, browser: Browser, services: Services
) -> None:
    """No frozen clock: a code from the previous step, as a slow phone shows it, signs in."""
    user = await make_user("alice")
    secret = pyotp.random_base32()
    await totp.enable(services, user["id"], secret, pyotp.TOTP(secret).at(time.time() - 30))
    # Pretend the enrolment was long ago, so the previous step is still unused.
    await services.pool.execute("UPDATE users SET totp_last_used_step = 1 WHERE id = $1", user["id"])
    await password_step(browser)
    page = await answer(browser, code=pyotp.TOTP(secret).at(time.time() - 30))
    assert page.status == 303, page.text


async def test_same_code_raced_is_accepted_once(make_user: MakeUser, services: Services, clock: Clock) -> None:
    user = await make_user("alice")
    secret = pyotp.random_base32()
    await totp.enable(services, user["id"], secret, code_at(secret, clock.seconds - STEP))
    code = code_at(secret, clock.seconds)
    results = await asyncio.gather(*(totp.verify_code(services, user["id"], code) for _ in range(8)))
    assert results.count(True) == 1


async def test_backup_code_works_once(make_user: MakeUser, browser: Browser, services: Services, clock: Clock) -> None:
    _, codes = await enrolled_user(make_user, browser, clock)
    await password_step(browser)
    # Typed in capitals without dashes, it is the same code.
    page = await answer(browser, backup_code=codes[0].upper().replace("-", " "))
    assert page.status == 303, page.text
    assert page.location == "/settings/2fa?saved=backup-code-used&next=/settings"
    assert await signed_in(browser)
    status = await browser.get(page.location)
    assert status.has("You signed in with a backup code. You have 9 backup codes left.")
    assert "<strong>9</strong> unused backup codes" in status.text
    await sign_out(browser)

    await password_step(browser)
    again = await answer(browser, backup_code=codes[0])
    assert again.status == 401
    assert again.has("This backup code was already used")
    assert not again.has("Codes change every 30 seconds")
    assert not await signed_in(browser)
    # A backup code typed into the code field works as well.
    assert (await answer(browser, code=codes[1])).status == 303


async def test_regenerating_backup_codes_invalidates_the_old_ones(
    make_user: MakeUser, browser: Browser, clock: Clock
) -> None:
    _, old = await enrolled_user(make_user, browser, clock)
    await sign_in_with(browser, backup_code=old[0])

    refused = await browser.submit("/settings/2fa", "/settings/2fa/backup-codes", {"password": "not my password"})
    assert refused.status == 422
    assert refused.has("This is not your password.")
    assert not CODES_LIST.search(refused.text)

    page = await browser.submit("/settings/2fa", "/settings/2fa/backup-codes", {"password": PASSWORD}, follow=True)
    assert page.status == 200, page.text
    new = codes_on(page)
    assert len(new) == 10
    assert not set(new) & set(old)
    assert "<strong>10</strong> unused backup codes" in (await browser.get("/settings/2fa")).text
    await sign_out(browser)

    await password_step(browser)
    assert (await answer(browser, backup_code=old[1])).status == 401
    assert (await answer(browser, backup_code=new[0])).status == 303


async def sign_in_with(browser: Browser, **data: str) -> None:
    await password_step(browser)
    page = await answer(browser, **data)
    assert page.status == 303, page.text


async def test_disabling_requires_the_password(
    make_user: MakeUser, browser: Browser, services: Services, clock: Clock
) -> None:
    secret, _ = await enrolled_user(make_user, browser, clock)
    await sign_in_with(browser, code=code_at(secret, clock.seconds))

    refused = await browser.submit("/settings/2fa", "/settings/2fa/disable", {"password": "wrong password!"})
    assert refused.status == 422
    assert refused.has("This is not your password.")
    user = await queries.get_user_by_username(services.pool, "alice")
    assert user is not None
    assert user["totp_enabled"]

    page = await browser.submit("/settings/2fa", "/settings/2fa/disable", {"password": PASSWORD})
    assert page.status == 303
    assert page.location == "/settings/2fa?saved=disabled"
    user = await queries.get_user_by_username(services.pool, "alice")
    assert user is not None
    assert not user["totp_enabled"]
    assert user["totp_secret"] is None
    assert await services.pool.fetchval("SELECT count(*) FROM backup_codes") == 0
    await sign_out(browser)
    await sign_in(browser, "alice")


async def test_password_less_account_confirms_with_a_code(
    make_user: MakeUser, services: Services, clock: Clock
) -> None:
    user = await make_user("bob", password=None)
    secret = pyotp.random_base32()
    await totp.enable(services, user["id"], secret, code_at(secret, clock.seconds - STEP))
    with pytest.raises(ValidationFailed) as refused:
        await totp.confirm_owner(services, user["id"], password="", code=wrong_code(secret, clock.seconds))
    assert refused.value.extra["errors"][0]["field"] == "code"
    await totp.confirm_owner(services, user["id"], password="", code=code_at(secret, clock.seconds))
    with pytest.raises(ValidationFailed):
        await totp.confirm_owner(services, user["id"], password="", code=code_at(secret, clock.seconds))


async def test_challenge_without_pending_sign_in_redirects_to_login(browser: Browser) -> None:
    page = await browser.get("/login/2fa", follow=False)
    assert page.status == 303
    assert page.location == "/login"
    posted = await browser.submit("/login", "/login/2fa", {"code": "123456"})
    assert posted.status == 303
    assert posted.location == "/login"


async def test_pending_sign_in_expires(make_user: MakeUser, browser: Browser, clock: Clock) -> None:
    secret, _ = await enrolled_user(make_user, browser, clock)
    await password_step(browser)
    page = await browser.get("/login")
    clock.seconds += PENDING_2FA_SECONDS + STEP
    late = await browser.post("/login/2fa", {"code": code_at(secret, clock.seconds), "csrf_token": page.csrf})
    assert late.status == 303
    assert late.location == "/login"
    assert not await signed_in(browser)
    assert (await browser.get("/login/2fa", follow=False)).location == "/login"


async def test_too_many_wrong_codes_drop_the_pending_sign_in(
    make_user: MakeUser, browser: Browser, clock: Clock
) -> None:
    secret, _ = await enrolled_user(make_user, browser, clock)
    await password_step(browser)
    bad = wrong_code(secret, clock.seconds)
    for _ in range(MAX_WRONG_CODES - 1):
        page = await answer(browser, code=bad)
        assert page.status == 401
    last = await answer(browser, code=bad)
    assert last.status == 429
    assert last.has("Sign in again with your password")
    assert last.has('action="/login"')
    # Even the right code is no use now: the password must be entered again.
    assert (await browser.get("/login/2fa", follow=False)).location == "/login"
    late = await browser.submit("/login", "/login/2fa", {"code": code_at(secret, clock.seconds)})
    assert late.location == "/login"
    assert not await signed_in(browser)

    await sign_in_with(browser, code=code_at(secret, clock.seconds))


async def test_suspended_user_is_refused_at_the_code_step(
    make_user: MakeUser, browser: Browser, services: Services, clock: Clock
) -> None:
    secret, _ = await enrolled_user(make_user, browser, clock)
    await password_step(browser)
    await queries.set_suspended(services.pool, "alice", True)
    page = await answer(browser, code=code_at(secret, clock.seconds))
    assert page.status == 403
    assert page.has("suspended")
    assert not await signed_in(browser)
    assert (await browser.get("/login/2fa", follow=False)).location == "/login"


async def test_enable_without_csrf_token_is_forbidden(
    make_user: MakeUser, browser: Browser, services: Services, clock: Clock
) -> None:
    user = await make_user("alice")
    await sign_in(browser, "alice")
    secret, _ = await start_setup(browser)
    page = await browser.post("/settings/2fa/enable", {"code": code_at(secret, clock.seconds)})
    assert page.status == 403
    row = await queries.get_user_by_id(services.pool, user["id"])
    assert row is not None
    assert not row["totp_enabled"]


async def test_two_factor_settings_need_a_signed_in_user(browser: Browser) -> None:
    page = await browser.get("/settings/2fa", follow=False)
    assert page.status == 303
    assert page.location == "/login?next=/settings/2fa"


async def test_no_secret_or_code_is_logged(
    make_user: MakeUser, browser: Browser, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole life of 2FA at DEBUG: no password, TOTP secret, TOTP code or backup code in any record."""
    caplog.set_level(logging.DEBUG)
    await make_user("alice")
    await sign_in(browser, "alice")
    clock.seconds -= 10 * STEP
    secret, page = await start_setup(browser)
    refused_code = wrong_code(secret, clock.seconds)
    await browser.post("/settings/2fa/enable", {"code": refused_code, "csrf_token": page.csrf})
    enrol_code = code_at(secret, clock.seconds)
    enabled = await browser.post("/settings/2fa/enable", {"code": enrol_code, "csrf_token": page.csrf}, follow=True)
    codes = codes_on(enabled)
    clock.seconds += 10 * STEP
    await sign_out(browser)
    sign_in_code = code_at(secret, clock.seconds)
    await password_step(browser)
    await answer(browser, code=refused_code)
    await answer(browser, code=sign_in_code)
    await sign_out(browser)
    await sign_in_with(browser, backup_code=codes[0])
    regenerated = await browser.submit(
        "/settings/2fa", "/settings/2fa/backup-codes", {"password": PASSWORD}, follow=True
    )
    new_codes = codes_on(regenerated)
    await browser.submit("/settings/2fa", "/settings/2fa/disable", {"password": PASSWORD})

    secrets_ = [PASSWORD, secret, " ".join(secret[i : i + 4] for i in range(0, 32, 4))]
    for code in codes + new_codes:
        secrets_ += [code, code.replace("-", "")]
    digit_codes = [refused_code, enrol_code, sign_in_code]
    assert len(caplog.records) > 10
    for record in caplog.records:
        texts = [record.getMessage(), *(str(value) for value in record.__dict__.values())]
        for text in texts:
            for secret_text in secrets_:
                assert secret_text not in text, (record.name, record.getMessage())
            for code in digit_codes:
                assert not re.search(rf"(?<!\d){code}(?!\d)", text), (record.name, record.getMessage())


async def test_right_passwords_without_the_code_never_lock_a_two_factor_account(
    make_user: MakeUser, browser: Browser, clock: Clock, services: Services
) -> None:
    """Regression: a right password whose sign-in stopped at the code step counted as a failed attempt and was
    never refunded, so after 5 of them the owner could no longer sign in with the password at all."""
    secret, _ = await enrolled_user(make_user, browser, clock)
    for _ in range(MAX_FAILURES + 1):
        await password_step(browser)
    await password_step(browser)
    assert await services.pool.fetchval("SELECT failed_login_attempts FROM users WHERE username = 'alice'") == 0
    await sign_in_with(browser, code=code_at(secret, clock.seconds))


async def test_twenty_concurrent_wrong_codes_check_at_most_max_wrong_codes(
    make_user: MakeUser, browser: Browser, clock: Clock, services: Services
) -> None:
    """Attack: with the password, send 20 codes at once. The wrong-code count was read, incremented and saved
    by each request, so concurrent answers overwrote each other's counts and the pending sign-in survived with
    more guesses; now each attempt is counted in one UPDATE before its code is checked."""
    secret, _ = await enrolled_user(make_user, browser, clock)
    await password_step(browser)
    bad = wrong_code(secret, clock.seconds)
    token = (await browser.get("/login/2fa")).csrf
    pages = await asyncio.gather(*(browser.post("/login/2fa", {"code": bad, "csrf_token": token}) for _ in range(20)))
    checked = await services.pool.fetchval(
        "SELECT coalesce(sum(hits), 0) FROM rate_limits WHERE bucket LIKE '2fa:user:%'"
    )
    assert checked == MAX_WRONG_CODES
    assert sum(page.status == 401 for page in pages) == MAX_WRONG_CODES - 1
    assert all(page.status in (401, 429, 303) for page in pages)
    assert not await signed_in(browser)
    # The pending sign-in is over: even the right code needs the password again.
    assert (await browser.get("/login/2fa", follow=False)).location == "/login"
    late = await browser.submit("/login", "/login/2fa", {"code": code_at(secret, clock.seconds)})
    assert late.location == "/login"
    assert not await signed_in(browser)


async def test_new_backup_codes_are_shown_by_a_get_once_so_a_reload_posts_nothing(
    make_user: MakeUser, browser: Browser, clock: Clock
) -> None:
    """The codes came in the answer to the form post: reloading asked to post again (and made new codes)."""
    await make_user("alice")
    await sign_in(browser, "alice")
    secret, page = await start_setup(browser)
    enabled = await browser.post(
        "/settings/2fa/enable", {"code": code_at(secret, clock.seconds), "csrf_token": page.csrf}
    )
    assert enabled.status == 303
    assert enabled.location == "/settings/2fa/backup-codes"
    assert not CODES_LIST.search(enabled.text)
    shown = await browser.get("/settings/2fa/backup-codes")
    assert shown.headers["Cache-Control"] == "no-store"
    assert shown.has("Two-factor authentication is on.")
    codes = codes_on(shown)
    assert len(codes) == 10
    assert shown.has('download="mnwd-backup-codes.txt"')
    assert all(code in unquote(shown.text) for code in codes), "the download link holds the codes"
    reloaded = await browser.get("/settings/2fa/backup-codes")
    assert reloaded.status == 200
    assert not CODES_LIST.search(reloaded.text)
    assert not any(code in reloaded.text for code in codes)
    assert reloaded.has("shown only once")
    assert "<strong>10</strong> unused backup code" in reloaded.text


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("code", "abcd-efgh-jk", "That looks like a backup code, but it is not one of yours"),
        ("backup_code", "abcd-efgh-jk", "That looks like a backup code, but it is not one of yours"),
        ("code", "nope", "neither a 6-digit code from your app nor a backup code"),
        ("code", "000000", "Codes change every 30 seconds"),
    ],
)
async def test_a_wrong_second_factor_is_told_what_it_was_taken_for(
    make_user: MakeUser, browser: Browser, clock: Clock, field: str, typed: str, message: str
) -> None:
    secret, _ = await enrolled_user(make_user, browser, clock)
    if typed == "000000" and code_at(secret, clock.seconds) == typed:
        typed = "111111"
    await password_step(browser)
    page = await answer(browser, **{field: typed})
    assert page.status == 401
    assert page.has(message)
    assert not await signed_in(browser)


async def test_a_used_backup_code_typed_in_the_code_field_says_it_was_used(
    make_user: MakeUser, browser: Browser, clock: Clock
) -> None:
    _, codes = await enrolled_user(make_user, browser, clock)
    await sign_in_with(browser, code=codes[0])
    await sign_out(browser)
    await password_step(browser)
    page = await answer(browser, code=codes[0])
    assert page.status == 401
    assert page.has("This backup code was already used: each one works once.")


async def test_the_codes_left_page_links_on_only_to_a_local_address(
    make_user: MakeUser, browser: Browser, clock: Clock
) -> None:
    """Attack: a link to /settings/2fa?saved=backup-code-used&next=//evil.example turns the Continue button into
    a way off the site."""
    await make_user("alice")
    await sign_in(browser, "alice")
    page = await browser.get("/settings/2fa?saved=backup-code-used&next=/settings/sessions")
    assert page.has('<a class="button" href="/settings/sessions">Continue</a>')
    for target in ("//evil.example", "https://evil.example/", "/\t/evil.example"):
        page = await browser.get(f"/settings/2fa?saved=backup-code-used&next={quote(target)}")
        assert page.status == 200
        assert "evil.example" not in page.text
        assert ">Continue</a>" not in page.text
