"""Storefront catalog: creators' profiles, projects, items, file versions, tags, labels, search, media,
follows, blog posts, collections, reports, and their public pages and dashboard.

What other domains may use: ``DOMAIN``, the plug-in the daemon loads (see docs/store.md);
``add_download_grant`` (`mnwd.store.grants`), by which commerce lets buyers download what they paid for; the
reports queue for the platform's admin pages: ``Report``, ``REPORT_STATUSES``, ``list_reports``,
``count_reports``, ``get_report``, ``decide_report`` and ``unpublish_reported`` (see `mnwd.store.reports`);
``PROJECT_DELETION_HOOKS`` and ``ITEM_DELETION_HOOKS`` (`mnwd.store.deletions`), by which commerce stops at
Stripe what a deleted project or item leaves billing.
"""

from mnwd.store.deletions import ITEM_DELETION_HOOKS, PROJECT_DELETION_HOOKS
from mnwd.store.domain import DOMAIN
from mnwd.store.grants import add_download_grant
from mnwd.store.reports import STATUSES as REPORT_STATUSES
from mnwd.store.reports import Report, get_report
from mnwd.store.reports import count_by_status as count_reports
from mnwd.store.reports import decide as decide_report
from mnwd.store.reports import list_queue as list_reports
from mnwd.store.reports import unpublish as unpublish_reported

__all__ = [
    "DOMAIN",
    "ITEM_DELETION_HOOKS",
    "PROJECT_DELETION_HOOKS",
    "REPORT_STATUSES",
    "Report",
    "add_download_grant",
    "count_reports",
    "decide_report",
    "get_report",
    "list_reports",
    "unpublish_reported",
]
