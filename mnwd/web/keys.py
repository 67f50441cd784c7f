from aiohttp import web

from mnwd.services import Services

SERVICES = web.AppKey("services", Services)
