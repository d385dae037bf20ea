"""The scripts of ``benchmarks/`` and ``tools/`` import only names the package has.

Most of them import ``audiogen`` inside ``main()``, so ``--help`` does not show a stale import; this
reads each ``from audiogen... import name`` (and ``import audiogen...``) statement and resolves it.
"""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "tools").glob("*.py"))


def audiogen_imports(source: str) -> list[tuple[str, str | None]]:
    """``(module, name)`` for every import of an ``audiogen`` module in ``source`` (name None: a module)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            if (node.module or "").split(".")[0] == "audiogen":
                found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "audiogen"]
    return found


def test_audiogen_imports_reads_both_forms():
    source = "import os\nimport audiogen.hub\ndef f():\n    from audiogen.config import MelConfig, x\n"
    assert audiogen_imports(source) == [("audiogen.hub", None), ("audiogen.config", "MelConfig"),
                                        ("audiogen.config", "x")]  # fmt: skip


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_imports_resolve(script):
    missing = []
    for module_name, name in audiogen_imports(script.read_text()):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            missing.append(module_name)
            continue
        if name is not None and not hasattr(module, name):
            try:  # a submodule imported by name: from audiogen.pipelines import denoise
                importlib.import_module(f"{module_name}.{name}")
            except ModuleNotFoundError:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"{script.relative_to(ROOT)} imports what the package lacks: {missing}"
