"""The upgrade guard: every moto, botocore or werkzeug function a patch replaces or copies still has
the source its patch was written against. After an upgrade, a failure names each function that
changed, the patch that depends on it and what to re-check; once re-checked, record the new hash
printed in its ``PATCHED`` entry (and the new version in ``guard.VERSIONS``)."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from stepsaga.embedded import patches
from stepsaga.embedded.patches import (
    awslambda,
    botocore,
    cloudformation,
    dynamodb,
    guard,
    moto_core,
    stepfunctions,
    stepfunctions_api,
)
from stepsaga.embedded.patches.guard import Pinned

PATCH_MODULES: tuple[ModuleType, ...] = (
    awslambda,
    botocore,
    cloudformation,
    dynamodb,
    moto_core,
    stepfunctions,
    stepfunctions_api,
)
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    from moto import mock_aws

    with mock_aws():  # the stubber is found while a mock runs; the patches stay after it
        patches.install()


def tables() -> dict[str, tuple[ModuleType, Pinned]]:
    found: dict[str, tuple[ModuleType, Pinned]] = {}
    for module in PATCH_MODULES:
        for name, pinned in module.PATCHED.items():
            assert name not in found, (
                f"{name} is in the tables of {found[name][0].__name__} and {module.__name__}"
            )
            found[name] = (module, pinned)
    return found


def owner(patch: str) -> str:
    """``module.install_x``: the patch module that defines it (a table may name another module's)."""
    return next((f"{m.__name__}.{patch}" for m in PATCH_MODULES if callable(getattr(m, patch, None))), patch)


def changed(table: dict[str, tuple[ModuleType, Pinned]]) -> list[str]:
    """One line per function whose source is no longer the one its patch was written against."""
    lines = []
    for name, (_module, pinned) in table.items():
        original = guard.ORIGINALS.get(name) or guard.resolve(name)
        now = guard.digest(original)
        if now != pinned.sha256:
            package = name.split(".")[0]
            recorded = guard.VERSIONS.get(package, "?")
            installed = importlib.metadata.version(package)
            lines.append(
                f"{name} changed ({package} {recorded} -> {installed}): re-check "
                f"{', '.join(owner(patch) for patch in pinned.patch.split(', '))}: {pinned.recheck}; "
                f"then record {now}"
            )
    return lines


def test_no_function_a_patch_replaces_or_copies_has_changed() -> None:
    stale = changed(tables())
    assert not stale, "\n".join(stale)


def test_a_changed_function_is_named_with_its_patch_and_what_to_recheck() -> None:
    name = "moto.dynamodb.models.DynamoDBBackend.transact_write_items"
    module, pinned = tables()[name]
    stale = changed({name: (module, pinned._replace(sha256="0" * 64))})
    assert len(stale) == 1
    versions = f"moto {guard.VERSIONS['moto']} -> {importlib.metadata.version('moto')}"
    assert stale[0].startswith(f"{name} changed ({versions}): re-check ")
    assert "stepsaga.embedded.patches.dynamodb.install_transactions" in stale[0]
    assert pinned.recheck in stale[0]


def test_every_function_a_patch_replaced_is_pinned() -> None:
    """A new patch that swaps a moto, botocore or werkzeug function needs its entry in ``PATCHED``."""
    replaced = {name for name in guard.ORIGINALS if name.split(".")[0] in guard.VERSIONS}
    assert replaced, "replace() recorded nothing: the guard would check only what it resolves"
    assert sorted(replaced - set(tables())) == []


def test_every_pinned_replacement_was_made_by_its_patch() -> None:
    """An entry whose patch no longer replaces it (switched off, or removed) is stale: the guard
    would check a function nothing depends on; a copied one must still be moto's own."""
    for name, (_module, pinned) in tables().items():
        for patch in pinned.patch.split(", "):
            assert owner(patch) != patch, f"{name}: no patch module defines {patch}"
        if pinned.replaced:
            assert name in guard.ORIGINALS, f"{name}: {pinned.patch} did not replace it"
        else:
            assert name not in guard.ORIGINALS, f"{name} is replaced: it is not only copied"


def test_the_originals_are_kept_not_the_patches() -> None:
    """The hashes are of moto's functions as installed, not of the patches that replaced them."""
    for name, original in guard.ORIGINALS.items():
        assert not original.__module__.startswith("stepsaga"), name
    from moto.dynamodb.models import DynamoDBBackend

    original = guard.ORIGINALS["moto.dynamodb.models.DynamoDBBackend.transact_write_items"]
    assert DynamoDBBackend.transact_write_items is not original


def test_the_hashes_were_taken_from_the_pinned_versions() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]
    pins = {}
    extras = [
        requirement for group in dependencies["optional-dependencies"].values() for requirement in group
    ]
    for requirement in dependencies["dependencies"] + extras:
        found = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([0-9.]+)", requirement.replace(" ", ""))
        if found:
            pins[found.group(1).lower()] = found.group(3)
    assert guard.VERSIONS["moto"] == pins["moto"]
    assert guard.VERSIONS["botocore"] == pins["boto3"]  # botocore moves in step with boto3


def deepcopy_callers(module: ModuleType) -> set[str]:
    """The qualified names of the functions in ``module`` whose own body calls ``copy.deepcopy``."""
    found: set[str] = set()

    def visit(node: ast.AST, scope: tuple[str, ...]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, (*scope, child.name))
                continue
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "deepcopy"
                and isinstance(child.func.value, ast.Name)
                and child.func.value.id == "copy"
            ):
                found.add(".".join(scope) or "<module>")
            visit(child, scope)

    visit(ast.parse(inspect.getsource(module)), ())
    return found


def test_every_json_copy_is_listed_and_pinned() -> None:
    """``install_json_copies`` gives a whole module JSON copies: a new ``copy.deepcopy`` there, or one
    moved to another function, is unchecked until it is listed (or the module left stock)."""
    table = tables()
    for name, functions in stepfunctions.JSON_COPIES.items():
        module = importlib.import_module(name)
        assert deepcopy_callers(module) == set(functions), name
        for function in functions:
            pinned = table[f"{name}.{function}"][1]
            assert "install_json_copies" in pinned.patch.split(", "), function
