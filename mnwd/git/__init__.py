"""Git hosting: SSH keys, the SSH server that runs the real git on bare repos, smart-HTTP clone, the
/source/ browser and a per-repo issue tracker.

What other domains may use: ``DOMAIN``, the plug-in the daemon loads (see docs/git.md); `PushedEvent`, one
ref changed by a push, and ``on_pushed(services, handler)``, which calls ``handler(event)`` (a function or a
coroutine function) for every push heard on any daemon (`mnwd.git.events`; OTA builds subscribe there).
"""

from mnwd.git.domain import DOMAIN
from mnwd.git.events import PushedEvent, on_pushed

__all__ = ["DOMAIN", "PushedEvent", "on_pushed"]
