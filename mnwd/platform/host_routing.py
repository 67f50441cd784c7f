"""Serving creators' verified domains by the ``Host`` header (a middleware, the innermost).

A request for this site's own host (``MNWD_PUBLIC_URL``), a single-label name (``localhost``) or an IP address
goes on as usual (so does any request when ``MNWD_PLATFORM_HOST_ROUTING`` is off).
For any other host: a verified custom domain serves its owner's pages, ``/`` as ``/@owner`` and ``/x`` as
``/@owner/x`` (``/static/`` as is), resolved again on the router; an unknown host is a 404 page. A path
naming another creator (``/@other``) becomes ``/@owner/@other``, which no route serves: one domain never
shows another creator's content. ``/tls-ask`` stays the proxy's question on every host. The owner's own
long paths (``/@owner``, ``/@owner/x``: the links the store's pages write) are redirected (``308``) to their
short form on the domain (``/``, ``/x``), so every link within a creator's pages works there. A ``GET`` of a
path that is none of the creator's pages (their handler answers 404) but one of the site's routes
(``/search?q=``, ``/tags/x``, ``/login?next=``; never ``/@other``) is redirected (``307``) to the main site's
absolute URL: the creator's pages come first (a project named ``search`` is served).

No session on a custom domain: the request a creator's page sees there carries no ``Cookie`` (a browser never
sends the main host's host-only session cookie to another host; one sent anyway, by a client or a proxy that
shares cookies, is dropped), so every page a domain serves is the public one, signed out, and none of them
holds a form with the main host's CSRF token, which a browser posting from the domain could not use anyway
(`mnwd.web.csrf` refuses a cross-site post). What needs the session is a link to the main site: its pages
write "sign in to buy / follow / add to a collection" as ``{{ main_site }}/login?next=<the page on the main
site>``, which a signed-in visitor passes straight through to the page with the form. The one form a domain's
pages keep is a mailing list's signup, which needs no session: it posts to the main site's
``/lists/{id}/subscribe`` (CSRF-exempt: it can only mail a confirmation link), as the embeddable snippet does
from any site. The domain's pages say so in their ``Content-Security-Policy``: ``form-action`` and ``img-src``
allow the main site's origin too (media links lead there).

``site_links(request)`` is the platform's ``page_context``: ``main_site``, the site's absolute base URL
(``MNWD_PUBLIC_URL``) on a custom domain (or any host not this site's), else ``""``. The base template writes
its header links (the brand, search, source, sign-in, sign-up, the signed-in menu and sign-out) as
``{{ main_site }}/search`` and so on: on a custom domain they lead to the main site, which serves them and
holds the session (a session cookie belongs to the main host; nothing signs in on a creator's domain).
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from mnwd.errors import NotFound
from mnwd.platform import domains
from mnwd.platform.settings import PlatformSettings
from mnwd.web.keys import SERVICES
from mnwd.web.middleware import page_policy

__all__ = ["host_middleware", "site_links"]

PASS_THROUGH = ("/static/", "/tls-ask", "/healthz", "/readyz")


@functools.lru_cache(maxsize=4096)
def _is_own_host(host: str, public: str | None) -> bool:
    # A custom domain always has a dot: single-label names (localhost, an internal name) are this site's.
    if host == public or "." not in host or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=16)
def _hostname(url: str) -> str | None:
    return urlsplit(url).hostname


def _request_host(request: web.Request) -> str:
    return (request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host).lower().rstrip(".")


def _on_custom_host(request: web.Request) -> bool:
    services = request.app[SERVICES]
    if not services.config.section(PlatformSettings).host_routing:
        return False
    return not _is_own_host(_request_host(request), _hostname(services.config.base_url))


async def site_links(request: web.Request) -> dict[str, Any]:
    return {"main_site": request.app[SERVICES].config.base_url.rstrip("/") if _on_custom_host(request) else ""}


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    services = request.app[SERVICES]
    if not services.config.section(PlatformSettings).host_routing:
        return await handler(request)
    host = _request_host(request)
    if _is_own_host(host, _hostname(services.config.base_url)) or request.path.startswith(PASS_THROUGH):
        return await handler(request)
    owner = await domains.owner_of_host(services.pool, host)
    if owner is None:
        raise NotFound(f"{host} is not a site here.")
    own = f"/@{owner}"
    if request.path == own or request.path.startswith(own + "/"):
        short = request.path[len(own) :] or "/"
        if request.method in ("GET", "HEAD"):
            location = URL.build(path=short, query_string=request.query_string, encoded=False)
            raise web.HTTPPermanentRedirect(str(location))
        path = request.path  # a form posted to the long path: served as it is
    else:
        path = own if request.path == "/" else f"{own}{request.path}"
    headers = CIMultiDict(request.headers)
    headers.popall(hdrs.COOKIE, None)
    routed = request.clone(
        rel_url=URL.build(path=path, query_string=request.query_string, encoded=False),
        headers=CIMultiDictProxy(headers),
    )
    match = await request.app.router.resolve(routed)
    match.add_app(request.app)
    match.freeze()
    routed._match_info = match  # what aiohttp's own dispatch sets
    try:
        response = await match.handler(routed)
    except (NotFound, web.HTTPNotFound):
        if request.method not in ("GET", "HEAD") or request.path.startswith("/@"):
            raise
        if request.match_info.http_exception is not None:
            raise
        # Not the creator's (/@name/x is none of their pages) but a page of the site (search, a tag, sign-in):
        # the creator's own pages come first, then the main site.
        raise web.HTTPTemporaryRedirect(services.config.base_url.rstrip("/") + request.path_qs) from None
    if isinstance(response, web.Response) and (response.content_type or "").startswith("text/html"):
        response.headers[hdrs.CONTENT_SECURITY_POLICY] = _domain_page_policy(services.config.base_url)
    return response


@functools.lru_cache(maxsize=4)
def _domain_page_policy(base_url: str) -> str:
    """The pages' policy on a custom domain: the main site is also a form's target (a list's signup posts
    there) and an image's source (media and the store's links to them are the main site's, reached through
    the domain's redirect, which the browser checks against ``img-src`` too)."""
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    policy = page_policy(f"'self' {origin}")
    return policy.replace("img-src 'self' data:", f"img-src 'self' data: {origin}", 1)
