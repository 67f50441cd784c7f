"""The mailers against real components: files in a temporary outbox, and a real aiosmtpd server on loopback."""

from __future__ import annotations

import asyncio
import email.policy
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from mnwd.mail import (
    Mail,
    Mailer,
    MailError,
    OutboxMailer,
    SmtpMailer,
    build_message,
    check_mailbox,
    create_mailer,
    read_outbox,
)

SENDER = "mnwd <no-reply@mnwd.test>"
USER = "mailer"
PASSWORD = "s3cret:p@ss/wörd%"

WELCOME = Mail(
    to="Ada Lovelace <ada@example.org>",
    subject="Welcome",
    text="Hello Ada,\nyour login link: https://mnwd.test/login/TOKEN-1\n",
    html="<p>Hello Ada,</p>\n<p><a href='https://mnwd.test/login/TOKEN-1'>log in</a></p>\n",
    headers={"Reply-To": "help@mnwd.test", "List-Unsubscribe": "<https://mnwd.test/unsubscribe/1>"},
)
GRUSS = Mail(
    to="jurgen@example.org",
    subject="Grüße aus Köln — 你好 ✓",
    text="Schöne Grüße,\nder Link ist https://mnwd.test/login/TOKEN-2\n",
)


def parse(data: bytes) -> EmailMessage:
    """As a mail client stores it: with local line endings, not the CRLF of the wire."""
    message: EmailMessage = BytesParser(policy=email.policy.default).parsebytes(data.replace(b"\r\n", b"\n"))
    return message


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def html_of(message: EmailMessage) -> str | None:
    body = message.get_body(preferencelist=("html",))
    return None if body is None else str(body.get_content())


def assert_delivered(message: EmailMessage, mail: Mail) -> None:
    assert message["From"] == SENDER
    assert message["To"] == mail.to
    assert message["Subject"] == mail.subject
    assert message["Message-ID"].endswith("@mnwd.test>")
    assert message["Date"].datetime.tzinfo is not None
    for name, value in mail.headers.items():
        assert message[name] == value
    assert text_of(message) == mail.text
    assert html_of(message) == mail.html
    if mail.html is None:
        assert message.get_content_type() == "text/plain"
    else:
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


# --- a real SMTP server ---------------------------------------------------------------------------


@dataclass
class Inbox:
    """aiosmtpd handler keeping what it received; with ``require_auth`` it refuses MAIL before AUTH."""

    require_auth: bool = False
    unknown_users: frozenset[str] = frozenset()
    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[Any] = field(default_factory=list)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.unknown_users:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if session.authenticated:
            self.logins.append(session.auth_data)
        self.envelopes.append(envelope)
        return "250 2.0.0 Accepted"

    def messages(self) -> list[EmailMessage]:
        return [parse(e.content) for e in self.envelopes if isinstance(e.content, bytes)]


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


class LoopbackController(Controller):
    """Listens on a port the kernel picks, learned from the bound socket, so parallel runs never collide."""

    async def _create_server(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=0)
        self.port = server.sockets[0].getsockname()[1]
        return server


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int

    def url(self, userinfo: str = "") -> str:
        return f"smtp://{userinfo}127.0.0.1:{self.port}"


def run_smtp_server(inbox: Inbox, **smtp_options: Any) -> Iterator[SmtpServer]:
    controller = LoopbackController(inbox, hostname="127.0.0.1", server_hostname="mx.test", **smtp_options)
    controller.start()
    try:
        yield SmtpServer(inbox, controller.port)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from run_smtp_server(Inbox())


@pytest.fixture
def auth_smtp_server() -> Iterator[SmtpServer]:
    yield from run_smtp_server(Inbox(require_auth=True), authenticator=authenticate, auth_require_tls=False)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port held by a socket that does not listen: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (in the kernel's backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --- one suite for every Mailer -------------------------------------------------------------------


@pytest.fixture(params=["outbox", "smtp"])
async def transport(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Mailer, Callable[[], list[EmailMessage]]]]:
    """A mailer and a function returning what it delivered so far, in order."""
    if request.param == "outbox":
        outbox = tmp_path / "outbox"
        mailer: Mailer = OutboxMailer(outbox, sender=SENDER)
        yield mailer, lambda: read_outbox(outbox)
    else:
        server: SmtpServer = request.getfixturevalue("smtp_server")
        mailer = SmtpMailer(server.url(), sender=SENDER, timeout=5)
        yield mailer, server.inbox.messages
    await mailer.close()


