"""Sending the browser on to Stripe after one of our forms.

Browsers apply the form page's CSP ``form-action`` to the redirects that answer a form, and the store's item
page allows only itself; so a form whose next stop is Stripe (Checkout, onboarding, the billing portal) is
answered with a small page of ours that goes on by itself (``<meta http-equiv="refresh">``, and a link).
A URL on our own site is a plain 303.
"""

from __future__ import annotations

from aiohttp import web

from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render

__all__ = ["leave_for"]


async def leave_for(request: web.Request, url: str, where: str = "Stripe") -> web.Response:
    base = request.app[SERVICES].config.base_url.rstrip("/")
    if url.startswith(base + "/"):
        return redirect(url[len(base) :])
    if url.startswith("/") and not url.startswith("//"):
        return redirect(url)
    return await render(request, "commerce/continue.html", {"url": url, "where": where})
