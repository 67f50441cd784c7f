"""Registered apps: what a creator registers to use SyncKit, OAuth (and later OTA and licensing): the
client id, the server-side API key, the redirect-URI rules; their dashboard pages and ``mnwd app``.

What other domains may use:

- `App`, `get_app(pool, app_id)`, `get_app_by_slug(pool, slug)`, `get_app_by_api_key(pool, key)`: look-ups
  (see `mnwd.apps.registry`; an inactive app is returned too, the caller must refuse it);
- `list_creator_apps(pool, creator_id)`: a creator's apps (`AppDetails`), newest first;
- `redirect_uri_matches(candidate, registered)`: the one matching rule of OAuth redirects;
- `on_app_change(services, hook)`: be told in this daemon when an app is deactivated or reactivated;
- `add_app_panel(app, panel)`: add a panel of one's own to every app's dashboard page.
"""

from mnwd.apps.domain import DOMAIN
from mnwd.apps.panels import AppPanel, add_app_panel
from mnwd.apps.redirect_uris import redirect_uri_matches
from mnwd.apps.registry import (
    App,
    AppDetails,
    get_app,
    get_app_by_api_key,
    get_app_by_slug,
    list_creator_apps,
    on_app_change,
)

__all__ = [
    "DOMAIN",
    "App",
    "AppDetails",
    "AppPanel",
    "add_app_panel",
    "get_app",
    "get_app_by_api_key",
    "get_app_by_slug",
    "list_creator_apps",
    "on_app_change",
    "redirect_uri_matches",
]
