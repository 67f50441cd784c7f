"""Git hosting: SSH keys, the SSH server that runs the real git on bare repos, smart-HTTP clone, the
/source/ browser and a per-repo issue tracker.

What other domains may use: ``DOMAIN``, the plug-in the daemon loads (see docs/git.md).
"""

from mnwd.git.domain import DOMAIN

__all__ = ["DOMAIN"]
