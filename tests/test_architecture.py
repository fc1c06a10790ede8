"""The shape of the code: no import cycle, no oversized module, no torch in the web process, and
Django-free pure modules.

Pure checks: the import graph is read from every module's source (AST), imports inside functions
included, so no database and no app code runs, except in the one subprocess that imports the web
process's modules to see whether torch came with them.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("aiornot_site", "detector", "registry", "reviews", "dashboards", "webhooks")
SIZE_CHECKED = (*PACKAGES, "bench", "scripts")
MAX_LINES = 520
# Modules that must run without Django (the ML library, evidence readers, image and zip intake).
PURE = ("detector/intake.py", "detector/archives.py", "detector/ml", "detector/evidence")
DJANGO_ROOTS = {"django", "rest_framework", "drf_spectacular"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    """Every module of the project's packages (migrations left out: generated, and they import
    only models), by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" not in path.relative_to(REPO).parts:
                found[_module_name(path)] = path
    return found


def _is_package(name: str) -> bool:
    return _modules()[name].name == "__init__.py"


def _in_type_checking_block(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _in_function(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def _resolve(name: str) -> str | None:
    """The project module an import of `name` loads (the longest prefix that is one), or None."""
    modules = _modules()
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


@cache
def _imports(module: str) -> tuple[tuple[str, int, bool], ...]:
    """(imported name, line, inside a function) for every import the module's source makes,
    relative imports resolved; imports under `if TYPE_CHECKING:` are not run and are left out."""
    tree = ast.parse(_modules()[module].read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module if _is_package(module) else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _in_type_checking_block(node, parents):
            continue
        deferred = _in_function(node, parents)
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, deferred) for alias in node.names)
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module
        # `from pkg import name` loads pkg.name when that is a module, else pkg itself.
        found.extend((f"{target}.{alias.name}", node.lineno, deferred) for alias in node.names)
    return tuple(found)


def _is_enqueue(module: str, target: str, deferred: bool) -> bool:
    """A service handing work to its app's Celery task module at enqueue time.

    Tasks are the outermost interface (a worker's entry points): they import the services they
    run, and a service that queues work on commit reaches the task from inside the function that
    queues it (the Celery idiom; every app does it the same way). That edge is not a layering
    cycle and is left out of the graph. Only this one kind of import inside a function is, and
    only within one app: between apps every import counts.
    """
    same_app = module.partition(".")[0] == target.partition(".")[0]
    return deferred and same_app and target.rpartition(".")[2] == "tasks"


@cache
def _graph() -> dict[str, dict[str, int]]:
    """module -> {imported project module: line}. ForeignKey("app.Model") strings are not imports
    and are not edges; a models module that really imports another app's models is one."""
    graph = {}
    for module in _modules():
        edges = {}
        for name, line, deferred in _imports(module):
            target = _resolve(name)
            if target is None or target == module or _is_enqueue(module, target, deferred):
                continue
            edges.setdefault(target, line)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as one cycle."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(_one_cycle(graph, set(component)))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _one_cycle(graph: dict[str, dict[str, int]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, as the path of modules."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for succ in sorted(graph[node]):
            if succ == start:
                return paths[node] + [start]
            if succ in component and succ not in paths:
                paths[succ] = paths[node] + [succ]
                queue.append(succ)
    return sorted(component)


def _describe(graph, cycle: list[str]) -> str:
    return " -> ".join(
        f"{module} (line {graph[module][succ]})" for module, succ in zip(cycle, cycle[1:])
    ) + f" -> {cycle[-1]}"


def test_no_module_imports_itself_back_through_others():
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "Import cycles (imports inside functions included):\n" + "\n".join(
        _describe(graph, cycle) for cycle in cycles
    )


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_chain():
    assert _cycles({"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b": 1}, "b": {"c": 2}, "c": {}}) == []


def test_no_module_is_over_the_size_limit():
    oversized = []
    for top in SIZE_CHECKED:
        for path in sorted((REPO / top).rglob("*.py")):
            if "migrations" in path.relative_to(REPO).parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                oversized.append(f"{path.relative_to(REPO)}: {lines} lines")
    assert not oversized, f"Modules over {MAX_LINES} lines (split them by concern):\n" + "\n".join(oversized)


def _pure_modules() -> list[str]:
    names = []
    for entry in PURE:
        path = REPO / entry
        paths = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
        names.extend(_module_name(p) for p in paths)
    return names


def _with_parents(module: str) -> list[str]:
    """The module and the packages Python runs first to import it."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in _modules()]


def test_pure_modules_import_no_django_even_through_other_modules():
    graph, problems = _graph(), []
    for module in _pure_modules():
        chain_to = {m: [m] for m in _with_parents(module)}
        queue = list(chain_to)
        while queue:
            current = queue.pop(0)
            for name, line, _deferred in _imports(current):
                if name.split(".")[0] in DJANGO_ROOTS:
                    via = " -> ".join(chain_to[current])
                    problems.append(f"{module}: {via} imports {name} (line {line})")
            for target in graph[current]:
                for step in _with_parents(target):
                    if step not in chain_to:
                        chain_to[step] = chain_to[current] + [step]
                        queue.append(step)
    assert not problems, "Pure modules must run without Django:\n" + "\n".join(sorted(set(problems)))


WEB_PROCESS_IMPORTS = """
import importlib, sys
import django
django.setup()
for name in sys.argv[1:]:
    importlib.import_module(name)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "timm", "torchvision"))
print("\\n".join(heavy))
"""


def _web_modules() -> list[str]:
    """The URL conf and what it serves pages and API answers with: views, apis, templatetags."""
    names = ["aiornot_site.urls"]
    for module in _modules():
        inner = module.split(".")[1:]  # a views/ or apis/ package counts with every module in it
        if any(part in ("views", "apis", "urls", "templatetags") or part.endswith("_views") for part in inner):
            names.append(module)
    return sorted(set(names))


def test_the_web_process_does_not_import_torch():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aiornot_site.test_settings", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS_IMPORTS, *_web_modules()],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    heavy = result.stdout.split()
    assert not heavy, (
        "Importing the URL conf, views, APIs and template tags loaded torch: "
        + ", ".join(heavy[:10])
        + ". Import ML code inside the function that needs it (# torch stays out of the web process)."
    )
