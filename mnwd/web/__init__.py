"""The HTTP side: app factory (`mnwd.web.app.create_app`), middleware, pages, health and metrics routes."""
