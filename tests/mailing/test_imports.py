"""Imports of Patreon, Gumroad and Ko-fi CSVs: preview counts, the creator's column mapping, the background job,
provenance, and bad files that change nothing. The files are written from the platforms' documented headers."""

from __future__ import annotations

import asyncio
import codecs
import io
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import FormData

from mnwd.db.jobs import Job
from mnwd.mailing.imports import IMPORT_JOB, expire_stale_imports, run_import_job
from mnwd.services import Services
from tests.mailing.conftest import Creator
from tests.support.browser import Browser, Page


async def _upload(browser: Browser, list_id: str, source: str, data: bytes, name: str = "export.csv") -> Page:
    page = await browser.get(f"/dashboard/lists/{list_id}")
    form = FormData()
    form.add_field("csrf_token", page.csrf)
    form.add_field("source", source)
    form.add_field("file", io.BytesIO(data), filename=name, content_type="text/csv")
    async with browser.client.post(
        f"/dashboard/lists/{list_id}/imports", data=form, headers=browser.headers, allow_redirects=False
    ) as response:
        return Page(response.status, await response.text(), response.headers.get("Location"), response.headers)


def _counts(text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'<dd id="n-([a-z]+)">(\d+)</dd>', text)}


async def _preview(browser: Browser, list_id: str, source: str, data: bytes) -> tuple[str, dict[str, int]]:
    uploaded = await _upload(browser, list_id, source, data)
    assert uploaded.status == 303, uploaded.text
    assert uploaded.location is not None
    page = await browser.get(uploaded.location)
    return uploaded.location, _counts(page.text)


async def _start(services: Services, browser: Browser, import_path: str) -> Page:
    started = await browser.submit(import_path, f"{import_path}/start", {})
    assert started.status == 303, started.text
    await services.jobs.run_due()
    return await browser.get(import_path)


async def _subscribers(services: Services, list_id: str) -> dict[str, Any]:
    rows = await services.pool.fetch(
        "SELECT email, name, confirmed_at, unsubscribed_at, consent_source, consent FROM mailing_list_subscribers"
        " WHERE list_id = $1",
        list_id,
    )
    return {r["email"]: r for r in rows}


PATREON = (
    "Name,Email,Twitter,Discord,Patron Status,Follows You,Lifetime Amount,Pledge Amount,Charge Frequency,Tier,"
    "Addressee,Street,City,State,Zip,Country,Phone,Patronage Since Date,Last Charge Date,Last Charge Status,"
    "Additional Details,User ID,Last Updated\r\n"
    '"Doe, Jane",jane@example.org,,,Active patron,No,$10.00,$5.00,monthly,Supporter,,,,,,,,2023-01-02,,Paid,,1,\r\n'
    "Zoë Brontë,zoe@example.org,,,Declined patron,No,$5.00,$5.00,monthly,Supporter,,,,,,,,2022-03-04,,Declined,,2,\r\n"
    "Old Fan,old@example.org,,,Former patron,No,$50.00,$0.00,monthly,,,,,,,,,2019-01-01,,,,3,\r\n"
    "No Mail,,,,Active patron,No,$1.00,$1.00,monthly,,,,,,,,,2020-01-01,,,,4,\r\n"
    "Bounced,Gone@Example.org,,,Active patron,No,$1.00,$1.00,monthly,,,,,,,,,2020-01-01,,,,5,\r\n"
    "Known,known@example.org,,,Active patron,No,$1.00,$1.00,monthly,,,,,,,,,2020-01-01,,,,6,\r\n"
    "Jane again,JANE@example.org,,,Active patron,No,$1.00,$1.00,monthly,,,,,,,,,2020-01-01,,,,7,\r\n"
    "Left,left@example.org,,,Active patron,No,$1.00,$1.00,monthly,,,,,,,,,2020-01-01,,,,8,\r\n"
)


