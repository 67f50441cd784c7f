"""A tiny synced notes app. Run `make serve` in mnwd, register an app with the redirect URI
http://127.0.0.1/callback, then:

    export MNW_URL=http://127.0.0.1:8080 MNW_CLIENT_ID=<the app's id>
    python notes.py add "buy milk"        # works offline too: synced when the server is reachable
    python notes.py done <id>
    python notes.py list
    python notes.py live                  # prints the list whenever any device changes it (Ctrl-C stops)
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

from mnw_synckit import OfflineError, Row, SyncClient


def show(rows: list[Row]) -> None:
    for row in sorted(rows, key=lambda r: str(r.data.get("created", ""))):
        print(f"{'x' if row.data.get('done') else ' '} {row.row_id[:8]}  {row.data.get('text', '')}")


async def main(command: str, *args: str) -> None:
    db = os.environ.get("NOTES_DB", "notes.db")
    async with SyncClient(os.environ["MNW_URL"], os.environ["MNW_CLIENT_ID"], db) as sk:
        if not sk.signed_in:
            await sk.login()
        if command == "add":
            await sk.put("notes", str(uuid.uuid4()), {"text": " ".join(args), "done": False, "created": time.time()})
        elif command == "done":
            matches = [row for row in await sk.query("notes") if row.row_id.startswith(args[0])]
            for row in matches:
                await sk.update("notes", row.row_id, {"done": True})
        elif command == "live":
            sk.start_live()
            async for rows in sk.watch("notes"):
                print(f"--- {len(rows)} notes, {sk.status.pending} waiting to upload")
                show(rows)
            return
        try:
            await sk.sync()
        except OfflineError:
            print(f"offline: {sk.status.pending} changes will be sent next time", file=sys.stderr)
        show(await sk.query("notes"))


if __name__ == "__main__":
    asyncio.run(main(*(sys.argv[1:] or ["list"])))
