"""Git hosting: SSH keys, the SSH server that runs the real git on bare repos, smart-HTTP clone, the
/source/ browser and a per-repo issue tracker.

What other domains may use: ``DOMAIN``, the plug-in the daemon loads (see docs/git.md); `PushedEvent`, one
ref changed by a push, and ``on_pushed(services, handler)``, which calls ``handler(event)`` (a function or a
coroutine function) for every push heard on any daemon (`mnwd.git.events`; OTA builds subscribe there);
``find_repo(services, owner, name)`` -> `Repo` or None, and ``repo_path(services, repo_id)``, the bare
repository's directory on this daemon (OTA builds clone from it; read only).
"""

from mnwd.git.domain import DOMAIN
from mnwd.git.events import PushedEvent, on_pushed
from mnwd.git.repos import Repo, find_repo
from mnwd.git.repos import repo_dir as repo_path

__all__ = ["DOMAIN", "PushedEvent", "Repo", "find_repo", "on_pushed", "repo_path"]
