"""The mail that tells someone a creator gave them a license key (a comp issued to their e-mail address).

- ``check_comp_email(email)`` → the address as given, stripped, or ``None`` when it is not one bare mail
  address the outbound queue accepts (the callers turn that into a 422 naming the field or line).
- ``mail_comp(services, tx, key_id=, key=, item=, email=, owned=)`` queues the mail in the issuing transaction
  (`mnwd.outbound.enqueue_mail`), keyed by the license key (``comp-key:<key id>``): whatever retries the
  transaction or the request, one comp gives one mail. The key is in the queued message only until it is sent.

What it says: the key, who gave it and for what; with ``owned`` (an account has verified the address) that it
is in ``/library/keys``; otherwise how to claim it: sign up with this address at ``/signup`` and confirm it
(the link in the sign-up mail), or, with an account that has this address but has not confirmed it, confirm it
(or sign in with a link sent to it), then open ``/library/keys``. The key works in the app at once either way.
"""

from __future__ import annotations

import uuid
from typing import Any

from mnwd.db.tx import Tx
from mnwd.mail import Mail, parse_address
from mnwd.outbound import enqueue_mail
from mnwd.services import Services

__all__ = ["MAX_EMAIL_CHARS", "check_comp_email", "mail_comp"]

MAX_EMAIL_CHARS = 254


def check_comp_email(email: str) -> str | None:
    email = email.strip()
    if not email or len(email) > MAX_EMAIL_CHARS or "@" not in email:
        return None
    if any(c.isspace() or c in '<>,;"' for c in email):
        return None
    try:
        address = parse_address(email)
    except ValueError:
        return None
    return email if not address.display_name else None


async def mail_comp(
    services: Services, tx: Tx, *, key_id: uuid.UUID, key: str, item: Any, email: str, owned: bool
) -> None:
    base = services.config.base_url.rstrip("/")
    giver = item["creator_username"]
    title = item["title"]
    if owned:
        claim = f"It is in your library, with the devices using it: {base}/library/keys\n"
    else:
        claim = (
            "To keep it in your library (and free its devices there), use an account with this address:\n\n"
            f"- no account yet: sign up at {base}/signup with {email}, then confirm the address with the link in "
            "the mail that follows;\n"
            f"- an account with this address that is not confirmed yet: confirm it (or sign in with a link sent "
            f"to it, {base}/login/link).\n\n"
            f"The key then shows at {base}/library/keys.\n"
        )
    mail = Mail(
        to=email,
        subject=f"{giver} gave you a license key for {title}",
        text=(
            f"Hello,\n\n{giver} gave you a license key for {title}:\n\n"
            f"    {key}\n\n"
            f"Enter it in the app to activate it.\n\n{claim}"
        ),
    )
    if await enqueue_mail(tx.conn, mail, key=f"comp-key:{key_id}") is not None:
        tx.after_commit(services.jobs.wake)
