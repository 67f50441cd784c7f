"""The import graph of mnwd/: no cycles between modules or between its top-level parts, and the
import-linter contracts (pyproject.toml) name every handler module."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
HANDLER_NAME = re.compile(r"^(routes|pages|endpoints|api|health|home)$|_routes$|^pages_")


def strongly_connected(nodes: set[str], edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the components with more than one node (the cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def module_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def top_part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_cycle_finder_finds_a_cycle() -> None:
    assert strongly_connected({"a", "b", "c"}, {"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [{"a", "b"}]
    assert strongly_connected({"a", "b"}, {"a": {"b"}}) == []


def test_no_module_imports_itself_round_about() -> None:
    graph = grimp.build_graph("mnwd", exclude_type_checking_imports=False)
    assert strongly_connected(set(graph.modules), module_edges(graph)) == []


def test_no_cycle_between_the_parts_of_mnwd() -> None:
    """Between mnwd.config, mnwd.web, mnwd.accounts, ... (each top-level module or package as one node)."""
    graph = grimp.build_graph("mnwd", exclude_type_checking_imports=False)
    parts: dict[str, set[str]] = {}
    for module, imported in module_edges(graph).items():
        if module == "mnwd":
            continue
        source = top_part(module)
        parts.setdefault(source, set()).update(top_part(m) for m in imported if top_part(m) != source)
    assert strongly_connected(set(parts), parts) == []


def test_the_handler_contract_names_every_handler_module() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [handlers] = [c for c in contracts if c["name"].startswith("Handlers never import SQL")]
    graph = grimp.build_graph("mnwd")
    found = {m for m in graph.modules if m.count(".") >= 2 and HANDLER_NAME.search(m.rsplit(".", 1)[1])}
    found.discard("mnwd.web.pages")  # the page renderer every handler uses, not a handler
    assert found == set(handlers["source_modules"])
    queries = {m for m in graph.modules if m.endswith("queries")}
    assert queries <= set(handlers["forbidden_modules"])


def test_lint_imports_keeps_every_contract() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
