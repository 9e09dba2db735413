"""The layout holds: import-linter's contracts (pyproject.toml) are kept, and they do
catch what they promise — an upward import, even one made inside a function, and a cycle
between sibling modules — shown on a scratch copy of the package. An import inside a
function says why on its line or the line above."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True,
        timeout=300, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("layout")
    shutil.copytree(ROOT / "tracker", root / "tracker", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_upward_import_inside_a_function_breaks_the_layers(scratch):
    units = scratch / "tracker" / "plans" / "units.py"
    original = units.read_text()
    units.write_text(
        original + "\n\ndef _scratch():\n    from tracker.notifications import digests\n"
    )
    try:
        result = lint_imports(scratch)
    finally:
        units.write_text(original)
    assert result.returncode != 0
    assert "tracker.plans is not allowed to import tracker.notifications" in result.stdout


def test_a_cycle_between_siblings_breaks_the_acyclic_contract(scratch):
    loader = scratch / "tracker" / "plans" / "loader.py"  # selection imports the loader
    original = loader.read_text()
    loader.write_text(original + "\n\ndef _scratch():\n    from tracker.plans import selection\n")
    try:
        result = lint_imports(scratch)
    finally:
        loader.write_text(original)
    assert result.returncode != 0
    assert "No import cycles between sibling modules BROKEN" in result.stdout


def test_every_import_inside_a_function_says_why():
    unexplained = []
    for path in ROOT.glob("tracker/**/*.py"):
        if "migrations" in path.parts:
            continue
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    line, above = lines[inner.lineno - 1], lines[inner.lineno - 2].strip()
                    if "#" not in line and not above.startswith("#"):
                        unexplained.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert unexplained == []
