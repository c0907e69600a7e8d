"""Modules that show the design: no import cycle anywhere in the code, and each module of the source adapters
and of the OKR package imports on its own in a fresh interpreter (so none relies on another having been
imported first).

Imports are read from each module's syntax tree, those inside functions too: a cycle closed by a "lazy"
import in a function body (as etl/sources/openphone.py once did through detect.py) is still a cycle.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGES = ("etl", "metrics", "replyboard", "sample_data", "charts", "digests")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for folder in PACKAGES for p in sorted((ROOT / folder).rglob("*.py"))}


def first_party_imports(source: str, name: str, known: set[str], *, package: bool = False) -> set[str]:
    """The first-party modules module `name` (source text given) imports, at any depth: `from etl.sources
    import detect` counts as etl.sources.detect, `from etl.sources.detect import x` as etl.sources.detect,
    relative imports resolved from the module's package."""
    parent = name if package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = parent.split(".")[: len(parent.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    known = set(MODULES)
    return {
        name: first_party_imports(path.read_text(encoding="utf-8"), name, known, package=path.name == "__init__.py")
        for name, path in MODULES.items()
    }


def test_first_party_imports_sees_every_form() -> None:
    source = (
        '"""import etl.load in a docstring"""\n'
        "from etl.sources import common\n"
        "from .base import Reject\n"
        "def f():\n"
        "    from etl.sources.twilio import read_api\n"
        "    import replyboard.files\n"
    )
    assert first_party_imports(source, "etl.sources.detect", set(MODULES)) == {
        "etl.sources",
        "etl.sources.common",
        "etl.sources.base",
        "etl.sources.twilio",
        "replyboard.files",
    }


def test_a_cycle_through_a_function_level_import_is_found() -> None:
    graph = {"a": {"b"}, "b": set()}
    list(graphlib.TopologicalSorter(graph).static_order())
    graph["b"] = {"a"}  # b imports a inside a function
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter(graph).static_order())


def test_no_import_cycle() -> None:
    graph = import_graph()
    assert "etl.sources.detect" in graph and "metrics.okr.evaluate" in graph
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_detection_and_shared_helpers_import_no_adapter() -> None:
    """The adapters import detect (signatures, wrong-kind errors) and common (helpers), never the reverse."""
    graph = import_graph()
    adapters = {"etl.sources." + m for m in ("openphone", "twilio", "twilio_webhook", "sms_backup", "mapped_csv")}
    for module in ("etl.sources.base", "etl.sources.common", "etl.sources.detect"):
        assert not graph[module] & adapters, module
    assert graph["etl.sources.registry"] >= adapters


ALONE = sorted(m for m in MODULES if m.startswith(("etl.sources.", "metrics.okr")))


@pytest.mark.parametrize("module", ALONE)
def test_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
