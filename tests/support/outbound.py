"""Jobs run as a daemon's loop would run them: a job that mails queues an ``outbound.send`` job, which the
loop claims at once; tests that run jobs by hand run that second pass here."""

from __future__ import annotations

from mnwd.services import Services

__all__ = ["run_jobs"]


async def run_jobs(services: Services, limit: int = 100) -> int:
    """Run the due jobs once, then the mail jobs they queued; the number of the first pass (as ``run_due``)."""
    ran = await services.jobs.run_due(limit)
    more = ran
    while more:
        more = await services.jobs.run_due(limit)
    return ran
