"""Each extra installs what its code imports: ``pip install 'stepsaga[local]'`` gives a working command.

The third-party imports of each part of the tree are read from the code (grimp's import graph)
and checked against the distributions the matching extra brings in, dependencies included.
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import metadata

import grimp
import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.unit

PROJECT = "stepsaga"
# Which part of the tree needs which extras (the base dependencies are the Lambda runtime's).
NEEDS = {
    "functions": (),
    "statemachines": (),
    "infra": ("cdk",),
    "stepsaga": ("local",),
}


def _name(requirement: str) -> str:
    return Requirement(requirement).name.lower().replace("_", "-")


@cache
def installed_with(distribution: str, extras: frozenset[str] = frozenset()) -> frozenset[str]:
    """``distribution`` and everything pip installs with it for ``extras``, by distribution name."""
    found = {distribution}
    for text in metadata.requires(distribution) or ():
        requirement = Requirement(text)
        wanted = (
            any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})
            if (requirement.marker)
            else True
        )
        if not wanted:
            continue
        name = _name(text)
        if name == PROJECT:  # an extra that names another extra of this project
            found |= installed_with(PROJECT, frozenset(requirement.extras))
        elif name not in found:
            try:
                found |= installed_with(name, frozenset(requirement.extras))
            except metadata.PackageNotFoundError:
                continue  # an optional dependency for another platform or Python
    return frozenset(found)


def third_party_imports(package: str) -> set[str]:
    # No cache: grimp would write one under the working directory, which a test may have left.
    graph = grimp.build_graph(package, include_external_packages=True, cache_dir=None)
    return {
        module
        for module in graph.modules
        if "." not in module and module != package and module not in sys.stdlib_module_names
    }


def distributions_of(module: str) -> set[str]:
    return {name.lower().replace("_", "-") for name in metadata.packages_distributions().get(module, [])}


@pytest.mark.parametrize("package", sorted(NEEDS))
def test_the_extras_of_each_part_install_what_it_imports(package: str) -> None:
    available = installed_with(PROJECT, frozenset(NEEDS[package]))
    missing = {
        module: distributions_of(module)
        for module in third_party_imports(package)
        if not distributions_of(module) & available
    }
    assert not missing, f"{package}/ imports these, but its extras {NEEDS[package]} do not install them"


def test_the_check_sees_a_missing_extra() -> None:
    # The CDK app imports aws_cdk, which the base dependencies alone do not install.
    assert "aws_cdk" in third_party_imports("infra")
    assert not distributions_of("aws_cdk") & installed_with(PROJECT)
