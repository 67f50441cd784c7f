"""A real aiosmtpd server on loopback, and services whose mailer sends to it."""

from __future__ import annotations

import asyncio
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mnwd.config import Config
from tests.support.daemon import free_port
from tests.support.db import MIGRATIONS_DIR


@dataclass
class Sink:
    """aiosmtpd handler keeping what it received. ``replies`` are answered to DATA first, one each (a code and
    text such as ``"451 4.3.0 try later"``), ``mail_replies`` and ``noop_replies`` likewise to MAIL FROM and
    NOOP; ``stall`` makes DATA keep
    the message and never answer. ``peers`` holds the client's address and port of each message received
    (one port per connection), ``quits`` counts the QUIT commands."""

    replies: list[str] = field(default_factory=list)
    mail_replies: list[str] = field(default_factory=list)
    noop_replies: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    stall_after_receiving: bool = False
    stall_before_receiving: bool = False
    envelopes: list[Envelope] = field(default_factory=list)
    peers: list[object] = field(default_factory=list)
    quits: int = 0

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_NOOP(self, server: SMTP, session: Session, envelope: Envelope, arg: str) -> str:
        return self.noop_replies.pop(0) if self.noop_replies else "250 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.quits += 1
        return "221 Bye"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refused:
            return self.refused[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.stall_before_receiving:
            await asyncio.sleep(3600)
        if self.replies:
            return self.replies.pop(0)
        self.envelopes.append(envelope)
        self.peers.append(session.peer)
        if self.stall_after_receiving:
            await asyncio.sleep(3600)
        return "250 2.0.0 Accepted"

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=email.policy.default)
        return [parser.parsebytes(e.content) for e in self.envelopes if isinstance(e.content, bytes)]

    def headers(self) -> list[EmailMessage]:
        """The messages' headers only (no body parsed): cheap for thousands of messages."""
        parser = BytesHeaderParser(policy=email.policy.default)
        return [parser.parsebytes(e.content) for e in self.envelopes if isinstance(e.content, bytes)]

    def raw(self) -> list[bytes]:
        return [e.content for e in self.envelopes if isinstance(e.content, bytes)]


class LoopbackController(Controller):
    """Listens on a port the kernel picks, learned from the bound socket, so parallel runs never collide."""

    async def _create_server(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=0)
        self.port = server.sockets[0].getsockname()[1]
        return server


@dataclass
class SmtpSink:
    sink: Sink
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def run_sink(sink: Sink, **options: Any) -> Iterator[SmtpSink]:
    controller = LoopbackController(sink, hostname="127.0.0.1", server_hostname="mx.test", **options)
    controller.start()
    try:
        yield SmtpSink(sink, controller.port)
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    yield from run_sink(Sink())


def make_config(tmp_path: Path, db_url: str, env: dict[str, str] | None = None, **overrides: Any) -> Config:
    return Config.from_env(
        {"MNWD_DB_POOL_MIN": "1", **(env or {})},
        data_dir=tmp_path / "var",
        ssh_port=free_port(),
        database_url=db_url,
        migrations_dir=MIGRATIONS_DIR,
        log_format="text",
        mail_from="mnwd <no-reply@mnwd.test>",
        **overrides,
    )


@pytest.fixture
def outbound_env() -> dict[str, str]:
    """Settings of the test's services; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def config(tmp_path: Path, db_url: str, smtp: SmtpSink, outbound_env: dict[str, str]) -> Config:
    return make_config(tmp_path, db_url, outbound_env, smtp_url=smtp.url)
