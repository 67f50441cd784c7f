"""Store search: ``GET /api/v1/search`` over HTTP on 100 000 generated items (realistic titles and
descriptions from 2 000 projects of 400 creators; a tenth private), one request at a time, a mix of queries:
single words, phrases, typos (corrected by the trigram word list), filters by type, price and tag. In ms per
search, p50 and p95 per round, against

- the same search called in-process (`mnwd.store.search.search`, no HTTP): what the HTTP stack adds;
- a budget of 50 ms for p95 (the target is half of it).

Before measuring it prints (to stderr) the ``EXPLAIN ANALYZE`` of a full-text search and of a typo correction,
and checks that they use the GIN indexes ``items_title_vector_idx``, ``items_search_vector_idx`` and
``search_words_word_trgm_idx``."""

from __future__ import annotations

import random
import statistics
import sys
import time
import uuid

import aiohttp
import asyncpg

from bench.fixtures import NO_TIMEOUT, SyncStack, percentile, sync_stack
from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.store import search
from mnwd.store.queries import discovery as queries

BUDGET_MS = 50.0

ADJECTIVES = [
    "Realistic",
    "Retro",
    "Minimal",
    "Lo-fi",
    "Cozy",
    "Dark",
    "Cinematic",
    "Procedural",
    "Hand-drawn",
    "Ambient",
    "Modular",
    "Vintage",
    "Analog",
    "Pastel",
    "Isometric",
    "Tiny",
    "Epic",
    "Gentle",
    "Glitchy",
    "Warm",
]
MATERIALS = [
    "water",
    "fire",
    "glass",
    "wood",
    "neon",
    "stone",
    "paper",
    "cloud",
    "forest",
    "ocean",
    "desert",
    "city",
    "space",
    "snow",
    "rain",
    "sunset",
    "moss",
    "rust",
    "velvet",
    "crystal",
    "jungle",
    "arctic",
    "harbor",
    "garden",
]
THINGS = [
    "shaders",
    "piano loops",
    "pixel art tiles",
    "drum kit",
    "synth presets",
    "font family",
    "icon set",
    "field recordings",
    "guitar riffs",
    "UI kit",
    "sound effects",
    "character sprites",
    "texture pack",
    "vocal samples",
    "terrain generator",
    "color palettes",
    "photo presets",
    "3D models",
    "brush pack",
    "knitting pattern",
    "recipe book",
    "short stories",
    "poetry zine",
    "travel guide",
    "Godot plugin",
    "Blender add-on",
    "Rust crate",
    "CLI tool",
    "markdown editor",
    "podcast episode",
    "lecture notes",
    "video course",
    "tabletop adventure",
    "card game",
    "wallpapers",
    "film LUTs",
    "bird songs",
    "ambient music",
]
SUBJECTS = [f"{material} {thing}" for material in MATERIALS for thing in THINGS]
SUFFIXES = ["", "", "", " vol. 2", " vol. 3", " (2025 edition)", " for beginners", " pack", " bundle", " deluxe"]
DESCRIPTIONS = [
    "Made over {n} months in my {place}; every file is yours to keep.",
    "A collection of {count} {subject} for {audience}, recorded and edited by hand.",
    "Works with {tool}. Includes a quick-start guide and {count} examples.",
    "Inspired by {mood} evenings and old {medium}. Royalty-free for personal and commercial use.",
    "Version {n}: rewritten from scratch, faster and smaller, with {count} new {subject}.",
]
PLACES = ["attic studio", "garden shed", "kitchen", "van", "tiny flat in Lisbon", "university lab"]
AUDIENCES = ["game developers", "podcasters", "illustrators", "filmmakers", "teachers", "hobbyists"]
TOOLS = ["Godot 4", "Blender", "Ableton Live", "Krita", "Figma", "Unity", "DaVinci Resolve", "Neovim"]
MOODS = ["rainy", "foggy", "summer", "winter", "late-night", "quiet"]
MEDIA = ["cassette tapes", "arcade cabinets", "film cameras", "synthesizers", "paperbacks", "radio dramas"]
ITEM_TYPES = ["download", "download", "audio", "article", "video", "image", "bundle"]
PROJECT_TYPES = ["music", "software", "podcast", "writing", "video", "art", "game", "course"]
TAGS = [("audio", None), ("music", "audio"), ("samples", "audio"), ("graphics", None), ("shaders", "graphics")]

