"""ldarviz uses only ldarnet's public API: ``ldarnet`` itself and the public subpackages in ``ldarnet.__all__``.

Read from the source with ``ast`` (no import needed), so a private import fails here even in a
module whose tests do not run it.
"""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import pytest

import ldarnet

LDARVIZ = Path(__file__).resolve().parents[1] / "ldarviz"
MODULES = sorted(LDARVIZ.rglob("*.py"))


def _public_subpackages() -> set[str]:
    return {f"ldarnet.{name}" for name in ldarnet.__all__
            if isinstance(getattr(ldarnet, name), types.ModuleType)}


def _uses(tree: ast.AST):
    """(line, module, imported name or None) for every use of ldarnet in a parsed file."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ldarnet":
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "ldarnet":
            for alias in node.names:
                yield node.lineno, node.module, alias.name
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ldarnet":
            yield node.lineno, "ldarnet", node.attr


def test_the_public_subpackages_exist_and_declare_their_names():
    assert "ldarnet.genome" in _public_subpackages()
    for module in _public_subpackages():
        names = importlib.import_module(module).__all__
        assert names and all(hasattr(importlib.import_module(module), n) for n in names)
    assert all(hasattr(ldarnet, name) for name in ldarnet.__all__)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(LDARVIZ)) for p in MODULES])
def test_ldarviz_imports_only_public_ldarnet_names(path):
    public = {"ldarnet", *_public_subpackages()}
    bad = []
    for line, module, name in _uses(ast.parse(path.read_text(), filename=str(path))):
        where = f"{path.name}:{line}"
        if module not in public:
            bad.append(f"{where} imports the private module {module}")
        elif name is not None and not name.startswith("__"):
            exported = ldarnet.__all__ if module == "ldarnet" else importlib.import_module(module).__all__
            if name not in exported:
                bad.append(f"{where} uses {module}.{name}, which is not in {module}.__all__")
    assert not bad, "\n".join(bad)


def test_the_check_catches_a_private_import():
    tree = ast.parse("from ldarnet.checkpoint import file_sha256\nimport ldarnet.genome.fasta\nfrom ldarnet import genome\n")
    public = {"ldarnet", *_public_subpackages()}
    assert [m for _, m, _ in _uses(tree) if m not in public] == ["ldarnet.checkpoint", "ldarnet.genome.fasta"]
