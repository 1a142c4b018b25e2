"""bench/coldstart.py: parsing ``-X importtime`` and summarising, without starting interpreters."""

from __future__ import annotations

import pytest

from bench import coldstart

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


def test_lambda_env_sets_lambda_variables_and_the_tracing_variant() -> None:
    on = coldstart.lambda_env("requirements", tracing=True)
    off = coldstart.lambda_env("requirements", tracing=False)
    assert "POWERTOOLS_TRACE_DISABLED" not in on
    assert off["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert on["POWERTOOLS_SERVICE_NAME"] == "requirements"
    assert on["LAMBDA_TASK_ROOT"] and on["AWS_LAMBDA_FUNCTION_NAME"]


def test_every_handler_module_but_base_is_measured() -> None:
    names = coldstart.handlers()
    assert "requirements" in names and "compensation_failure" in names
    assert "base" not in names and "__init__" not in names