async def test_patreon_export_with_bom_and_cp1252_names(
    services: Services, creator: Creator, creator_browser: Browser
) -> None:
    list_id = await creator.new_list()
    await services.pool.execute(
        "INSERT INTO email_suppressions (email, reason) VALUES ('gone@example.org', 'HardBounce')"
    )
    await services.pool.execute(
        "INSERT INTO mailing_list_subscribers (list_id, email, confirmed_at) VALUES ($1, 'known@example.org', now()),"
        " ($1, 'left@example.org', NULL)",
        list_id,
    )
    await services.pool.execute(
        "UPDATE mailing_list_subscribers SET unsubscribed_at = now() WHERE email = 'left@example.org'"
    )
    data = codecs.BOM_UTF8 + PATREON.encode("cp1252")  # a BOM on a cp1252 file: what Excel on Windows makes
    import_path, counts = await _preview(creator_browser, list_id, "patreon", data)
    assert counts == {
        "rows": 8,
        "new": 2,
        "existing": 2,
        "suppressed": 1,
        "invalid": 1,
        "dnc": 0,
        "former": 1,
        "duplicates": 1,
    }
    # Nothing is written before the creator starts it.
    assert set(await _subscribers(services, list_id)) == {"known@example.org", "left@example.org"}

    page = await _start(services, creator_browser, import_path)
    assert '<strong id="import-status">succeeded</strong>' in page.text
    assert "8 of 8 rows done; 2 subscribed" in page.text
    subscribers = await _subscribers(services, list_id)
    assert set(subscribers) == {"known@example.org", "left@example.org", "jane@example.org", "zoe@example.org"}
    jane = subscribers["jane@example.org"]
    assert jane["name"] == "Doe, Jane"
    assert subscribers["zoe@example.org"]["name"] == "Zoë Brontë"
    assert jane["confirmed_at"] is not None
    assert jane["consent_source"] == "import"
    assert jane["consent"]["file"] == "export.csv"
    assert jane["consent"]["row"] == 1
    assert jane["consent"]["source"] == "patreon"
    assert jane["consent"]["source_time"] == "2023-01-02"
    assert jane["consent"]["imported_at"]
    # The unsubscribed subscriber stays unsubscribed; the suppressed address is not resurrected.
    assert subscribers["left@example.org"]["unsubscribed_at"] is not None
    assert "gone@example.org" not in {e.lower() for e in subscribers}
    # Started once only.
    again = await creator_browser.submit(import_path, f"{import_path}/start", {})
    assert again.status == 409


async def test_gumroad_sales_respect_do_not_contact(
    services: Services, creator: Creator, creator_browser: Browser
) -> None:
    list_id = await creator.new_list()
    data = (
        b"Purchase ID,Item Name,Buyer Name,Purchase Email,Buyer Email,Do not contact?,Purchase Date,Sale Price ($)\n"
        b'a1,"Book, 2nd edition",Ann,ann@example.org,ann.buyer@example.org,0,2024-01-01,10\n'
        b"a2,Book,Bob,bob@example.org,,1,2024-01-02,10\n"
        b"a3,Book,Cy,,cy@example.org,0,2024-01-03,10\n"
        b"a4,Book,Di,di@example.org,,true,2024-01-04,10\n"
    )
    import_path, counts = await _preview(creator_browser, list_id, "gumroad", data)
    # Purchase Email wins; an empty one is a row without an address (Buyer Email is another column).
    assert (counts["new"], counts["dnc"], counts["invalid"]) == (1, 2, 1)
    await _start(services, creator_browser, import_path)
    assert set(await _subscribers(services, list_id)) == {"ann@example.org"}


async def test_gumroad_audience_export(services: Services, creator: Creator, creator_browser: Browser) -> None:
    list_id = await creator.new_list()
    data = b"Subscriber Email,Subscribed Time\nx@example.org,2024-05-01 10:00:00 UTC\ny@example.org,2024-05-02\n"
    import_path, counts = await _preview(creator_browser, list_id, "gumroad", data)
    assert counts["new"] == 2
    await _start(services, creator_browser, import_path)
    subscribers = await _subscribers(services, list_id)
    assert subscribers["x@example.org"]["consent"]["source_time"] == "2024-05-01 10:00:00 UTC"


async def test_kofi_columns_are_mapped_by_the_creator(
    services: Services, creator: Creator, creator_browser: Browser
) -> None:
    list_id = await creator.new_list()
    # Two address columns: which one is the subscriber's is the creator's call.
    data = (
        "DateTime (UTC),From,Message,Item,Received,Given Email,Payout Email\n"
        "2024-01-01 10:00,Ann,Thanks!,Coffee,3.00,ann@example.org,me@example.org\n"
        '2024-01-02 11:00,Bob,"Hi, there",Coffee,3.00,bob@example.org,me@example.org\n'
    ).encode("latin-1")
    uploaded = await _upload(creator_browser, list_id, "kofi", data)
    assert uploaded.status == 303
    assert uploaded.location is not None
    import_path = uploaded.location
    page = await creator_browser.get(import_path)
    assert 'id="start-form"' not in page.text  # no address column chosen yet
    assert '<option value="Given Email">' in page.text
    refused = await creator_browser.submit(import_path, f"{import_path}/start", {})
    assert refused.status == 422

    mapped = await creator_browser.submit(
        import_path, f"{import_path}/mapping", {"email": "Given Email", "name": "From"}
    )
    assert mapped.status == 303
    counts = _counts((await creator_browser.get(import_path)).text)
    assert counts["new"] == 2
    bad_column = await creator_browser.submit(import_path, f"{import_path}/mapping", {"email": "../etc/passwd"})
    assert bad_column.status == 422
    await _start(services, creator_browser, import_path)
    subscribers = await _subscribers(services, list_id)
    assert set(subscribers) == {"ann@example.org", "bob@example.org"}
    assert subscribers["bob@example.org"]["name"] == "Bob"


