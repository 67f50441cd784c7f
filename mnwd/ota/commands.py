"""``mnwd ota publish``: a CI step that uploads a release to an mnwd server over the CI API (docs/ota.md).

``mnwd ota publish --server URL --app SLUG --version 1.2.0 [--notes TEXT | --notes-file F] [--channel C]
[--rollout N] [--min-version V] [--draft] linux/x86_64/appimage=Notes.AppImage.tar.gz ...``

- The app's API key is read from the environment (``OTA_API_KEY``, or the variable ``--key-env`` names), never
  from the command line, where other users of the machine could read it.
- Each artifact is ``TARGET/ARCH[/BUNDLE_TYPE]=PATH``; ``PATH.sig`` (what ``tauri signer sign`` writes) is sent
  as ``X-Signature`` when it exists, else the server signs with the app's key (if it has one).
- A release that exists already as a draft is completed (a rerun of a failed job), never one published.
- Progress goes to stderr as a bar per file; the release as JSON to stdout when done.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from mnwd.domain import CommandContext, CommandError, Subcommands

__all__ = ["add_commands", "publish"]

CHUNK = 256 * 1024
BAR_WIDTH = 30
DEFAULT_KEY_ENV = "OTA_API_KEY"


def add_commands(commands: Subcommands) -> None:
    ota = commands.add_parser("ota", help="OTA updates of Tauri apps").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    publish_parser = ota.add_parser("publish", help="upload a release's artifacts to a server and publish it")
    publish_parser.add_argument("--server", required=True, help="the server's base URL, e.g. https://mnwd.example")
    publish_parser.add_argument("--app", required=True, help="the app's slug or id")
    publish_parser.add_argument("--version", required=True, help="the release's SemVer version, e.g. 1.2.0")
    publish_parser.add_argument("--notes", help="the release notes")
    publish_parser.add_argument("--notes-file", type=Path, help="read the release notes from this file")
    publish_parser.add_argument("--channel", help="the channel (default stable)")
    publish_parser.add_argument("--rollout", type=int, help="the percentage of clients offered it (default 100)")
    publish_parser.add_argument("--min-version", help="clients below this version must update")
    publish_parser.add_argument("--draft", action="store_true", help="upload but do not publish")
    publish_parser.add_argument(
        "--key-env", default=DEFAULT_KEY_ENV, help=f"the variable holding the app's API key (default {DEFAULT_KEY_ENV})"
    )
    publish_parser.add_argument("artifacts", nargs="+", metavar="TARGET/ARCH[/BUNDLE]=PATH", help="files to upload")
    publish_parser.set_defaults(run=publish)


def _artifact(spec: str) -> tuple[str, Path]:
    slot, sep, path = spec.partition("=")
    parts = slot.split("/")
    if not sep or not path or len(parts) not in (2, 3) or not all(parts):
        raise CommandError(f"{spec!r}: write an artifact as TARGET/ARCH[/BUNDLE_TYPE]=PATH.")
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"{path}: no such file.")
    return slot, file


class Progress:
    """A bar on a terminal (redrawn in place), a line per quarter elsewhere (CI logs)."""

    def __init__(self, name: str, total: int, out: TextIO) -> None:
        self.name, self.total, self.out = name, total, out
        self.sent = 0
        self.tty = out.isatty()
        self.shown_quarter = -1
        self.started = time.monotonic()

    def advance(self, size: int) -> None:
        self.sent += size
        fraction = self.sent / self.total if self.total else 1.0
        filled = int(fraction * BAR_WIDTH)
        line = (
            f"{self.name} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:4.0%} "
            f"{self.sent / 2**20:.1f}/{self.total / 2**20:.1f} MiB"
        )
        if self.tty:
            self.out.write("\r" + line)
        elif int(fraction * 4) > self.shown_quarter:
            self.shown_quarter = int(fraction * 4)
            self.out.write(line + "\n")
        self.out.flush()

    def done(self) -> None:
        if self.tty:
            self.out.write(f"  {time.monotonic() - self.started:.1f} s\n")
            self.out.flush()


async def _chunks(path: Path, progress: Progress) -> AsyncIterator[bytes]:
    progress.advance(0)
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            progress.advance(len(chunk))
            yield chunk


async def _answer(response: aiohttp.ClientResponse, doing: str) -> Any:
    text = await response.text()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if response.status >= 400:
        detail = body.get("detail") if isinstance(body, dict) else text[:200]
        raise CommandError(f"{doing}: {response.status} {detail}")
    return body


async def publish(context: CommandContext | None, args: argparse.Namespace) -> None:
    key = os.environ.get(args.key_env, "").strip()
    if not key:
        raise CommandError(f"Set {args.key_env} to the app's API key.")
    artifacts = [_artifact(spec) for spec in args.artifacts]
    notes = args.notes
    if args.notes_file is not None:
        notes = args.notes_file.read_text()
    api = f"{args.server.rstrip('/')}/ota/v1/{args.app}"
    release: dict[str, Any] = {"version": args.version}
    for name, value in (
        ("notes", notes),
        ("channel", args.channel),
        ("rollout_percent", args.rollout),
        ("min_version", args.min_version),
    ):
        if value is not None:
            release[name] = value
    headers = {"Authorization": f"Bearer {key}", "User-Agent": "mnwd-ota-publish"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as session:
        async with session.post(f"{api}/releases", json=release) as response:
            if response.status == 409:
                await response.read()
                async with session.get(f"{api}/releases") as listing:
                    found = await _answer(listing, "listing the releases")
                existing = next((r for r in found["releases"] if r["version"] == args.version.lstrip("v")), None)
                if existing is None or existing["status"] != "draft":
                    raise CommandError(f"Release {args.version} exists and is not a draft; give a new version.")
                version = existing["version"]
            else:
                version = (await _answer(response, "creating the release"))["version"]
        for slot, path in artifacts:
            target, arch, *bundle = slot.split("/")
            url = f"{api}/releases/{version}/artifacts/{target}/{arch}"
            params = {"file_name": path.name}
            if bundle:
                params["bundle_type"] = bundle[0]
            put_headers = {"Content-Length": str(path.stat().st_size), "Content-Type": "application/octet-stream"}
            signature = path.with_name(path.name + ".sig")
            if signature.is_file():
                text = signature.read_text().strip()
                # tauri signer writes the base64 of the .sig text; minisign writes the text itself.
                put_headers["X-Signature"] = (
                    text
                    if not text.startswith("untrusted comment:")
                    else base64.b64encode(signature.read_bytes()).decode()
                )
            progress = Progress(path.name, path.stat().st_size, sys.stderr)
            async with session.put(url, params=params, data=_chunks(path, progress), headers=put_headers) as response:
                await _answer(response, f"uploading {path.name}")
            progress.done()
        if not args.draft:
            async with session.post(f"{api}/releases/{version}/publish") as response:
                await _answer(response, "publishing")
        async with session.get(f"{api}/releases") as listing:
            found = await _answer(listing, "listing the releases")
    shown = next(r for r in found["releases"] if r["version"] == version)
    print(json.dumps(shown, indent=2))