async def test_mailer_delivers_headers_bodies_and_html_alternative(
    transport: tuple[Mailer, Callable[[], list[EmailMessage]]],
) -> None:
    mailer, delivered = transport
    await mailer.send(WELCOME)
    await mailer.send(GRUSS)
    first, second = delivered()
    assert_delivered(first, WELCOME)
    assert_delivered(second, GRUSS)
    assert first["Message-ID"] != second["Message-ID"]


@pytest.mark.parametrize(
    "mail",
    [
        pytest.param(Mail(to="a@x.org\r\nBcc: b@y.org", subject="hi", text="x\n"), id="bcc-in-to"),
        pytest.param(Mail(to="a@x.org", subject="hi\nBcc: b@y.org", text="x\n"), id="lf-in-subject"),
        pytest.param(Mail(to="a@x.org", subject="hi\rBcc: b@y.org", text="x\n"), id="cr-in-subject"),
        pytest.param(Mail(to="a@x.org", subject="hi\u2028there", text="x\n"), id="line-separator-in-subject"),
        pytest.param(Mail(to="a@x.org", subject="hi", text="x\n", headers={"X-A": "1\r\nBcc: b@y.org"}), id="header"),
        pytest.param(Mail(to="a@x.org", subject="hi", text="x\n", headers={"Bcc": "b@y.org"}), id="reserved-bcc"),
        pytest.param(Mail(to="a@x.org", subject="hi", text="x\n", headers={"X-A\nB": "1"}), id="header-name"),
        pytest.param(Mail(to="a@x.org, b@y.org", subject="hi", text="x\n"), id="two-recipients"),
        pytest.param(Mail(to="friends: a@x.org;", subject="hi", text="x\n"), id="group"),
        pytest.param(Mail(to="nobody", subject="hi", text="x\n"), id="no-at"),
        pytest.param(Mail(to="a@", subject="hi", text="x\n"), id="no-domain"),
        pytest.param(Mail(to=f"a@{'x' * 64}.org", subject="hi", text="x\n"), id="label-too-long"),
    ],
)
async def test_mailer_refuses_malformed_mail_and_delivers_nothing(
    transport: tuple[Mailer, Callable[[], list[EmailMessage]]], mail: Mail
) -> None:
    mailer, delivered = transport
    with pytest.raises(ValueError, match=r"^(to|subject|header|'X-A)"):
        await mailer.send(mail)
    assert delivered() == []


async def test_mailer_logs_domain_and_subject_length_only(
    transport: tuple[Mailer, Callable[[], list[EmailMessage]]], caplog: pytest.LogCaptureFixture
) -> None:
    mailer, _ = transport
    with caplog.at_level(logging.INFO, logger="mnwd.mail"):
        await mailer.send(WELCOME)
    [record] = [r for r in caplog.records if r.name == "mnwd.mail"]
    assert record.__dict__["to_domain"] == "example.org"
    assert record.__dict__["subject_length"] == len(WELCOME.subject)
    logged = repr(record.__dict__) + record.getMessage()
    for secret in ("TOKEN-1", "ada@", "Ada", WELCOME.subject):
        assert secret not in logged


# --- build_message --------------------------------------------------------------------------------


def test_build_message_is_7bit_safe_in_headers_and_round_trips_non_ascii() -> None:
    message = build_message(GRUSS, sender="Bücherei <no-reply@bücher.test>")
    raw = message.as_bytes(policy=email.policy.SMTP)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"\r\nBcc" not in raw
    parsed = parse(raw)
    assert parsed["Subject"] == GRUSS.subject
    assert parsed["From"] == "Bücherei <no-reply@xn--bcher-kva.test>"
    assert parsed["Message-ID"].endswith("@xn--bcher-kva.test>")
    assert text_of(parsed) == GRUSS.text


LONG_LINK = "https://mnwd.test/verify-email/" + "Q2hlY2sgdGhpcyBsaW5rIGlzIGxvbmcgZW5vdWdo-_" * 3


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (f"Hello,\nconfirm: {LONG_LINK}\n", "7bit"),
        (f"Grüße,\nbestätige: {LONG_LINK}\n", "8bit"),
    ],
)
async def test_outbox_mail_keeps_a_long_link_on_one_line(tmp_path: Path, text: str, encoding: str) -> None:
    """Quoted-printable wrapped links at 76 columns with a trailing ``=``: a link copied from the file was broken."""
    assert len(LONG_LINK) > 100
    await OutboxMailer(tmp_path, sender=SENDER).send(Mail(to="ada@example.org", subject="Confirm", text=text))
    [path] = tmp_path.glob("*.eml")
    raw = path.read_bytes().decode()
    assert f"Content-Transfer-Encoding: {encoding}" in raw
    assert re.findall(r"https://\S+", raw) == [LONG_LINK]
    [message] = read_outbox(tmp_path)
    assert message.get_content() == text


