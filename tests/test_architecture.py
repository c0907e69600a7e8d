"""The layers hold: Streamlit only at the edge, no database driver and no SQL in app.py and pages/.

Imports are read from each module's syntax tree (a docstring or comment mentioning a module is not an import),
so the test fails on any real import however it is written (`import x.y`, `from x import y`, inside a function).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

PAGES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
CORE = [p for folder in ("etl", "metrics", "replyboard", "sample_data") for p in sorted((ROOT / folder).rglob("*.py"))]
# A string that reads like a query: a SQL verb followed by what a query needs.
_SQL = re.compile(
    r"\b(SELECT\s+.+\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b", re.I | re.S
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_imported_modules_sees_every_form(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        '"""import duckdb in a docstring"""\nimport os.path\nfrom a.b import c\ndef f():\n    import duckdb\n'
    )
    assert imported_modules(probe) == {"os.path", "a.b", "duckdb"}


# The two command lines that add the digests package's commands and tasks (issue 17): the CLI edge, the one place
# the core reaches the presentation layer. Nothing else in the core may import it.
DIGESTS_EDGES = {"metrics/__main__.py", "etl/live.py"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_streamlit_or_plots(path: Path) -> None:
    forbidden = {"streamlit", "plotly", "kaleido", "charts", "pages", "css_inline", "aiosmtpd"}
    if str(path.relative_to(ROOT)) not in DIGESTS_EDGES:
        forbidden.add("digests")
    assert not _top(imported_modules(path)) & forbidden


def test_the_digests_edges_import_it_only_inside_a_function() -> None:
    """Importing metrics or etl never loads the presentation layer: the edges import it when a command runs."""
    for name in sorted(DIGESTS_EDGES):
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        top_level = {
            alias.name if isinstance(node, ast.Import) else node.module
            for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert not {m for m in top_level if m and m.split(".")[0] == "digests"}, name
        assert "digests" in _top(imported_modules(ROOT / name)), f"{name} no longer adds the digests commands"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_do_not_import_the_database_driver(path: Path) -> None:
    assert "duckdb" not in _top(imported_modules(path)), "pages read through the read layer (metrics/)"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_hold_no_sql(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    queries = [
        node.value[:60]
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and _SQL.search(node.value)
    ]
    # Explore's example query is text for the analyst to edit, run by the sandbox, not by the page
    allowed = {"pages/explore.py": 1}
    assert len(queries) <= allowed.get(str(path.relative_to(ROOT)), 0), queries
