"""License keys for items sold here: issuance (purchases, comps, bulk), the activation API apps call,
signed offline license files, buyers' control of their devices, creators' control of their keys.

What other domains may use: ``DOMAIN``, the plug-in the daemon loads (see docs/licensing.md). Commerce
talks to it through the job kinds it registers (``licensing.issue_for_purchase``,
``licensing.revoke_for_transaction``, ``licensing.restore_for_transaction``).
"""

from mnwd.licensing.domain import DOMAIN

__all__ = ["DOMAIN"]
