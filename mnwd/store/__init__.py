"""Storefront catalog: creators' profiles, projects, items, file versions, tags, labels, search, media,
follows, blog posts, collections, reports, and their public pages and dashboard.

What other domains may use: ``DOMAIN``, the plug-in the daemon loads (see docs/store.md).
"""

from mnwd.store.domain import DOMAIN

__all__ = ["DOMAIN"]
