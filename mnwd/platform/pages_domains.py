"""Custom domain pages: ``/settings/domains`` (a creator's domains: add one, see the DNS records to publish,
check now, remove), ``/admin/domains`` (every domain, for admins) and ``/tls-ask`` (the reverse proxy's
on-demand TLS question: 200 only for a verified domain)."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import require_viewer
from mnwd.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mnwd.platform import domains
from mnwd.platform.pages_admin import require_admin
from mnwd.web.csrf import csrf_exempt
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render
from mnwd.web.params import uuid_param

__all__ = ["setup"]

NO_SUCH_DOMAIN = "There is no such domain."


async def _list_context(request: web.Request) -> dict[str, object]:
    viewer = await require_viewer(request)
    if not viewer.can_create_projects:
        raise Forbidden("Only creators add custom domains.")
    services = request.app[SERVICES]
    cname, a_record = domains.targets(services)
    return {
        "domains": await domains.list_domains(services.pool, viewer.user_id),
        "cname": cname,
        "a_record": a_record,
        "form": {},
    }


async def list_page(request: web.Request) -> web.Response:
    return await render(request, "platform/domains.html", await _list_context(request))


async def add_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    host = field(form, "domain", max_chars=300)
    try:
        added = await domains.add_domain(request.app[SERVICES], viewer, host)
    except (ValidationFailed, Conflict) as problem:
        context = {**await _list_context(request), "form": {"domain": host}}
        return await render_problem(request, "platform/domains.html", problem, context)
    return redirect(f"/settings/domains/{added.id}")


async def domain_page(request: web.Request, check: domains.Check | None = None) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    domain = await domains.get_domain(services.pool, viewer, uuid_param(request, "domain_id", NO_SUCH_DOMAIN))
    cname, a_record = domains.targets(services)
    context = {"domain": domain, "cname": cname, "a_record": a_record, "check": check}
    return await render(request, "platform/domain.html", context)


async def check_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    await read_form(request)
    services = request.app[SERVICES]
    domain = await domains.get_domain(services.pool, viewer, uuid_param(request, "domain_id", NO_SUCH_DOMAIN))
    if domain.user_id != viewer.user_id:
        raise NotFound(NO_SUCH_DOMAIN)
    check = await domains.check_now(services, domain)
    return await domain_page(request, check)


async def delete_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    await read_form(request)
    await domains.delete_domain(request.app[SERVICES].pool, viewer, uuid_param(request, "domain_id", NO_SUCH_DOMAIN))
    return redirect("/settings/domains")


async def admin_page(request: web.Request) -> web.Response:
    await require_admin(request)
    listed = await domains.list_domains(request.app[SERVICES].pool, None)
    response = await render(request, "platform/admin_domains.html", {"domains": listed})
    response.headers["Cache-Control"] = "no-store"
    return response


@csrf_exempt
async def tls_ask(request: web.Request) -> web.Response:
    """Caddy's ``on_demand_tls { ask }``: 200 lets it get a certificate for ``?domain=``; anything else not."""
    if await domains.may_serve(request.app[SERVICES].pool, request.query.get("domain", "")[:300]):
        return web.Response(text="ok\n")
    raise NotFound("This is not a verified custom domain.")


def setup(app: web.Application) -> None:
    app.router.add_get("/settings/domains", list_page)
    app.router.add_post("/settings/domains", add_form)
    app.router.add_get("/settings/domains/{domain_id}", domain_page)
    app.router.add_post("/settings/domains/{domain_id}/check", check_form)
    app.router.add_post("/settings/domains/{domain_id}/delete", delete_form)
    app.router.add_get("/admin/domains", admin_page)
    app.router.add_get("/tls-ask", tls_ask)
