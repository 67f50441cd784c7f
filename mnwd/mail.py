"""Outgoing mail: a `Mail` says what to send, a `Mailer` sends it.

`OutboxMailer` writes each message as an ``.eml`` file into a directory (the default without an SMTP
server: a developer reads login links there, `read_outbox` parses them back); `SmtpMailer` hands each
message to an SMTP server, over its own connection or (``keep_connections``, as the outbound queue's mailer
does) one an earlier message left open. `create_mailer` picks one from the configuration.

Exception tree::

    MnwdError (mnwd.errors)
    └── MailError      the SMTP server was unreachable or refused the message; ``code`` is its reply code if any

A malformed `Mail` (a line break in a header, ``to`` not exactly one address, a reserved extra header) is the
caller's bug, not the mail server's: `build_message` and every ``send`` raise ``ValueError`` for it before
anything is written or sent.

Bodies carry login links and tokens, and addresses are personal data: nothing here logs either, and no
`MailError` message contains the SMTP password. Each mail sent logs one line on ``mnwd.mail`` with the
recipient's domain and the subject's length.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import email.utils
import functools
import logging
import os
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Protocol, TypeAlias
from urllib.parse import unquote, urlsplit

import aiosmtplib

from mnwd.errors import MnwdError

__all__ = [
    "Mail",
    "MailError",
    "Mailer",
    "OutboxMailer",
    "Signer",
    "SmtpMailer",
    "build_message",
    "check_mail",
    "check_mailbox",
    "create_mailer",
    "parse_address",
    "read_outbox",
]

log = logging.getLogger(__name__)

# Headers build_message writes itself, and those that would add recipients behind `to`'s back.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "sender",
        "return-path",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})
_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
# RFC 5322: a line is at most 998 characters before its CRLF.
MAX_LINE_BYTES = 998


class MailError(MnwdError):
    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Mail:
    """One message to one recipient; ``to`` is ``user@example.org`` or ``Name <user@example.org>``."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # ``<id@domain>``; None: a new one per message. A queue gives a mail its own, so that a copy sent twice
    # (a crash between the server's reply and the queue's record of it) can be recognised as one.
    message_id: str | None = None


# Given the message as it will be sent (CRLF line endings), the header lines to put on top (a DKIM-Signature).
Signer: TypeAlias = Callable[[bytes], bytes]


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None:
        """Deliver ``mail``: ``ValueError`` if it is malformed, `MailError` if the transport fails."""
        ...

    async def close(self) -> None: ...


def _is_one_line(value: str) -> bool:
    return not any(unicodedata.category(c) in _LINE_BREAKING for c in value)


def _check_line(what: str, value: str) -> None:
    if not _is_one_line(value):
        raise ValueError(f"{what} contains a line break or control character")


# A queued mail's addresses are parsed when it is queued, built and sent, and the sender for every mail: the
# email package's header parser is the costliest step of a send, so each distinct value is parsed once.
@functools.lru_cache(maxsize=4096)
def _mailbox(value: str) -> Address:
    if not _is_one_line(value):
        raise ValueError("contains a line break or control character")
    try:
        header = email.policy.default.header_factory("To", value)
        groups = header.groups
        defects = header.defects
    except (IndexError, ValueError, TypeError):
        defects, groups = ("unparsable",), ()
    if defects or len(groups) != 1 or groups[0].display_name is not None or len(groups[0].addresses) != 1:
        raise ValueError("is not one mail address such as user@example.org or Name <user@example.org>")
    address: Address = groups[0].addresses[0]
    if not address.username or not address.domain:
        raise ValueError("is not one mail address such as user@example.org or Name <user@example.org>")
    try:
        domain = address.domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("has a domain that is not a valid host name") from None
    return Address(display_name=address.display_name, username=address.username, domain=domain)


def _parse_mailbox(what: str, value: str) -> Address:
    """The one address in ``value`` with its domain in ASCII (IDNA), or ValueError starting with ``what``."""
    try:
        return _mailbox(value)
    except ValueError as exc:
        raise ValueError(f"{what} {exc}") from None


def parse_address(value: str) -> Address:
    """The one address of a `Mail.to` value, its domain in ASCII (IDNA); ValueError saying why if it is not one."""
    return _parse_mailbox("to", value)


