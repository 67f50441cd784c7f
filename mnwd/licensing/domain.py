"""The licensing domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

from pathlib import Path

from mnwd.domain import Domain, JobKind, Periodic
from mnwd.licensing import activations, issuance
from mnwd.licensing.settings import LicensingSettings

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
SWEEP_EVERY_SECONDS = 60.0

DOMAIN = Domain(
    name="licensing",
    templates=TEMPLATES,
    settings=LicensingSettings,
    jobs=(
        JobKind(issuance.ISSUE_JOB, issuance.run_issue_for_purchase),
        JobKind(issuance.REVOKE_JOB, issuance.run_revoke_for_transaction),
        JobKind(issuance.RESTORE_JOB, issuance.run_restore_for_transaction),
    ),
    periodic=(
        Periodic("licensing.dead_leases", SWEEP_EVERY_SECONDS, activations.sweep_dead_leases),
        Periodic("licensing.refunds", SWEEP_EVERY_SECONDS, issuance.revoke_refunded),
    ),
)