async def test_bad_files_are_a_clear_error_and_change_nothing(
    services: Services, creator: Creator, creator_browser: Browser
) -> None:
    list_id = await creator.new_list()
    cases = {
        b"": "empty",
        b"\n\n": "empty",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR": "NUL",
        b'Name,Email\n"Unclosed,a@example.org\n': "not valid CSV",
        b"Name,Phone\nAnn,123\n": "No email column",
    }
    for data, message in cases.items():
        page = await _upload(creator_browser, list_id, "patreon", data)
        assert page.status == 422, (data, page.text)
        assert message in page.text, (data, page.text)
    unknown_source = await _upload(creator_browser, list_id, "substack", b"Email\na@example.org\n")
    assert unknown_source.status == 422
    assert await services.pool.fetchval("SELECT count(*) FROM import_jobs") == 0
    assert await services.pool.fetchval("SELECT count(*) FROM mailing_list_subscribers") == 0


async def test_another_creators_list_and_import_are_not_found(
    services: Services, creator: Creator, creator_browser: Browser, rival: Creator
) -> None:
    rival_list = await rival.new_list()
    page = await _upload(creator_browser, rival_list, "patreon", b"Email\na@example.org\n")
    assert page.status == 404
    own_list = await creator.new_list()
    import_path, _ = await _preview(creator_browser, own_list, "patreon", b"Email\na@example.org\n")
    import_id = import_path.rsplit("/", 1)[1]
    await services.pool.execute("UPDATE import_jobs SET user_id = $1", rival.user_id)
    assert (await creator_browser.get(f"/dashboard/lists/imports/{import_id}")).status == 404


async def test_fifty_thousand_rows(services: Services, creator: Creator, creator_browser: Browser) -> None:
    list_id = await creator.new_list()
    lines = ["Name,Email,Patron Status"]
    for i in range(50_000):
        status = "Former patron" if i % 10 == 0 else "Active patron"
        lines.append(f'"Fan, number {i}",fan{i}@example.org,{status}')
    data = ("\r\n".join(lines) + "\r\n").encode()
    started = time.monotonic()
    import_path, counts = await _preview(creator_browser, list_id, "patreon", data)
    assert (counts["rows"], counts["new"], counts["former"]) == (50_000, 45_000, 5_000)
    page = await _start(services, creator_browser, import_path)
    assert "50000 of 50000 rows done; 45000 subscribed" in page.text
    assert await services.pool.fetchval("SELECT count(*) FROM mailing_list_subscribers") == 45_000
    assert time.monotonic() - started < 60
    # The upload is dropped once it has run.
    assert await services.pool.fetchval("SELECT upload IS NULL FROM import_jobs") is True


async def test_an_import_job_run_twice_at_once_or_again_adds_nobody_twice(
    services: Services, creator: Creator, creator_browser: Browser
) -> None:
    list_id = await creator.new_list()
    data = ("Email\n" + "".join(f"fan{i}@example.org\n" for i in range(2500))).encode()
    import_path, counts = await _preview(creator_browser, list_id, "patreon", data)
    assert counts["new"] == 2500
    started = await creator_browser.submit(import_path, f"{import_path}/start", {})
    assert started.status == 303
    import_id = import_path.rsplit("/", 1)[1]
    job = Job(uuid.uuid4(), IMPORT_JOB, {"import_id": import_id}, 1, 5, import_id, datetime.now(UTC))
    # Two daemons running the same job (a lease taken over), then a third run after it ended.
    await asyncio.gather(run_import_job(services, job), run_import_job(services, job))
    await run_import_job(services, job)
    await services.jobs.run_due()
    assert await services.pool.fetchval("SELECT count(*) FROM mailing_list_subscribers") == 2500
    page = await creator_browser.get(import_path)
    assert "2500 of 2500 rows done; 2500 subscribed" in page.text


async def test_an_import_never_started_is_dropped_after_a_week(
    services: Services, creator: Creator, creator_browser: Browser
) -> None:
    list_id = await creator.new_list()
    import_path, _ = await _preview(creator_browser, list_id, "patreon", b"Email\na@example.org\n")
    assert await expire_stale_imports(services) == 0
    await services.pool.execute("UPDATE import_jobs SET created_at = now() - interval '8 days'")
    assert await expire_stale_imports(services) == 1
    assert await services.pool.fetchval("SELECT upload IS NULL AND status = 'canceled' FROM import_jobs") is True
    page = await creator_browser.get(import_path)
    assert '<strong id="import-status">canceled</strong>' in page.text
