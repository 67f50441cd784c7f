"""Outbound queue throughput: mails per second from `enqueue_mail` (all in one transaction) until the last one
reached a local aiosmtpd sink, sent by the daemon's own job loop (4 at a time, rate limits off), against
aiosmtplib sending the same messages straight to the same sink, 4 at a time, each of the 4 over one connection
kept open, as the queue's mailer keeps its connections. Each side builds the MIME messages from the `Mail`s
inside its timed part. The queue's extra work is durability: a row and a job per mail, claimed, then marked
sent and done (three commits per mail).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.config import Config
from mnwd.db.embedded import EmbeddedPostgres
from mnwd.db.tx import Tx, run_tx
from mnwd.domains import open_all_services
from mnwd.mail import Mail, build_message
from mnwd.outbound import enqueue_mail
from mnwd.services import Services

CONCURRENCY = 4
SENDER = "mnwd <no-reply@bench.invalid>"


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.count += 1
        return "250 2.0.0 Accepted"


class LoopbackController(Controller):
    async def _create_server(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=0)
        self.port = server.sockets[0].getsockname()[1]
        return server


def _mails(n: int, round_: int) -> list[Mail]:
    # Addresses of their own per round: a mail given up in one round (its address then suppressed) cannot
    # keep a later round's mail from being sent.
    return [
        Mail(
            to=f"reader{i}.r{round_}@example{i % 7}.org",
            subject=f"Your sign-in link ({round_}/{i})",
            text=f"Hello,\n\nSign in with https://mnwd.test/login/link/{round_:04d}{i:06d}\n",
        )
        for i in range(n)
    ]


async def _wait_for(counter: Counter, target: int, given_up: Callable[[], Awaitable[str | None]] | None = None) -> None:
    """Until the sink has ``target`` mails; fails at once, with the reason, when ``given_up`` reports a mail
    the queue will not send (rather than waiting out its deadline)."""
    deadline = time.monotonic() + 600
    checked = time.monotonic()
    while counter.count < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {counter.count} of {target} mails arrived")
        if given_up is not None and time.monotonic() - checked > 1:
            checked = time.monotonic()
            reason = await given_up()
            if reason is not None:
                raise RuntimeError(f"{counter.count} of {target} mails arrived; the queue gave up: {reason}")
        await asyncio.sleep(0.002)


async def _through_queue(services: Services, counter: Counter, n: int, round_: int) -> float:
    mails = _mails(n, round_)
    start_count = counter.count
    started = time.perf_counter()

    async def body(tx: Tx) -> None:
        for mail in mails:
            await enqueue_mail(tx.conn, mail)
        tx.after_commit(services.jobs.wake)

    await run_tx(services.pool, "bench.enqueue", body)

    async def given_up() -> str | None:
        row = await services.pool.fetchrow(
            "SELECT state, attempts, last_error FROM outbound_mails WHERE state IN ('failed', 'suppressed') LIMIT 1"
        )
        return None if row is None else f"{row['state']} after {row['attempts']} attempts: {row['last_error']}"

    await _wait_for(counter, start_count + n, given_up)
    return n / (time.perf_counter() - started)


async def _direct(port: int, counter: Counter, n: int, round_: int) -> float:
    mails = _mails(n, round_)
    start_count = counter.count
    started = time.perf_counter()
    queue: asyncio.Queue[Mail] = asyncio.Queue()
    for mail in mails:
        queue.put_nowait(mail)

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        await client.connect()
        try:
            while not queue.empty():
                message = build_message(queue.get_nowait(), sender=SENDER)
                await client.send_message(
                    message, sender="no-reply@bench.invalid", recipients=[message["To"].addresses[0].addr_spec]
                )
        finally:
            await client.quit()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    await _wait_for(counter, start_count + n)
    return n / (time.perf_counter() - started)


async def run(options: Options) -> list[Result]:
    logging.getLogger("mnwd.mail").setLevel(logging.WARNING)
    n = options.size(1000, 30)
    counter = Counter()
    controller = LoopbackController(counter, hostname="127.0.0.1", server_hostname="sink.bench")
    controller.start()
    rounds = iter(range(1_000_000))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cluster = EmbeddedPostgres(Path(tmp) / "pg", unsafe_fast=options.fast_unsafe)
            url = await cluster.start()
            try:
                config = Config.from_env(
                    {"MNWD_MAIL_RATE_GLOBAL": "0", "MNWD_MAIL_RATE_PER_DOMAIN": "0"},
                    data_dir=Path(tmp) / "var",
                    database_url=url,
                    smtp_url=f"smtp://127.0.0.1:{controller.port}",
                    mail_from=SENDER,
                )
                async with open_all_services(config) as services:
                    await services.jobs.start()
                    try:
                        measured, baseline = await alternate(
                            options,
                            [
                                lambda: _through_queue(services, counter, n, next(rounds)),
                                lambda: _direct(controller.port, counter, n, next(rounds)),
                            ],
                        )
                    finally:
                        await services.jobs.stop()
            finally:
                await cluster.stop()
    finally:
        controller.stop()
    return [
        Result(f"mail queue to SMTP sink, {n:,} mails", "mails/s", measured, "aiosmtplib direct", baseline, target=0.5)
    ]
