"""OTA updates for Tauri apps: releases, signed artifacts, channels and staged rollouts, the updater protocol.

Nothing depends on ota; ``DOMAIN`` is the plug-in the daemon loads (see docs/ota.md).
"""

from mnwd.ota.domain import DOMAIN

__all__ = ["DOMAIN"]
