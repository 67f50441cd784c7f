"""SyncKit: registered apps (client ids, API keys, redirect URIs); the sync protocol joins them here.

Pages are registered by `mnwd.sync.routes.setup_routes`; other domains call `mnwd.sync.apps`.
"""
