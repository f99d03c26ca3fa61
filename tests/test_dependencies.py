"""Dependency ranges tell the truth: every package imported is declared, and the installed
versions of the libraries whose internals Orderly uses lie inside the declared bounds."""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FIRST_PARTY = {"domain", "eventstore", "projections", "schema", "resolvers", "orderly", "bench", "tests"}
RUNTIME_PACKAGES = ("domain", "eventstore", "projections", "schema", "resolvers", "orderly")
# Libraries whose internals (not only their public API) Orderly's code relies on.
INTERNALS_USED = ("strawberry-graphql", "graphql-core", "cross-web", "uvicorn", "sqlalchemy")


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    parsed = (Requirement(line) for line in lines)
    return {canonicalize_name(requirement.name): requirement for requirement in parsed}


RUNTIME = _requirements(PROJECT["dependencies"])
TEST = _requirements(PROJECT["optional-dependencies"]["test"])
# Extras a feature imports only when installed (otel: eventstore/tracing.py, orderly/tracing_setup.py).
OPTIONAL = {
    name: requirement
    for extra, lines in PROJECT["optional-dependencies"].items() if extra != "test"
    for name, requirement in _requirements(lines).items()
}


def _imported_top_levels(folder: Path) -> Iterator[tuple[str, Path]]:
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                yield name.split(".", 1)[0], path


def _distributions_imported_by(folders: tuple[str, ...]) -> dict[str, Path]:
    owners = packages_distributions()
    found: dict[str, Path] = {}
    for folder in folders:
        for top, path in _imported_top_levels(ROOT / folder):
            if top in FIRST_PARTY or top in sys.stdlib_module_names or top == "__future__":
                continue
            assert top in owners, f"{path.relative_to(ROOT)} imports {top!r}, which no installed distribution provides"
            providers = [canonicalize_name(distribution) for distribution in owners[top]]
            # A namespace package (opentelemetry) has many providers: the declared ones stand for it.
            declared = [name for name in providers if name in RUNTIME or name in TEST or name in OPTIONAL]
            for distribution in declared or providers:
                found.setdefault(distribution, path)
    return found


def test_every_package_the_server_imports_is_a_declared_dependency() -> None:
    undeclared = {
        name: str(path.relative_to(ROOT))
        for name, path in _distributions_imported_by(RUNTIME_PACKAGES).items()
        if name not in RUNTIME and name not in OPTIONAL
    }
    assert not undeclared, f"imported but not in [project].dependencies or an optional extra: {undeclared}"


def test_every_package_the_tests_import_is_declared_for_them() -> None:
    undeclared = {
        name: str(path.relative_to(ROOT))
        for name, path in _distributions_imported_by(("tests",)).items()
        if name not in RUNTIME and name not in TEST and name not in OPTIONAL
    }
    assert not undeclared, f"imported by tests but not declared in the test extra: {undeclared}"


@pytest.mark.parametrize("name", INTERNALS_USED)
def test_libraries_used_through_their_internals_have_both_bounds_and_the_installed_version_inside(name: str) -> None:
    specifier = RUNTIME[name].specifier
    operators = {spec.operator for spec in specifier}
    assert operators & {">=", "=="} and operators & {"<", "=="}, f"{name} needs a lower and an upper bound: {specifier}"
    installed = version(name)
    assert specifier.contains(installed, prereleases=True), f"{name} {installed} is outside {specifier}"
