"""Notification mail of the store, through `mnwd.outbound.notify` (each honours its ``users.notify_*`` flag
and carries a one-click unsubscribe):

- ``notify_followed(services, follower_id, target)``: a user gained a follower (``follower``). Once per
  follower and followed user for as long as the mail is kept (a follow, unfollow, follow again mails once).
- ``RELEASE_MAIL`` job, enqueued with a new version in its transaction (`queue_release_mail`): the
  followers of the item's project and of its creator hear of it (``release``), if the item and project are
  public when the job runs. The job runs at least once; each mail's key (version, follower) makes a re-run
  queue nothing twice.
"""

from __future__ import annotations

import uuid

import asyncpg

from mnwd.db.jobs import Job, enqueue
from mnwd.mail import Mail
from mnwd.outbound import notify
from mnwd.services import Services
from mnwd.store.follows import Target
from mnwd.store.queries import follows as queries

__all__ = ["RELEASE_MAIL", "notify_followed", "queue_release_mail", "send_release_mail"]

RELEASE_MAIL = "store.release_mail"


async def notify_followed(services: Services, follower_id: uuid.UUID, target: Target) -> None:
    if target.type != "user":
        return
    follower = await queries.get_username(services.pool, follower_id)
    if follower is None:
        return
    base = services.config.base_url
    mail = Mail(
        to="",
        subject=f"@{follower} now follows you on mnwd",
        text=f"@{follower} now follows you: they will see what you publish in their feed.\n\n{base}/@{follower}\n",
    )
    key = f"follower:{follower_id}:{target.id}"
    if await notify(services, services.pool, target.id, "follower", mail, key=key) is not None:
        services.jobs.wake()


async def queue_release_mail(conn: asyncpg.Connection, version_id: uuid.UUID) -> None:
    await enqueue(conn, RELEASE_MAIL, {"version_id": str(version_id)}, key=f"release:{version_id}")


async def send_release_mail(services: Services, job: Job) -> None:
    version_id = uuid.UUID(job.payload["version_id"])
    release = await queries.get_release(services.pool, version_id)
    if release is None or not release["public"]:
        return
    url = f"{services.config.base_url}/@{release['creator']}/{release['project_slug']}/{release['item_slug']}"
    mail = Mail(
        to="",
        subject=f"{release['item']} {release['version_number']} is out",
        text=(f"@{release['creator']} released version {release['version_number']} of {release['item']}.\n\n{url}\n"),
    )
    for user_id in await queries.list_release_followers(services.pool, release["project_id"], release["creator_id"]):
        await notify(services, services.pool, user_id, "release", mail, key=f"release:{version_id}:{user_id}")
