"""Bounce and complaint reports, read into `BounceEvent`s; no I/O here.

- `parse_report(data)`: one message delivered to the bounce mailbox. A delivery status notification
  (RFC 3464: ``multipart/report; report-type=delivery-status``) gives one event per recipient whose
  ``Action`` is ``failed``: a ``Status`` of 5.x.x is a hard bounce, 4.x.x a soft one. A feedback report
  (RFC 5965 ARF: ``report-type=feedback-report``, what mailbox providers send for "this is spam") gives a
  complaint about the enclosed message's recipient (``Original-Rcpt-To``, else the enclosed ``To``).
  Anything else (an auto-reply, a "delayed" DSN) gives nothing.
- `parse_webhook(body)`: the JSON of ``POST /mail/webhook`` (docs/mail.md)::

      {"events": [{"type": "hard_bounce" | "soft_bounce" | "complaint", "email": "a@b.org",
                   "diagnostic": "550 5.1.1 user unknown"}]}

  at most 1000 events; ValueError naming the first problem, for a 400 that changes nothing.

Hard bounces and complaints suppress the address (`mnwd.outbound.suppressions.apply_events`); soft bounces
are counted and ignored, since the queue retries temporary failures itself.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

from mnwd.mail import parse_address

__all__ = ["MAX_WEBHOOK_EVENTS", "BounceEvent", "parse_report", "parse_webhook"]

MAX_WEBHOOK_EVENTS = 1000
KINDS = ("hard_bounce", "soft_bounce", "complaint")


@dataclass(frozen=True)
class BounceEvent:
    kind: str  # one of KINDS
    email: str
    diagnostic: str = ""


def _address(value: str) -> str | None:
    """The bare address of ``rfc822; a@b.org``, ``<a@b.org>`` or ``a@b.org``; None if there is none."""
    value = value.split(";", 1)[1] if ";" in value else value
    value = value.strip().strip("<>").strip()
    try:
        return parse_address(value).addr_spec
    except ValueError:
        return None


def _status_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [block for block in payload if isinstance(block, Message)] if isinstance(payload, list) else []


def parse_report(data: bytes) -> list[BounceEvent]:
    message = BytesParser(policy=email.policy.default).parsebytes(data)
    if message.get_content_type() != "multipart/report":
        return []
    report_type = (message.get_param("report-type") or "").lower()  # type: ignore[union-attr]
    parts = list(message.iter_parts()) if isinstance(message, EmailMessage) else []
    if report_type == "delivery-status":
        return _delivery_status(parts)
    if report_type == "feedback-report":
        return _feedback(parts)
    return []


def _delivery_status(parts: list[Any]) -> list[BounceEvent]:
    events: list[BounceEvent] = []
    for part in parts:
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _status_blocks(part)[1:]:  # the first block is about the message, the rest per recipient
            action = str(block.get("Action", "")).strip().lower()
            status = str(block.get("Status", "")).strip()
            recipient = _address(str(block.get("Final-Recipient", "") or block.get("Original-Recipient", "")))
            if action != "failed" or recipient is None:
                continue
            kind = "hard_bounce" if status.startswith("5") else "soft_bounce"
            diagnostic = " ".join(str(block.get("Diagnostic-Code", status)).split())[:500]
            events.append(BounceEvent(kind, recipient, diagnostic))
    return events


def _feedback(parts: list[Any]) -> list[BounceEvent]:
    recipient: str | None = None
    feedback_type = ""
    for part in parts:
        content_type = part.get_content_type()
        if content_type == "message/feedback-report":
            blocks = _status_blocks(part)
            fields = blocks[0] if blocks else None
            if fields is not None:
                feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
                if fields.get("Original-Rcpt-To"):
                    recipient = _address(str(fields["Original-Rcpt-To"]))
        elif content_type in ("message/rfc822", "text/rfc822-headers") and recipient is None:
            enclosed = part.get_payload()
            if isinstance(enclosed, list) and enclosed:
                enclosed = enclosed[0]
            if isinstance(enclosed, str):
                enclosed = BytesParser(policy=email.policy.default).parsebytes(enclosed.encode(), headersonly=True)
            if isinstance(enclosed, Message) and enclosed.get("To"):
                recipient = _address(str(enclosed["To"]))
    if recipient is None or feedback_type not in ("abuse", "fraud", ""):
        return []
    return [BounceEvent("complaint", recipient, f"feedback-report {feedback_type or 'abuse'}")]


def parse_webhook(body: Any) -> list[BounceEvent]:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ValueError('the body must be a JSON object {"events": [...]}')
    raw_events = body["events"]
    if len(raw_events) > MAX_WEBHOOK_EVENTS:
        raise ValueError(f"at most {MAX_WEBHOOK_EVENTS} events in one request")
    events = []
    for n, raw in enumerate(raw_events):
        if not isinstance(raw, dict):
            raise ValueError(f"events[{n}] is not an object")
        kind, address, diagnostic = raw.get("type"), raw.get("email"), raw.get("diagnostic", "")
        if kind not in KINDS:
            raise ValueError(f"events[{n}].type must be one of {', '.join(KINDS)}")
        if not isinstance(address, str) or len(address) > 320:
            raise ValueError(f"events[{n}].email must be a mail address")
        bare = _address(address)
        if bare is None or "," in address:
            raise ValueError(f"events[{n}].email is not one mail address")
        if not isinstance(diagnostic, str):
            raise ValueError(f"events[{n}].diagnostic must be a string")
        events.append(BounceEvent(kind, bare, " ".join(diagnostic.split())[:500]))
    return events
