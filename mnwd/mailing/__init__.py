"""Mailing lists of creators' projects: signups with double opt-in, one-click unsubscribe (RFC 8058), imports
of an audience from Patreon, Gumroad and Ko-fi, and broadcasts (docs/mail.md, "Lists, imports and broadcasts").

What other domains may use: ``DOMAIN``, the plug-in the daemon loads.
"""

from mnwd.mailing.domain import DOMAIN

__all__ = ["DOMAIN"]
