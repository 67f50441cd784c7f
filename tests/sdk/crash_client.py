"""A client process for tests/sdk/test_crash.py: writes rows in one transaction, says so, optionally pushes, and
then waits to be killed. Arguments: base_url client_id db_path push|write rows."""

from __future__ import annotations

import asyncio
import sys

from mnw_synckit import Backoff, SyncClient


async def main(base_url: str, client_id: str, db_path: str, mode: str, rows: int) -> None:
    async with SyncClient(base_url, client_id, db_path, device_name="laptop", backoff=Backoff(attempts=1)) as sk:
        async with sk.tx() as tx:
            for n in range(rows):
                tx.put("notes", f"n{n}", {"n": n})
        print("written", flush=True)
        if mode == "push":
            await sk.push()
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5], int(sys.argv[5])))