def test_smtp_mail_is_7bit_when_it_can_be_and_encoded_otherwise() -> None:
    """8bit is for files only: an SMTP server need not accept it."""
    plain = build_message(Mail(to="ada@example.org", subject="s", text=f"see {LONG_LINK}\n"), sender=SENDER)
    assert plain["Content-Transfer-Encoding"] == "7bit"
    german = build_message(Mail(to="ada@example.org", subject="s", text=f"Grüße {LONG_LINK}\n"), sender=SENDER)
    assert german["Content-Transfer-Encoding"] in {"quoted-printable", "base64"}
    too_long = build_message(Mail(to="ada@example.org", subject="s", text="x" * 1200 + "\n"), sender=SENDER)
    assert too_long["Content-Transfer-Encoding"] != "7bit"


def test_build_message_uses_the_given_date() -> None:
    when = datetime(2026, 11, 25, 10, 15, tzinfo=UTC)
    assert build_message(WELCOME, sender=SENDER, date=when)["Date"].datetime == when


def test_build_message_refuses_a_naive_date() -> None:
    with pytest.raises(ValueError, match="timezone"):
        build_message(WELCOME, sender=SENDER, date=datetime(2026, 11, 25, 10, 15))


@pytest.mark.parametrize("sender", ["no-reply", "a@x.org, b@y.org", "x@y.org\nBcc: z@w.org"])
def test_build_message_refuses_a_bad_sender(sender: str) -> None:
    with pytest.raises(ValueError, match=r"^sender"):
        build_message(WELCOME, sender=sender)


def test_build_message_refuses_non_ascii_local_part() -> None:
    with pytest.raises(ValueError, match=r"^to"):
        build_message(Mail(to="jürgen@example.org", subject="s", text="t\n"), sender=SENDER)


def test_check_mailbox_reads_as_a_setting_error() -> None:
    assert check_mailbox("mnwd <no-reply@localhost>") == "mnwd <no-reply@localhost>"
    with pytest.raises(ValueError, match=r"^is not one mail address"):
        check_mailbox("no-reply")
    with pytest.raises(ValueError, match=r"^contains a line break"):
        check_mailbox("a@x.org\nBcc: b@y.org")


# --- the outbox -----------------------------------------------------------------------------------


async def test_outbox_files_are_whole_private_and_sort_by_time(tmp_path: Path) -> None:
    outbox = tmp_path / "var" / "outbox"
    mailer = OutboxMailer(outbox, sender=SENDER)
    before = datetime.now(UTC)
    for _ in range(5):
        await mailer.send(WELCOME)
    await mailer.send(GRUSS)
    after = datetime.now(UTC)

    names = [p.name for p in outbox.iterdir()]
    assert all(n.endswith(".eml") and not n.startswith(".") for n in names), names
    assert len(names) == 6
    in_order = sorted(names)
    stamps = [datetime.strptime(n.split("-", 1)[0], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC) for n in in_order]
    assert before <= stamps[0] < stamps[-1] <= after
    assert stamps == sorted(set(stamps))
    assert all((outbox / n).stat().st_mode & 0o777 == 0o600 for n in names)

    messages = read_outbox(outbox)
    assert [m["Subject"] for m in messages] == [WELCOME.subject] * 5 + [GRUSS.subject]
    assert [parse((outbox / n).read_bytes())["Message-ID"] for n in in_order] == [m["Message-ID"] for m in messages]


def test_read_outbox_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert read_outbox(tmp_path / "nothing") == []


def test_read_outbox_skips_files_being_written(tmp_path: Path) -> None:
    (tmp_path / ".20260101T000000.000000Z-x.eml.tmp").write_bytes(b"Subject: half")
    (tmp_path / ".hidden.eml").write_bytes(b"Subject: half")
    assert read_outbox(tmp_path) == []


async def test_outbox_refuses_bad_sender_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^sender"):
        OutboxMailer(tmp_path, sender="not an address")


# --- SMTP -----------------------------------------------------------------------------------------


async def test_smtp_envelope_names_bare_addresses(smtp_server: SmtpServer) -> None:
    await SmtpMailer(smtp_server.url(), sender=SENDER, timeout=5).send(WELCOME)
    [envelope] = smtp_server.inbox.envelopes
    assert envelope.mail_from == "no-reply@mnwd.test"
    assert envelope.rcpt_tos == ["ada@example.org"]
    assert isinstance(envelope.content, bytes)
    assert b"\n" not in envelope.content.replace(b"\r\n", b"")
    assert_delivered(parse(envelope.content), WELCOME)


