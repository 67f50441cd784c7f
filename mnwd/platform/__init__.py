"""The creator platform: tier limits (with `mnwd.tiers`), the creator waitlist and its waves, invite codes,
the administration pages under ``/admin`` with their audit log, and creators' own domains (docs/platform.md).

What other domains may use: ``DOMAIN``, the plug-in the daemon loads. Nothing sits above it but the hubs.
"""

from mnwd.platform.domain import DOMAIN

__all__ = ["DOMAIN"]
