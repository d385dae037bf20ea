"""No import cycles inside ``audiogen``, between modules or between its top-level parts.

The graph is read from the source with :mod:`ast`, so nothing is imported to build it. It counts
every ``import`` statement, the ones inside functions included: the project imports heavy modules
on first use, so most of its imports are function-local, and a cycle through them is still two
parts that each need the other. Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py``
first, so such an import is an edge to those packages as well. Imports made by
:func:`importlib.import_module` (the class tables of :mod:`audiogen.hub`, the lazy names of the
package ``__init__`` files) are not statements and are not counted; ``if TYPE_CHECKING:`` imports
are counted like the others.

Two levels are checked:

* modules (``audiogen.pipelines.loop`` → ``audiogen.audio.features``);
* parts: a module at the top of the package or a subpackage (``audiogen.pipelines``,
  ``audiogen.hub``), each subpackage counted as one node, so that, say, ``audiogen.models`` never
  reaches back into ``audiogen.hub`` through any of their files.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "audiogen"

#: Edges known to close a cycle, each with the reason it stays for now. Every entry must still be
#: in the code (a stale one fails the test) so this list only shrinks.
ALLOWED: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The module that defines ``name`` (a module, or a name inside one), or ``None`` if not ours."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(skip: dict[tuple[str, str], str] | None = None) -> dict[str, set[str]]:
    """Module name → the ``audiogen`` modules it imports, including the packages those run first.

    An import of module ``b`` by module ``a`` with ``(a, b)`` in ``skip`` is left out, with the
    packages it would run first.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # ``from pkg import sub`` imports the submodule; ``from mod import name`` the module
                targets += [f"{source}.{alias.name}" for alias in node.names]
        for target in targets:
            owner = _owner(target, modules) if target.startswith("audiogen") else None
            if owner is None or (name, owner) in (skip or {}):
                continue
            parts = owner.split(".")
            for i in range(1, len(parts) + 1):  # the packages above run first
                step = ".".join(parts[:i])
                if step in modules and step != name and not name.startswith(step + "."):
                    graph[name].add(step)
    return graph


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def part_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between the package's top-level parts (a subpackage is one node)."""
    parts: dict[str, set[str]] = {}
    for source, targets in graph.items():
        parts.setdefault(_part(source), set())
        for target in targets:
            if _part(target) != _part(source):
                parts[_part(source)].add(_part(target))
    return parts


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _describe(found: list[list[str]], graph: dict[str, set[str]]) -> str:
    lines = []
    for component in found:
        members = set(component)
        lines.append(" + ".join(component))
        lines += [f"    {a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return "\n".join(lines)


def test_the_allowed_edges_are_still_there():
    graph = import_graph()
    stale = [edge for edge in ALLOWED if edge[1] not in graph.get(edge[0], set())]
    assert not stale, f"remove these from ALLOWED, the code no longer has them: {stale}"


def test_no_module_imports_itself_through_others():
    graph = import_graph(skip=ALLOWED)
    found = cycles(graph)
    assert not found, "import cycles between modules:\n" + _describe(found, graph)


def test_no_top_level_part_imports_itself_through_others():
    graph = part_graph(import_graph(skip=ALLOWED))
    found = cycles(graph)
    assert not found, "import cycles between audiogen's parts:\n" + _describe(found, graph)


def test_the_graph_sees_function_local_imports():
    graph = import_graph()
    # pipelines/inpaint.py imports the windowed denoiser inside a function
    assert "audiogen.pipelines.windows" in graph["audiogen.pipelines.inpaint"]
    # and an import of a submodule runs its package first
    assert "audiogen.audio" in graph["audiogen.pipelines.inpaint"]
