"""The "pushed" event: one per ref a push changed, to every daemon.

After a push commits (`mnwd.git.push.record_push`), each changed ref is published with
``NOTIFY mnwd_git_pushed, '<json>'`` through the daemon's LISTEN bus (`mnwd.db.listen`), so a build runner on
any daemon hears it. In-process, ``on_pushed(services, handler)`` registers ``handler(event)`` (a plain
function or a coroutine function) for every `PushedEvent`, this daemon's pushes and the others' alike: the
bus hands this daemon's own notifications back through the same connection, so every daemon sees one order.

Delivery is best effort, as for every LISTEN channel: a daemon that dies between the commit and the send
never sends, and a subscriber whose connection was lost hears ``listening(False)``. A consumer that must not
miss a push (OTA builds) compares ``git_repos.pushed_at`` with what it built when it hears that, and on
start. A handler's exception is logged and does not reach the others.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

import msgspec

from mnwd.services import ServiceKey, Services

__all__ = ["CHANNEL", "PUSH_EVENTS", "PushEvents", "PushedEvent", "on_pushed", "publish_pushed"]

log = logging.getLogger(__name__)

CHANNEL = "mnwd_git_pushed"
ZERO_SHA = "0" * 40
# PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more.
MAX_PAYLOAD_BYTES = 7_900


@dataclass(frozen=True)
class PushedEvent:
    """One ref changed by a push: ``old_sha`` is all zeros for a new ref, ``new_sha`` for a deleted one."""

    repo_id: uuid.UUID
    owner: str
    name: str
    ref: str
    old_sha: str
    new_sha: str
    pusher_id: uuid.UUID
    pusher: str

    @property
    def created(self) -> bool:
        return self.old_sha == ZERO_SHA

    @property
    def deleted(self) -> bool:
        return self.new_sha == ZERO_SHA

    def to_json(self) -> str:
        return msgspec.json.encode(asdict(self)).decode()

    @classmethod
    def from_json(cls, payload: str) -> PushedEvent:
        raw = msgspec.json.decode(payload)
        return cls(
            repo_id=uuid.UUID(raw["repo_id"]),
            owner=raw["owner"],
            name=raw["name"],
            ref=raw["ref"],
            old_sha=raw["old_sha"],
            new_sha=raw["new_sha"],
            pusher_id=uuid.UUID(raw["pusher_id"]),
            pusher=raw["pusher"],
        )


Handler = Callable[[PushedEvent], Awaitable[None] | None]


class PushEvents:
    """The LISTEN subscriber of `CHANNEL`, handing each event to the registered handlers."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.up = False

    def add(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def on_notify(self, payload: str) -> None:
        try:
            event = PushedEvent.from_json(payload)
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            log.warning("git: a pushed event that does not decode was ignored", extra={"payload": payload[:200]})
            return
        for handler in list(self._handlers):
            try:
                result = handler(event)
            except Exception:
                log.exception("git: a pushed-event handler failed", extra={"ref": event.ref})
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(self._run(result, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _run(self, pending: Awaitable[None], event: PushedEvent) -> None:
        try:
            await pending
        except Exception:
            log.exception("git: a pushed-event handler failed", extra={"ref": event.ref})

    def listening(self, up: bool) -> None:
        self.up = up

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()


PUSH_EVENTS = ServiceKey("git.push_events", PushEvents)


def on_pushed(services: Services, handler: Handler) -> None:
    """Call ``handler(event)`` for every `PushedEvent` this daemon hears from now on."""
    services[PUSH_EVENTS].add(handler)


def publish_pushed(services: Services, events: list[PushedEvent]) -> None:
    """Send the events to every daemon (call after the push's commit). An event too large for a NOTIFY
    payload (a ref name of thousands of characters) is logged and dropped here: sent, it would fail the
    whole batch of notifications it travels in, other domains' included."""
    for event in events:
        payload = event.to_json()
        if len(payload.encode()) > MAX_PAYLOAD_BYTES:
            log.warning("git: a pushed event too large to send was dropped", extra={"ref": event.ref[:200]})
            continue
        services.listen.notify(CHANNEL, payload)
