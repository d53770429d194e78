"""The code base stays lint-clean, type-clean, and layered as ARCHITECTURE.md draws it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: package → the openfc packages it may import (dependencies point downwards only).
ALLOWED = {
    "store": {"errors", "config", "store"},
    "runtime": {"runtime"},
    "pool": {"errors", "config", "store", "runtime", "pool"},
    "observe": {"errors", "config", "store", "observe"},
    "queue": {"errors", "config", "store", "pool", "queue"},
    "invoke": {"errors", "config", "store", "pool", "queue", "observe", "invoke"},
    "auth": {"errors", "config", "store", "auth"},
    "control": {"errors", "config", "store", "pool", "queue", "observe", "invoke", "control"},
    "workflow": {"errors", "config", "store", "invoke", "workflow"},
}


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "openfc", "tests", "bench"], cwd=ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "openfc"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lower_layers_never_import_upper_ones() -> None:
    problems = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / "openfc" / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                for name in names:
                    parts = name.split(".")
                    if parts[0] == "openfc" and len(parts) > 1 and parts[1] not in allowed:
                        problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not problems, "\n".join(problems)
