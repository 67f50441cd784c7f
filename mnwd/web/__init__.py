"""The HTTP side: app factory, middleware, problem rendering, health and metrics routes."""

from mnwd.web.app import SERVICES, create_app

__all__ = ["SERVICES", "create_app"]
