"""The /source/ browser (repos, tree, file, raw, log, commit, refs), repo settings and issues."""

from __future__ import annotations

from aiohttp import web

from mnwd.git import issue_routes, pages_issues, pages_settings, pages_source


def setup(app: web.Application) -> None:
    """Adds the source browser, repo settings and the issue tracker (pages and JSON API)."""
    pages_settings.setup_new(app)  # /source/new before /source/{owner}
    pages_source.setup(app)
    pages_settings.setup(app)
    pages_issues.setup(app)
    issue_routes.setup(app)