QUERIES: list[dict[str, str]] = [
    {"q": "shaders"},
    {"q": "water shaders"},
    {"q": "piano"},
    {"q": "retro pixel art"},
    {"q": "godot plugin"},
    {"q": "field recordings rain"},
    {"q": "synth presets", "type": "audio"},
    {"q": "font", "price": "free"},
    {"q": "texture pack", "price": "paid"},
    {"q": "blender"},
    {"q": '"sound effects" -vintage'},
    {"q": "tabletop adventure"},
    {"q": "shdaers"},
    {"q": "pinao lops"},
    {"q": "knittng"},
    {"q": "ambient", "tag": "audio"},
    {"q": "cinematic", "tag": "shaders"},
    {"q": "game developers"},
    {"type": "article", "price": "free"},
    {"q": "xylophone quartet"},
]


SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ra",
    "ven",
    "tor",
    "sel",
    "dri",
    "nu",
    "pha",
    "bel",
    "quo",
    "zan",
    "fi",
    "mor",
    "gla",
    "tes",
    "ir",
    "on",
    "ual",
    "ber",
    "cy",
    "dex",
    "hal",
    "jun",
    "kri",
    "lum",
    "ny",
    "ost",
    "pri",
]


def _name(rng: random.Random) -> str:
    """A made-up product name (Kavenmor, Drilum…): titles have words of their own, as real ones do."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _description(rng: random.Random, subject: str) -> str:
    return rng.choice(DESCRIPTIONS).format(
        n=rng.randint(2, 18),
        place=rng.choice(PLACES),
        count=rng.randint(3, 400),
        subject=subject,
        audience=rng.choice(AUDIENCES),
        tool=rng.choice(TOOLS),
        mood=rng.choice(MOODS),
        medium=rng.choice(MEDIA),
    )


async def _fill(stack: SyncStack, items: int) -> None:
    rng = random.Random(21)
    creators = await stack.create_users(max(items // 250, 4), prefix="creator")
    projects = []
    for n in range(max(items // 50, 8)):
        subject = rng.choice(SUBJECTS)
        title = f"{rng.choice(ADJECTIVES)} {subject}"
        projects.append(
            (
                uuid.uuid4(),
                rng.choice(creators),
                f"project-{n}",
                title,
                _description(rng, subject),
                rng.choice(PROJECT_TYPES),
                rng.random() > 0.05,
            )
        )
    rows = []
    for n in range(items):
        project = projects[n % len(projects)]
        subject = rng.choice(SUBJECTS)
        title = f"{rng.choice(ADJECTIVES)} {subject}{rng.choice(SUFFIXES)}"
        if rng.random() < 0.6:
            title = f"{_name(rng)}: {title}"
        item_type = rng.choice(ITEM_TYPES)
        body = _description(rng, subject) * rng.randint(1, 4) if item_type == "article" else None
        price = 0 if rng.random() < 0.5 else rng.choice([100, 300, 500, 900, 1500, 2500])
        rows.append(
            (
                uuid.uuid4(),
                project[0],
                title,
                f"item-{n}",
                _description(rng, subject),
                body,
                item_type,
                rng.random() > 0.1,
                price,
                rng.randint(0, 500),
                rng.randint(0, 3000),
            )
        )
    conn = await asyncpg.connect(stack.db_url)
    try:
        await conn.copy_records_to_table(
            "projects",
            records=projects,
            columns=["id", "user_id", "slug", "title", "description", "project_type", "is_public"],
        )
        await conn.copy_records_to_table(
            "items",
            records=rows,
            columns=[
                "id",
                "project_id",
                "title",
                "slug",
                "description",
                "body",
                "item_type",
                "is_public",
                "price_cents",
                "sales_count",
                "download_count",
            ],
        )
        tag_ids = {}
        for slug, parent in TAGS:
            path = f"{parent}.{slug}" if parent else slug
            tag_ids[slug] = await conn.fetchval(
                "INSERT INTO tags (parent_id, slug, name, path) VALUES ($1, $2, $3, $4) RETURNING id",
                tag_ids.get(parent) if parent else None,
                slug,
                slug.title(),
                path,
            )
        tagged = [(row[0], tag_ids[rng.choice(list(tag_ids))], True) for row in rows[::3]]
        await conn.copy_records_to_table("item_tags", records=tagged, columns=["item_id", "tag_id", "is_primary"])
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _explain(stack: SyncStack) -> None:
    conn = await asyncpg.connect(stack.db_url)
    try:
        async with conn.transaction():
            await queries.prepare_search(conn, search.TYPO_THRESHOLD)
            plans = [
                (
                    "a search for 'water shaders'",
                    await queries.explain_matching_items(
                        conn, "water shaders", queries.SqlFilter(queries.PUBLIC_ITEM), limit=search.PAGE_SIZE + 1
                    ),
                    ["items_title_vector_idx", "items_search_vector_idx"],
                ),
                (
                    "the typo corrections of 'shdaers pinao'",
                    await queries.explain_word_suggestions(conn, ["shdaers", "pinao"]),
                    ["search_words_word_trgm_idx"],
                ),
            ]
        for what, plan, indexes in plans:
            print(f"\nEXPLAIN ANALYZE of {what}:\n{plan}", file=sys.stderr)
            for index in indexes:
                if f"Bitmap Index Scan on {index}" not in plan and f"Index Scan using {index}" not in plan:
                    raise AssertionError(f"{what} does not use the GIN index {index}:\n{plan}")
    finally:
        await conn.close()


async def _http_round(session: aiohttp.ClientSession, url: str) -> list[float]:
    timings = []
    for params in QUERIES:
        started = time.perf_counter()
        async with session.get(url, params=params) as response:
            await response.read()
            assert response.status == 200, await response.text()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def _in_process_round(stack: SyncStack) -> list[float]:
    timings = []
    for params in QUERIES:
        started = time.perf_counter()
        query = search.parse_search(
            q=params.get("q"), type=params.get("type"), tag=params.get("tag"), price=params.get("price")
        )
        await search.search(stack.pool, query)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def run(options: Options) -> list[Result]:
    items = options.size(100_000, 2_000)
    async with sync_stack(options) as stack:
        await _fill(stack, items)
        await _explain(stack)
        url = f"{stack.base_url}/api/v1/search"
        http_rounds: list[list[float]] = []
        local_rounds: list[list[float]] = []
        async with aiohttp.ClientSession(timeout=NO_TIMEOUT) as session:
            await _http_round(session, url)  # warm-up: indexes in shared buffers, connections open
            await _in_process_round(stack)

            async def http_side() -> float:
                http_rounds.append(await _http_round(session, url))
                return 0.0

            async def local_side() -> float:
                local_rounds.append(await _in_process_round(stack))
                return 0.0

            await alternate(options, [http_side, local_side])
    slowest = sorted(
        ((statistics.median(r[n] for r in http_rounds), QUERIES[n]) for n in range(len(QUERIES))),
        key=lambda pair: -pair[0],
    )
    print(
        "\nslowest searches over HTTP (median ms): " + ", ".join(f"{q} {ms:.1f}" for ms, q in slowest[:5]),
        file=sys.stderr,
    )
    name = f"search {items:,} items, {len(QUERIES)} queries"
    http_p50 = [percentile(r, 0.5) for r in http_rounds]
    http_p95 = [percentile(r, 0.95) for r in http_rounds]
    local_p50 = [percentile(r, 0.5) for r in local_rounds]
    budget = [BUDGET_MS]
    return [
        Result(f"{name}, p50", "ms", http_p50, "in-process search, p50", local_p50),
        Result(f"{name}, p95", "ms", http_p95, "budget", budget, target_max=0.5),
    ]
