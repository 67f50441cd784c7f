"""Storefront catalog: creators' profiles, projects, items, file versions, tags, labels, search, media,
follows, blog posts, collections, reports, and their public pages and dashboard.

What other domains may use: ``DOMAIN``, the plug-in the daemon loads (see docs/store.md), and
``add_download_grant`` (`mnwd.store.grants`), by which commerce lets buyers download what they paid for.
"""

from mnwd.store.domain import DOMAIN
from mnwd.store.grants import add_download_grant

__all__ = ["DOMAIN", "add_download_grant"]
