"""Print LiveCam's import graph health: cycles, and imports that climb from a lower layer to a higher one.

    python tools/import_graph.py            # summary and every climbing import
    python tools/import_graph.py --sizes    # also the lines of each module, largest first

Data flows one way (capture -> analysis -> effects -> pipeline -> output -> session -> front ends), so
a module should import only from its own layer or below. Every import counts, also the ones inside
functions (they are dependencies all the same; they only hide from a cycle at import time), and
cycles are reported twice: among module-level imports (these break at import time) and among all.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "livecam"

# Lowest first. A module matches the first pattern that fits; an unplaced module is listed.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("livecam.types", "livecam.setting_fields", "livecam.messages", "livecam.private_files",
                    "livecam.media", "livecam.resources", "livecam.perf", "livecam.imaging", "livecam.gpu",
                    "livecam.offline", "livecam.qt_platform", "livecam.model_specs", "livecam.ffmpeg_tool")),
    ("settings", ("livecam.settings",)),
    ("devices", ("livecam.devices",)),
    ("capture", ("livecam.capture",)),
    ("analysis", ("livecam.analysis", "livecam.analysis.*", "livecam.model_fetch")),
    ("effects", ("livecam.effects", "livecam.effects.*")),
    ("pipeline", ("livecam.pipeline", "livecam.output_gate")),
    ("output", ("livecam.output", "livecam.sinks", "livecam.pacing", "livecam.recording", "livecam.output_file",
                "livecam.matroska", "livecam.mp4_fragments", "livecam.idle")),
    ("session", ("livecam.live_runner", "livecam.live_session", "livecam.app", "livecam.render", "livecam.bench",
                 "livecam.quality")),
    # The package itself is the public API (Pipeline, Settings, ...): it sits on top.
    ("front", ("livecam", "livecam.doctor", "livecam.cli", "livecam.__main__", "livecam.gui", "livecam.gui.*")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    for n, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, p) for p in patterns):
            return n
    return None


def imports(path: Path, modules: set[str]) -> tuple[set[str], set[str]]:
    """(module-level imports, all imports) of one file, as LiveCam module names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    top: set[str] = set()
    every: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST, at_top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            found: list[str] = []
            if isinstance(child, ast.Import):
                found = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found = [f"{base}.{a.name}" for a in child.names] + [base]
            for name in found:
                target = resolve(name)
                if target and target != me and target.startswith("livecam"):
                    every.add(target)
                    if at_top:
                        top.add(target)
            nested = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            guarded = isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            if not guarded:
                visit(child, at_top and not nested)

    visit(tree, True)
    # "from livecam import settings" names a module; the bare package entry it adds is noise.
    for found in (top, every):
        if "livecam" in found and me != "livecam":
            found.discard("livecam")
    return top, every


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", action="store_true", help="also print each module's line count")
    args = parser.parse_args()
    files = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    modules = set(files)
    top_graph, all_graph = {}, {}
    for name, path in files.items():
        top_graph[name], all_graph[name] = imports(path, modules)
    unplaced = sorted(m for m in modules if layer_of(m) is None)
    climbing = []
    for source, targets in sorted(all_graph.items()):
        for target in sorted(targets):
            a, b = layer_of(source), layer_of(target)
            if a is not None and b is not None and b > a:
                lazy = "" if target in top_graph[source] else " (inside a function)"
                climbing.append(f"{source} [{LAYERS[a][0]}] -> {target} [{LAYERS[b][0]}]{lazy}")
    top_cycles, all_cycles = cycles(top_graph), cycles(all_graph)
    edges = sum(len(t) for t in all_graph.values())
    print(f"modules: {len(modules)}   imports between them: {edges}")
    print(f"cycles among module-level imports: {len(top_cycles)}")
    for c in top_cycles:
        print("  " + " <-> ".join(c))
    print(f"cycles counting imports inside functions too: {len(all_cycles)}")
    for c in all_cycles:
        print("  " + " <-> ".join(c))
    print(f"imports that climb to a higher layer: {len(climbing)}")
    for line in climbing:
        print("  " + line)
    if unplaced:
        print(f"modules in no layer (add them to LAYERS): {', '.join(unplaced)}")
    if args.sizes:
        print("lines per module:")
        sizes = sorted(((sum(1 for _ in p.open(encoding="utf-8")), n) for n, p in files.items()), reverse=True)
        for lines, name in sizes:
            print(f"  {lines:5d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
