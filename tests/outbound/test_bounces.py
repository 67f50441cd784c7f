"""Suppressions from the three ways in: the webhook (shared secret), the bounce inbox (RFC 3464 DSNs and ARF
complaints delivered as files) and the operator's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from mnwd.config import Config
from mnwd.domain import CommandContext, CommandError
from mnwd.domains import open_all_services
from mnwd.outbound import is_suppressed
from mnwd.outbound.bounces import parse_report
from mnwd.outbound.commands import list_addresses, suppress_address, unsuppress_address
from mnwd.outbound.suppressions import read_bounce_inbox
from mnwd.services import Services

SECRET = "s3cret-for-the-bounce-webhook"


@pytest.fixture
def outbound_env(tmp_path: Path) -> dict[str, str]:
    return {"MNWD_MAIL_WEBHOOK_SECRET": SECRET, "MNWD_MAIL_BOUNCE_INBOX": str(tmp_path / "bounces")}


def dsn(recipient: str, status: str, action: str = "failed") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\r\n"
        "To: bounces@mnwd.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n"
        "Arrival-Date: Thu, 3 Dec 2026 12:00:00 +0000\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} <{recipient}>: Recipient address rejected\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"From: no-reply@mnwd.test\r\nTo: {recipient}\r\nSubject: Hello\r\n"
        "--B--\r\n"
    ).encode()


def arf(recipient: str) -> bytes:
    return (
        "From: feedback@provider.example\r\n"
        "To: bounces@mnwd.test\r\n"
        "Subject: FW: Hello\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n'
        "\r\n"
        "--F\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "This is an email abuse report.\r\n"
        "--F\r\n"
        "Content-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\n"
        "User-Agent: SomeGenerator/1.0\r\n"
        "Version: 1\r\n"
        "\r\n"
        "--F\r\n"
        "Content-Type: message/rfc822\r\n\r\n"
        f"From: no-reply@mnwd.test\r\nTo: {recipient}\r\nSubject: Hello\r\n\r\nHi\r\n"
        "--F--\r\n"
    ).encode()


def test_a_dsn_gives_a_hard_or_soft_bounce_per_failed_recipient() -> None:
    [hard] = parse_report(dsn("Gone@Example.org", "5.1.1"))
    assert (hard.kind, hard.email) == ("hard_bounce", "Gone@Example.org")
    assert "5.1.1" in hard.diagnostic
    [soft] = parse_report(dsn("full@example.org", "4.2.2"))
    assert soft.kind == "soft_bounce"
    assert parse_report(dsn("later@example.org", "4.4.1", action="delayed")) == []
    assert parse_report(b"From: a@b.org\r\nSubject: Out of office\r\n\r\nI am away.\r\n") == []
    assert parse_report(b"\x00\xff garbage") == []
    [complaint] = parse_report(arf("angry@example.org"))
    assert (complaint.kind, complaint.email) == ("complaint", "angry@example.org")


async def test_the_bounce_inbox_suppresses_and_moves_each_file_once(services: Services, config: Config) -> None:
    inbox = Path(config.env["MNWD_MAIL_BOUNCE_INBOX"])
    inbox.mkdir()
    (inbox / "1.eml").write_bytes(dsn("gone@example.org", "5.1.1"))
    (inbox / "2.eml").write_bytes(dsn("full@example.org", "4.2.2"))
    (inbox / "3.eml").write_bytes(arf("angry@example.org"))
    (inbox / "4.eml").write_bytes(b"not a mail at all")
    counts = await read_bounce_inbox(services)
    assert (counts.suppressed, counts.ignored) == (2, 1)
    assert await is_suppressed(services.pool, "GONE@example.org")
    assert await is_suppressed(services.pool, "angry@example.org")
    assert not await is_suppressed(services.pool, "full@example.org")
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["1.eml", "2.eml", "3.eml", "4.eml"]
    assert [p.name for p in inbox.iterdir()] == ["processed"]
    again = await read_bounce_inbox(services)
    assert (again.suppressed, again.already) == (0, 0)
    reason = await services.pool.fetchval("SELECT reason FROM email_suppressions WHERE email = 'angry@example.org'")
    assert reason == "SpamComplaint"


async def post_webhook(client: TestClient, body: Any, secret: str | None = SECRET) -> Any:  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    return await client.post("/mail/webhook", json=body, headers=headers)


async def test_the_webhook_suppresses_hard_bounces_and_complaints(client: TestClient, services: Services) -> None:  # type: ignore[type-arg]
    body = {
        "events": [
            {"type": "hard_bounce", "email": "Gone@example.org", "diagnostic": "550 5.1.1 no such user"},
            {"type": "complaint", "email": "angry@example.org"},
            {"type": "soft_bounce", "email": "full@example.org"},
        ]
    }
    response = await post_webhook(client, body)
    assert response.status == 200
    assert await response.json() == {"suppressed": 2, "already": 0, "ignored": 1}
    assert await is_suppressed(services.pool, "gone@EXAMPLE.org")
    response = await post_webhook(client, body)
    assert await response.json() == {"suppressed": 0, "already": 2, "ignored": 1}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"events": "x"},
        {"events": [{"type": "bounce", "email": "a@b.org"}]},
        {"events": [{"type": "complaint", "email": "a@b.org, c@d.org"}]},
        {"events": [{"type": "complaint", "email": "<script>"}]},
        {"events": [{"type": "complaint", "email": "ok@b.org"}, {"type": "complaint"}]},
        {"events": [{"type": "complaint", "email": "a@b.org"}] * 1001},
    ],
)
async def test_a_malformed_report_is_400_and_changes_nothing(
    client: TestClient,  # type: ignore[type-arg]
    services: Services,
    body: Any,
) -> None:
    response = await post_webhook(client, body)
    assert response.status == 400
    assert response.content_type == "application/problem+json"
    assert await services.pool.fetchval("SELECT count(*) FROM email_suppressions") == 0


async def test_the_webhook_needs_the_secret(client: TestClient, services: Services) -> None:  # type: ignore[type-arg]
    body = {"events": [{"type": "complaint", "email": "a@b.org"}]}
    for secret in (None, "wrong", SECRET + "x", ""):
        response = await post_webhook(client, body, secret)
        assert response.status == 401
    assert await services.pool.fetchval("SELECT count(*) FROM email_suppressions") == 0


async def test_the_operator_suppresses_lists_and_unsuppresses(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    context = CommandContext(config, lambda: open_all_services(config, run_migrations=False))
    await suppress_address(context, argparse.Namespace(address="Someone@Example.org", reason="manual", note="by phone"))
    await suppress_address(context, argparse.Namespace(address="someone@example.org", reason="manual", note=""))
    await list_addresses(context, argparse.Namespace(limit=10))
    out = capsys.readouterr().out
    assert "Someone@Example.org suppressed." in out
    assert "already suppressed" in out
    assert "Manual" in out
    assert "by phone" in out
    with pytest.raises(CommandError, match="is not one mail address"):
        await suppress_address(context, argparse.Namespace(address="not an address", reason="manual", note=""))
    await unsuppress_address(context, argparse.Namespace(address="SOMEONE@example.org"))
    with pytest.raises(CommandError, match="is not suppressed"):
        await unsuppress_address(context, argparse.Namespace(address="someone@example.org"))
