"""OAuth 2.1 for SyncKit apps (public clients, PKCE with S256 only): authorize, token, revoke, introspect.

Pages and endpoints are registered by `mnwd.oauth.routes.setup_routes`; `mnwd.oauth.bearer` authenticates
API requests by their access token.
"""
