"""mnwd: the server of a creator platform (SyncKit sync, PKCE OAuth, git over SSH, OTA updates, storefront)."""

__version__ = "0.1.0"
