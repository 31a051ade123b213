"""mypy analyses every aws-cdk-lib module the code imports, and skips the rest (pyproject.toml).

aws-cdk-lib's root module imports all of its service modules for type checkers; pyproject.toml
skips them (`follow_imports = "skip"`) except the ones listed, which a cold run (a fresh CI
clone) then analyses alone. A module imported here but not listed would be Any to mypy, and a
wrong argument to it would pass unseen: these tests keep the list equal to the imports.
"""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "aws_cdk"
# Listed beside the imports: the root, and the types the modules' signatures share.
ALWAYS_ANALYSED = {PACKAGE, f"{PACKAGE}.interfaces.*"}


def _mypy() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    return config


def _overrides(follow: str) -> set[str]:
    return {
        module
        for override in _mypy().get("overrides", [])
        if override.get("follow_imports") == follow
        for module in override["module"]
    }


def _is_module(name: str) -> bool:
    """Whether `aws_cdk.<name>` is a module (not a class such as Duration), without importing
    aws_cdk (which would start its jsii kernel)."""
    spec = importlib.util.find_spec(PACKAGE)
    assert spec is not None
    assert spec.submodule_search_locations is not None
    return any((Path(d) / name).is_dir() for d in spec.submodule_search_locations)


def cdk_modules(source: str, name: str) -> set[str]:
    """The `aws_cdk.<module>` names `source` imports (a top-level module, not its parts)."""
    found = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PACKAGE:
                dotted = [f"{PACKAGE}.{a.name}" for a in node.names if _is_module(a.name)]
            else:
                dotted = [node.module]
        else:
            continue
        for module in dotted:
            parts = module.split(".")
            if parts[0] == PACKAGE and len(parts) > 1:
                found.add(".".join(parts[:2]))
    return found


def _checked_files() -> list[Path]:
    files = []
    for entry in _mypy()["files"]:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def test_every_cdk_module_the_code_imports_is_analysed_and_no_other() -> None:
    imported = set()
    for path in _checked_files():
        imported |= cdk_modules(path.read_text(), str(path.relative_to(ROOT)))
    assert imported, "no aws_cdk module found: the scan is broken"
    assert _overrides("normal") - ALWAYS_ANALYSED == imported


def test_the_other_cdk_modules_are_skipped() -> None:
    assert f"{PACKAGE}.*" in _overrides("skip")
    assert _overrides("normal") >= ALWAYS_ANALYSED


def test_the_scan_finds_each_import_form_and_ignores_classes() -> None:
    source = (
        "import aws_cdk.aws_sqs\n"
        "from aws_cdk import aws_s3 as s3, Duration, Stack\n"
        "from aws_cdk.aws_events_targets import SqsQueue\n"
        "from aws_cdk.aws_lambda.something import nothing\n"
        "import aws_cdk\n"
        "from . import aws_glue\n"
        "import constructs\n"
    )
    assert cdk_modules(source, "x.py") == {
        "aws_cdk.aws_sqs",
        "aws_cdk.aws_s3",
        "aws_cdk.aws_events_targets",
        "aws_cdk.aws_lambda",
    }
