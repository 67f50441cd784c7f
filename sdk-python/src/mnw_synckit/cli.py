"""``mnw-sync``: the SDK from the shell. The server, app and store come from ``--server``/``--client-id``/``--db``
or ``MNW_URL``/``MNW_CLIENT_ID``/``MNW_DB``. Rows are printed as JSON, one per line."""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from mnw_synckit._client import SyncClient
from mnw_synckit._login import open_in_browser
from mnw_synckit.errors import SyncKitError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mnw-sync", description="An offline-first SyncKit store from the shell.")
    parser.add_argument("--server", default=os.environ.get("MNW_URL"), help="mnwd's address (MNW_URL)")
    parser.add_argument("--client-id", default=os.environ.get("MNW_CLIENT_ID"), help="the app's id (MNW_CLIENT_ID)")
    parser.add_argument("--db", default=os.environ.get("MNW_DB", "synckit.db"), help="the local store (MNW_DB)")
    parser.add_argument("--device", default=None, help="this device's name (default: the host name)")
    parser.add_argument("--passphrase", default=os.environ.get("MNW_PASSPHRASE"), help="end-to-end encryption")
    commands = parser.add_subparsers(dest="command", required=True)
    login = commands.add_parser("login", help="sign in in the browser and register this device")
    login.add_argument("--no-browser", action="store_true", help="print the address instead of opening it")
    commands.add_parser("logout", help="revoke this device's sign-in")
    commands.add_parser("status", help="device, cursor, pending and rejected mutations")
    commands.add_parser("push", help="send pending mutations")
    commands.add_parser("pull", help="fetch changes")
    commands.add_parser("sync", help="pull, push, pull")
    watch = commands.add_parser("watch", help="stay live and print the table's rows whenever they change")
    watch.add_argument("table")
    put = commands.add_parser("put", help="write a row (JSON object)")
    put.add_argument("table")
    put.add_argument("row_id")
    put.add_argument("data", help="a JSON object")
    get = commands.add_parser("get", help="print a row")
    get.add_argument("table")
    get.add_argument("row_id")
    ls = commands.add_parser("ls", help="print a table's rows")
    ls.add_argument("table")
    ls.add_argument("--where", action="append", default=[], metavar="FIELD=JSON", help="equality filter")
    blob = commands.add_parser("blob", help="upload or download a file by content hash")
    blob_commands = blob.add_subparsers(dest="blob_command", required=True)
    blob_put = blob_commands.add_parser("put")
    blob_put.add_argument("path")
    blob_get = blob_commands.add_parser("get")
    blob_get.add_argument("sha256")
    blob_get.add_argument("dest")
    commands.add_parser("doctor", help="check server, sign-in, device, cursor and clock")
    return parser


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total if total else width
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} bytes", end="", file=sys.stderr)
    if done >= total:
        print(file=sys.stderr)


def _where(pairs: list[str]) -> dict[str, Any]:
    where = {}
    for pair in pairs:
        field, _, value = pair.partition("=")
        try:
            where[field] = json.loads(value)
        except ValueError:
            where[field] = value
    return where


def _print(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, sort_keys=True))


async def _run(args: argparse.Namespace) -> int:
    if not args.server or not args.client_id:
        print("mnw-sync: --server and --client-id (or MNW_URL and MNW_CLIENT_ID) are required", file=sys.stderr)
        return 2
    async with SyncClient(
        args.server, args.client_id, args.db, device_name=args.device, passphrase=args.passphrase
    ) as sk:
        if args.command == "login":
            await sk.login(open_url=(lambda url: print(url, flush=True)) if args.no_browser else open_in_browser)
            print(f"signed in; device {await sk.device_id()}")
        elif args.command == "logout":
            await sk.logout()
            print("signed out")
        elif args.command == "status":
            status = sk.status
            inbox = await sk.conflicts.inbox()
            _print(
                {
                    "signed_in": sk.signed_in,
                    "device_id": await sk.device_id(),
                    "cursor": status.cursor,
                    "pending": status.pending,
                    "rejected": [{"mutation_id": r.mutation_id, "error": r.error} for r in inbox],
                }
            )
        elif args.command == "push":
            print(f"pushed {await sk.push()}")
        elif args.command == "pull":
            print(f"pulled {await sk.pull()}")
        elif args.command == "sync":
            await sk.sync()
            print(f"cursor {sk.status.cursor}, pending {sk.status.pending}")
        elif args.command == "watch":
            sk.start_live()
            async for rows in sk.watch(args.table):
                _print({row.row_id: row.data for row in rows})
        elif args.command == "put":
            data = json.loads(args.data)
            if not isinstance(data, dict):
                print("mnw-sync: data must be a JSON object", file=sys.stderr)
                return 2
            await sk.put(args.table, args.row_id, data)
        elif args.command == "get":
            row = await sk.get(args.table, args.row_id)
            if row is None:
                print("no such row", file=sys.stderr)
                return 1
            _print(row)
        elif args.command == "ls":
            for found in await sk.query(args.table, _where(args.where)):
                _print({"row_id": found.row_id, "data": found.data})
        elif args.command == "blob" and args.blob_command == "put":
            print(await sk.blobs.put(args.path, progress=_progress))
        elif args.command == "blob":
            print(await sk.blobs.get(args.sha256, args.dest, progress=_progress))
        elif args.command == "doctor":
            return await _doctor(sk)
    return 0


async def _doctor(sk: SyncClient) -> int:
    problems = 0

    def report(ok: bool, what: str) -> None:
        nonlocal problems
        problems += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}")

    try:
        async with aiohttp.ClientSession() as http, http.get(f"{sk.base_url}/healthz") as response:
            sent = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
            report(response.status == 200, f"server {sk.base_url} answers /healthz ({response.status})")
            skew = time.time() - sent
            report(abs(skew) < 60, f"clock skew {skew:+.1f} s")
    except (aiohttp.ClientError, KeyError, TypeError, ValueError) as error:
        report(False, f"server {sk.base_url} unreachable: {error!r}")
        return 1
    if not sk.signed_in:
        report(False, "not signed in: run `mnw-sync login`")
        return 1
    try:
        me = await sk.api.request("GET", "/api/v1/me")
        report(True, f"token valid for {me.get('user', {}).get('username', '?')}")
        devices = (await sk.api.request("GET", "/sync/v1/devices"))["devices"]
        mine = [d for d in devices if d["id"] == await sk.device_id()]
        report(bool(mine) and not mine[0]["revoked"], f"device {await sk.device_id()} registered and active")
        await sk.pull()
        report(True, f"pulled up to cursor {sk.status.cursor} (a cursor behind the compaction horizon is refetched)")
        report(sk.status.pending == 0, f"{sk.status.pending} mutations pending")
    except SyncKitError as error:
        report(False, str(error))
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except SyncKitError as error:
        print(f"mnw-sync: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
