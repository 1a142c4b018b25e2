"""bench/coldstart.py: parsing ``-X importtime`` and summarising (on a sample and on one real
measurement), and the environment it measures in as Powertools reads it."""

from __future__ import annotations

import os

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.tracing.tracer import Tracer

import infra.api
import infra.observability
from bench import coldstart
from functions.common import observability
from statemachines.catalogue import PARENTS, SAGAS

pytestmark = pytest.mark.unit

# What ``python -X importtime -c "import functions.handlers.demo"`` prints, trimmed: the
# interpreter's own imports first, then the statement's, children before their parent.
STDERR = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |   _io
import time:       300 |        420 | site
import time:        50 |         50 | functions
import time:        40 |         40 | functions.handlers
import time:      2000 |       2000 |         botocore.exceptions
import time:      1000 |       3000 |       boto3
import time:       500 |       3500 |     functions.common.aws
import time:       300 |       3800 |   functions.common.store
import time:      4000 |       4000 |       pydantic_core
import time:      1000 |       5000 |     pydantic
import time:       700 |       5700 |   functions.common.settings
import time:       200 |       9700 | functions.handlers.demo
"""


def test_parse_builds_the_tree_from_post_order_lines() -> None:
    roots = coldstart.parse_importtime(STDERR)
    assert [r.name for r in roots] == ["site", "functions", "functions.handlers", "functions.handlers.demo"]
    demo = roots[-1]
    assert [c.name for c in demo.children] == ["functions.common.store", "functions.common.settings"]
    store = demo.children[0]
    assert [c.name for c in store.children] == ["functions.common.aws"]
    assert store.children[0].children[0].children[0].name == "botocore.exceptions"
    assert roots[0].children[0].name == "_io"


def test_analyse_counts_only_the_statements_imports() -> None:
    sample = coldstart.analyse(STDERR)
    assert sample.import_ms == pytest.approx((50 + 40 + 9700) / 1000)  # not site's 420 us
    assert sample.package_ms["botocore"] == pytest.approx(2.0)
    assert sample.package_ms["functions"] == pytest.approx((50 + 40 + 500 + 700 + 300 + 200) / 1000)
    assert sample.entries == {"boto3": 3.0, "pydantic": 5.0}
    assert sample.importers == {"boto3": "functions.common.aws", "pydantic": "functions.common.settings"}
    assert sample.pulled_by["botocore"] == "functions.common.aws -> boto3 -> botocore.exceptions"
    assert sample.pulled_by["pydantic_core"] == "functions.common.settings -> pydantic -> pydantic_core"


def test_analyse_refuses_output_without_the_handler() -> None:
    with pytest.raises(ValueError):
        coldstart.analyse("import time:       300 |        420 | site\n")


def test_heaviest_and_render() -> None:
    sample = coldstart.analyse(STDERR)
    result = coldstart.Result("demo", [sample] * 3, [sample] * 3, [12.0, 10.0, 11.0])
    entries, packages = coldstart.heaviest([result], top=2)
    assert [h.name for h in entries] == ["pydantic", "boto3"]
    assert entries[0].via == "functions.common.settings"
    assert [h.name for h in packages] == ["pydantic_core", "botocore"]
    text = coldstart.render([result], (entries, packages), runs=3)
    assert "| demo | 10 (10) | 10 (10) | 0 | 11 | yes |" in text
    assert result.as_dict()["within_target"] is True


def test_a_real_import_is_measured_whole() -> None:
    # The sample above is hand-written; this is what the running interpreter really prints.
    sample = coldstart.measure_import("requirements", tracing=False)
    assert sample.import_ms > 0 and sample.cpu_ms > 0
    # Every module under the handler's import is in the tree once: self times add up to the
    # handler's cumulative time (importtime rounds each line to a microsecond).
    assert sum(sample.package_ms.values()) == pytest.approx(sample.import_ms, rel=0.01)
    assert sample.entries, "a handler imports some third-party package"
    assert set(sample.entries) == set(sample.importers)
    assert all(module.startswith("functions.") for module in sample.importers.values())
    assert all(chain.startswith("functions.") for chain in sample.pulled_by.values())


@pytest.fixture
def lambda_environment(monkeypatch: pytest.MonkeyPatch):
    """Replace this process's environment with one the tool builds, for what reads os.environ."""

    def use(env: dict[str, str]) -> None:
        for key in list(os.environ):
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)

    return use


@pytest.mark.parametrize("tracing", [True, False])
def test_the_variants_are_what_powertools_and_the_handlers_read_as_tracing_on_and_off(
    lambda_environment, tracing: bool
) -> None:
    lambda_environment(coldstart.lambda_env("requirements", tracing=tracing))
    # Powertools also turns tracing off when it does not believe it runs on Lambda.
    assert bool(Tracer._is_tracer_disabled()) is not tracing
    assert observability.tracing_enabled() is tracing
    assert Logger().service == "requirements"  # logs and metrics are the function's own


def test_nothing_of_the_callers_environment_leaks_in_but_path_and_home(monkeypatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someone-elses")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("PATH", "/opt/probe/bin")
    env = coldstart.lambda_env("requirements", tracing=True)
    assert "AWS_PROFILE" not in env
    assert "POWERTOOLS_TRACE_DISABLED" not in env  # the traced variant stays traced
    assert env["PATH"] == "/opt/probe/bin"


def _module(handler_path: str) -> str:
    """``functions.handlers.requirements.handler`` -> ``requirements``."""
    return handler_path.removeprefix("functions.handlers.").rsplit(".", 1)[0]


def test_every_handler_module_the_app_deploys_is_measured() -> None:
    deployed = {path for saga in SAGAS.values() for path in saga.functions().values()}
    deployed |= {path for parent in PARENTS.values() for path in parent.functions().values()}
    deployed |= {infra.api.HANDLER, infra.observability.HANDLER}
    measured = coldstart.handlers()
    assert {_module(path) for path in deployed} <= set(measured)
    assert "base" not in measured and "__init__" not in measured  # not entry points
