"""The base of the HTTP side: middleware, browser state and CSRF, forms, pages, JSON bodies, HTTP details
(ranges, entity tags, server-sent events), path parameters, health and metrics routes. The application is
assembled from the domains by `mnwd.app.create_app`."""