def check_mail(mail: Mail) -> Address:
    """ValueError if `build_message` would refuse ``mail`` (its sender aside), without building it; else the
    recipient's address as `parse_address` gives it. For queues that accept a mail now and build it later."""
    address = _parse_mailbox("to", mail.to)
    _check_line("subject", mail.subject)
    _check_message_id(mail.message_id)
    for name, value in mail.headers.items():
        _check_extra_header(name, value)
    return address


def check_mailbox(value: str) -> str:
    """``value`` if it is one address as `Mail.to` and the sender accept it, else ValueError saying why.

    The message fits after a setting's name: ``MNWD_MAIL_FROM='x' is not one mail address such as …``.
    """
    _mailbox(value)
    return value


def _check_message_id(value: str | None) -> None:
    if value is not None and (
        not value.startswith("<")
        or not value.endswith(">")
        or "@" not in value
        or len(value) > 250
        or not all(33 <= ord(c) <= 126 for c in value)
    ):
        raise ValueError("message_id must look like <id@domain>")


def _check_extra_header(name: str, value: str) -> None:
    if not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
        raise ValueError(f"{name!r} is not a header name")
    if name.lower() in RESERVED_HEADERS:
        raise ValueError(f"header {name} is set by the mailer and cannot be given")
    _check_line(f"header {name}", value)


def _body_encoding(text: str, *, eight_bit: bool) -> str | None:
    """Bodies whose lines fit SMTP's limit are sent as they are, so a link in them stays on one line and can be
    copied from the raw message: ``7bit`` if ASCII, ``8bit`` if ``eight_bit`` (a file, not a transport that
    may lack 8BITMIME). None lets the library pick (quoted-printable or base64)."""
    if any(len(line.encode()) > MAX_LINE_BYTES for line in text.splitlines()):
        return None
    if text.isascii():
        return "7bit"
    return "8bit" if eight_bit else None


def build_message(mail: Mail, *, sender: str, date: datetime | None = None, eight_bit: bool = False) -> EmailMessage:
    """The MIME message for ``mail``: text/plain, or multipart/alternative with the HTML part after it.

    ``date`` (aware; default now) is the ``Date`` header. Raises ValueError for a malformed mail or sender.
    Body lines end in ``\\n``, and a body always ends with one. A body with lines of at most 998 bytes is
    written unencoded (``7bit``, or ``8bit`` with non-ASCII text if ``eight_bit``): its links stay whole.
    """
    if date is not None and date.utcoffset() is None:
        raise ValueError("date must be timezone-aware")
    from_address = _parse_mailbox("sender", sender)
    to_address = _parse_mailbox("to", mail.to)
    _check_line("subject", mail.subject)
    _check_message_id(mail.message_id)
    for name, value in mail.headers.items():
        _check_extra_header(name, value)
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = to_address
    message["Subject"] = mail.subject
    message["Date"] = date if date is not None else datetime.now(UTC)
    message["Message-ID"] = mail.message_id or email.utils.make_msgid(domain=from_address.domain)
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text, cte=_body_encoding(mail.text, eight_bit=eight_bit))
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html", cte=_body_encoding(mail.html, eight_bit=eight_bit))
        for part in message.iter_parts():
            del part["MIME-Version"]
    return message


def _log_sent(to: Address, subject: str, via: str) -> None:
    log.info("mail sent via %s", via, extra={"to_domain": to.domain, "subject_length": len(subject)})


class OutboxMailer:
    """Writes each mail to ``directory/<UTC time>-<uuid>.eml``, created with mode 0600 (bodies hold tokens).

    Files have ``\\n`` line endings and unencoded UTF-8 bodies (``8bit``), so ``less`` shows the links and a
    link copied from the file works; any mail client opens them.

    A file appears whole or not at all: it is written and fsynced under a dot-prefixed temporary name in the
    same directory, then renamed. Names sort in the order this mailer sent them.
    """

    def __init__(self, directory: Path, *, sender: str) -> None:
        _parse_mailbox("sender", sender)
        self.directory = directory
        self.sender = sender
        self._last_stamp = datetime.min.replace(tzinfo=UTC)

    def _next_stamp(self) -> datetime:
        # Two mails within one clock tick (or a clock stepping back) must still sort in sending order.
        now = datetime.now(UTC)
        stamp = now if now > self._last_stamp else self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = stamp
        return stamp

    async def send(self, mail: Mail) -> None:
        stamp = self._next_stamp()
        message = build_message(mail, sender=self.sender, date=stamp, eight_bit=True)
        name = f"{stamp:%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex}.eml"
        await asyncio.to_thread(_write_atomically, self.directory, name, message.as_bytes(policy=email.policy.default))
        _log_sent(_parse_mailbox("to", mail.to), mail.subject, "outbox")

    async def close(self) -> None:
        return None


