"""Small units: no function over 60 lines in the code a forker reads and changes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 60
CHECKED = ("stacks", "lambda_src", "ops", "bench", "app.py")


def long_functions(source: str, name: str) -> list[str]:
    """`name:line function (N lines)` for every def longer than MAX_FUNCTION_LINES."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name} ({length} lines)")
    return found


def _python_files() -> list[Path]:
    files = []
    for entry in CHECKED:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def test_no_function_is_longer_than_sixty_lines() -> None:
    offenders = [
        hit
        for path in _python_files()
        for hit in long_functions(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert offenders == []


@pytest.mark.parametrize(("body_lines", "flagged"), [(59, False), (60, True)])
def test_the_gate_counts_the_def_line_too(body_lines: int, flagged: bool) -> None:
    source = "def f():\n" + "    x = 1\n" * body_lines
    assert bool(long_functions(source, "probe.py")) is flagged