async def test_smtp_login_with_percent_encoded_credentials(auth_smtp_server: SmtpServer) -> None:
    url = auth_smtp_server.url(f"{USER}:{quote(PASSWORD, safe='')}@")
    await SmtpMailer(url, sender=SENDER, timeout=5).send(GRUSS)
    assert auth_smtp_server.inbox.logins == [USER.encode()]
    [message] = auth_smtp_server.inbox.messages()
    assert_delivered(message, GRUSS)


async def test_smtp_wrong_password_is_a_mail_error_without_the_password(auth_smtp_server: SmtpServer) -> None:
    wrong = "Wr0ng-Secret-Value"
    url = auth_smtp_server.url(f"{USER}:{wrong}@")
    with pytest.raises(MailError) as raised:
        await SmtpMailer(url, sender=SENDER, timeout=5).send(GRUSS)
    assert raised.value.code == 535
    assert wrong not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    assert auth_smtp_server.inbox.envelopes == []


async def test_smtp_without_login_is_refused_by_a_server_that_wants_one(auth_smtp_server: SmtpServer) -> None:
    with pytest.raises(MailError) as raised:
        await SmtpMailer(auth_smtp_server.url(), sender=SENDER, timeout=5).send(WELCOME)
    assert raised.value.code == 530
    assert "ada@" not in str(raised.value)


async def test_smtp_refused_recipient_is_a_permanent_error_naming_only_the_domain(smtp_server: SmtpServer) -> None:
    smtp_server.inbox.unknown_users = frozenset({"ada@example.org"})
    with pytest.raises(MailError, match="550") as raised:
        await SmtpMailer(smtp_server.url(), sender=SENDER, timeout=5).send(WELCOME)
    assert raised.value.code == 550
    assert "ada@" not in str(raised.value)
    assert "***@example.org" in str(raised.value)
    assert smtp_server.inbox.envelopes == []


async def test_smtp_server_not_listening_fails_fast(closed_port: int) -> None:
    mailer = SmtpMailer(f"smtp://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{closed_port}", sender=SENDER, timeout=2)
    started = time.monotonic()
    with pytest.raises(MailError, match=f"127.0.0.1:{closed_port}") as raised:
        await mailer.send(WELCOME)
    assert time.monotonic() - started < 1.5
    assert PASSWORD not in str(raised.value)
    assert raised.value.code is None


async def test_smtp_server_that_never_greets_times_out(silent_port: int) -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{silent_port}", sender=SENDER, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(MailError, match=r"(?i)timeout|timed out"):
        await mailer.send(WELCOME)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("smtp://mail.example.org", "SmtpMailer(smtp://mail.example.org:25)"),
        ("smtps://mail.example.org", "SmtpMailer(smtps://mail.example.org:465)"),
        ("smtp://u%40x:p%3Aw@mail.example.org:587/", "SmtpMailer(smtp://u@x:***@mail.example.org:587)"),
        ("smtps://[::1]:2465", "SmtpMailer(smtps://::1:2465)"),
    ],
)
def test_smtp_url_ports_and_repr_without_password(url: str, shown: str) -> None:
    assert repr(SmtpMailer(url, sender=SENDER)) == shown


@pytest.mark.parametrize(
    "url",
    [
        "http://u:hunter2@mail.example.org",
        "smtp://",
        "smtp://u:hunter2@mail.example.org:99999",
        "smtp://u:hunter2@mail.example.org:port",
        "smtp://u:hunter2@mail.example.org/path",
        "smtp://u:hunter2@mail.example.org?starttls=no",
        "smtp://u@mail.example.org",
    ],
)
def test_smtp_url_errors_never_echo_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="SMTP URL") as raised:
        SmtpMailer(url, sender=SENDER)
    assert "hunter2" not in str(raised.value)


# --- wiring ---------------------------------------------------------------------------------------


def test_create_mailer_picks_smtp_only_when_a_url_is_given(tmp_path: Path) -> None:
    outbox = create_mailer(smtp_url=None, outbox_dir=tmp_path / "outbox", sender=SENDER)
    assert isinstance(outbox, OutboxMailer)
    assert outbox.directory == tmp_path / "outbox"
    assert not (tmp_path / "outbox").exists()
    assert isinstance(create_mailer(smtp_url="smtp://localhost", outbox_dir=tmp_path, sender=SENDER), SmtpMailer)