def _write_atomically(directory: Path, name: str, data: bytes) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = directory / f".{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, directory / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_outbox(directory: Path) -> list[EmailMessage]:
    """The messages in an outbox directory, oldest first; none if it does not exist. Blocking: for tests and tools."""
    if not directory.is_dir():
        return []
    parser = BytesParser(policy=email.policy.default)
    paths = sorted(p for p in directory.glob("*.eml") if not p.name.startswith("."))
    return [parser.parsebytes(p.read_bytes()) for p in paths]


@dataclass(frozen=True)
class _SmtpServer:
    use_tls: bool
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)


def _parse_smtp_url(url: str) -> _SmtpServer:
    """Messages name the problem but never echo the URL, which may hold a password."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("the SMTP URL must look like smtp://user:password@host:port or smtps://…")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError("the SMTP URL must not have a path, query or fragment")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("the SMTP URL has an invalid port") from None
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if (username is None) != (password is None):
        raise ValueError("the SMTP URL must give both a user name and a password, or neither")
    return _SmtpServer(parts.scheme == "smtps", parts.hostname, port, username, password)


class SmtpMailer:
    """Sends mail to the server of ``url``, over connections it keeps open for the next mails.

    ``smtp://host[:port]`` (port 25 by default) connects in plain text and upgrades with STARTTLS whenever the
    server offers it; ``smtps://host[:port]`` (port 465 by default) speaks TLS from the start. Server certificates
    are verified. ``user:password@`` logs in; both are percent-decoded. ``timeout`` bounds each network step
    (connect, each command), not the whole exchange. ``signer`` (a DKIM signer, `mnwd.outbound`) gets each
    message's bytes as sent and returns the header lines put on top of them.

    Connection reuse: after a mail went through, its connection is kept for the next one (up to
    ``keep_connections`` idle connections; 0, the default, closes each after its mail with QUIT). A kept
    connection is closed with QUIT after ``idle_seconds`` unused or ``mails_per_connection`` mails, and by
    `close`. One mail uses one connection at a time, so concurrent sends open as many as they need.

    Races handled: a server may drop a kept connection at any time (its own idle timeout, a restart). A kept
    connection found closed, or that does not answer NOOP with 250 (a 421 says the server is closing it), is
    dropped before any of the mail is sent, and the mail goes over another or a new one; a failure after that
    is the send's own, as on a new connection, so a kept connection never makes a mail go out twice. A failed
    or cancelled send closes its connection at once, without QUIT: a server that holds its reply must not keep
    a stopping daemon waiting the whole timeout, and a connection in an unknown state is never reused.
    """

    def __init__(
        self,
        url: str,
        *,
        sender: str,
        timeout: float = 30,
        signer: Signer | None = None,
        keep_connections: int = 0,
        idle_seconds: float = 10.0,
        mails_per_connection: int = 100,
    ) -> None:
        if keep_connections < 0 or idle_seconds <= 0 or mails_per_connection < 1:
            raise ValueError("keep_connections must be 0 or more, idle_seconds and mails_per_connection positive")
        self._server = _parse_smtp_url(url)
        self._envelope_from = _parse_mailbox("sender", sender).addr_spec
        self.sender = sender
        self.timeout = timeout
        self.signer = signer
        self.keep_connections = keep_connections
        self.idle_seconds = idle_seconds
        self.mails_per_connection = mails_per_connection
        self._idle: list[_KeptConnection] = []
        self._quitting: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        server = self._server
        scheme = "smtps" if server.use_tls else "smtp"
        login = f"{server.username}:***@" if server.username is not None else ""
        return f"SmtpMailer({scheme}://{login}{server.host}:{server.port})"

    async def send(self, mail: Mail) -> None:
        message = build_message(mail, sender=self.sender)
        recipient = _parse_mailbox("to", mail.to)
        data: EmailMessage | bytes = message
        if self.signer is not None:
            raw = message.as_bytes(policy=email.policy.SMTP)
            data = self.signer(raw) + raw
        while True:
            connection = self._take_idle()
            reused = connection is not None
            if connection is None:
                connection = _KeptConnection(self._new_client())
            client = connection.client
            if reused:
                try:
                    await client.noop()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()  # the server dropped it, or says it is closing (421): take another
                    continue
            try:
                if not reused:
                    await client.connect()
                if isinstance(data, bytes):
                    await client.sendmail(self._envelope_from, [recipient.addr_spec], data)
                else:
                    await client.send_message(data, sender=self._envelope_from, recipients=[recipient.addr_spec])
            except (aiosmtplib.SMTPException, OSError) as exc:
                client.close()
                # Suppress the cause: it is the library's own wording, which we cannot vouch for.
                raise MailError(self._describe(exc, recipient), code=_reply_code(exc)) from None
            except BaseException:
                client.close()
                raise
            break
        connection.mails += 1
        if len(self._idle) < self.keep_connections and connection.mails < self.mails_per_connection:
            connection.expiry = asyncio.get_running_loop().call_later(self.idle_seconds, self._expire, connection)
            self._idle.append(connection)
        else:
            await _quit(client)
        _log_sent(recipient, mail.subject, "smtp")

    def _new_client(self) -> aiosmtplib.SMTP:
        server = self._server
        return aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            start_tls=False if server.use_tls else None,
            timeout=self.timeout,
        )

    def _take_idle(self) -> _KeptConnection | None:
        """The most recently used kept connection still open (the least likely to have timed out), or None."""
        while self._idle:
            connection = self._idle.pop()
            if connection.expiry is not None:
                connection.expiry.cancel()
            if connection.client.is_connected:
                return connection
            connection.client.close()
        return None

    def _expire(self, connection: _KeptConnection) -> None:
        if connection in self._idle:
            self._idle.remove(connection)
            self._quit_later(connection.client)

    def _quit_later(self, client: aiosmtplib.SMTP) -> None:
        """QUIT from a timer, in a task that `close` waits for."""
        task = asyncio.get_running_loop().create_task(_quit(client))
        self._quitting.add(task)
        task.add_done_callback(self._quitting.discard)

    def _describe(self, exc: BaseException, recipient: Address) -> str:
        """The failure in words, with the password hidden and the recipient reduced to its domain."""
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            reason = f"server replied {exc.code} {exc.message}"
        elif isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            reason = "; ".join(f"server replied {r.code} {r.message}" for r in exc.recipients)
        else:
            reason = f"{type(exc).__name__}: {exc}"
        message = f"mail to SMTP server {self._server.host}:{self._server.port} failed: {reason}"
        message = message.replace(recipient.addr_spec, f"***@{recipient.domain}")
        password = self._server.password
        if password:
            message = message.replace(password, "***")
        return message

    async def close(self) -> None:
        """QUIT the kept connections (and wait for those already quitting); the mailer can still send after."""
        while self._idle:
            connection = self._idle.pop()
            if connection.expiry is not None:
                connection.expiry.cancel()
            self._quit_later(connection.client)
        if self._quitting:
            await asyncio.wait(set(self._quitting))


@dataclass(eq=False)
class _KeptConnection:
    client: aiosmtplib.SMTP
    mails: int = 0
    expiry: asyncio.TimerHandle | None = None


QUIT_SECONDS = 5.0


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit(timeout=QUIT_SECONDS)
    finally:
        client.close()


def _reply_code(exc: BaseException) -> int | None:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return exc.recipients[0].code
    return None


def create_mailer(*, smtp_url: str | None, outbox_dir: Path, sender: str, signer: Signer | None = None) -> Mailer:
    """`SmtpMailer` if an SMTP URL is given (its messages signed by ``signer``), else `OutboxMailer` into
    ``outbox_dir`` (unsigned: the outbox is for reading mail on this machine)."""
    if smtp_url is not None:
        return SmtpMailer(smtp_url, sender=sender, signer=signer)
    return OutboxMailer(outbox_dir, sender=sender)
