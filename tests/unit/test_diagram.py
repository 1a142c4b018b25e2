"""statemachines/tools/diagram.py: Mermaid and SVG diagrams of a saga, and their generated files."""

from __future__ import annotations

import copy
import itertools
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import statemachines.__main__ as generate
from statemachines import generated
from statemachines.catalogue import SAGAS, TEST_GENERATION
from statemachines.saga import compile_saga
from statemachines.tools import diagram

pytestmark = pytest.mark.unit

SVG = "{http://www.w3.org/2000/svg}"
ALL_SAGAS = pytest.mark.parametrize("saga", list(SAGAS.values()), ids=list(SAGAS))


def catches(definition: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (name, c["Next"], tuple(c["ErrorEquals"]))
        for name, state in definition["States"].items()
        for c in state.get("Catch", [])
    ]


def svg_tree(text: str) -> ET.Element:
    return ET.fromstring(text)  # also proves the SVG is well-formed XML


def svg_nodes(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-state", ""): g for g in root.iter(f"{SVG}g") if g.get("class") == "state"}


def svg_edges(root: ET.Element) -> set[tuple[str, str]]:
    return {
        (p.get("data-source", ""), p.get("data-target", ""))
        for p in root.iter(f"{SVG}path")
        if p.get("class") == "edge"
    }


@ALL_SAGAS
def test_every_state_appears_in_both_outputs(saga):
    states = compile_saga(saga)["States"]
    text = diagram.mermaid(saga)
    declared = set(re.findall(r"^\s+([A-Za-z0-9]+)[\[\(\{]", text, re.MULTILINE))
    assert declared == set(states)
    nodes = svg_nodes(svg_tree(diagram.svg(saga)))
    assert set(nodes) == set(states)
    for name, node in nodes.items():  # the name is visible text inside the node
        texts = ["".join(t.itertext()) for t in node.iter(f"{SVG}text")]
        assert texts[0] == name


@ALL_SAGAS
def test_catch_edges_are_drawn_in_both_outputs(saga):
    definition = compile_saga(saga)
    text = diagram.mermaid(saga)
    edges = svg_edges(svg_tree(diagram.svg(saga)))
    found = catches(definition)
    assert found, "a saga always has Catch routes"
    for source, target, errors in found:
        assert f'{source} -.->|"catch {", ".join(errors)}"| {target}' in text
        assert (source, target) in edges


def test_the_test_generation_graph_has_every_route_of_the_saga():
    definition = compile_saga(TEST_GENERATION)
    text = diagram.mermaid(TEST_GENERATION)
    edges = svg_edges(svg_tree(diagram.svg(TEST_GENERATION)))
    for step, after in zip(
        ["Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"],
        ["Generation", "Execution", "Observation", "Analysis", "Evolution", "SagaSucceeded"],
        strict=True,
    ):
        assert f"{step} --> {after}" in text
        assert (step, after) in edges
    chain = ["CompensateExecution", "CompensateGeneration", "CompensateRequirements", "RolledBack"]
    for undo, after in itertools.pairwise(chain):
        assert f"{undo} --> {after}" in text
        assert (undo, after) in edges
        if undo.startswith("Compensate"):
            assert (undo, "ReportCompensationFailure") in edges
    assert "ReportCompensationFailure --> CompensationFailed" in text
    assert ("Requirements", "InputRejected") in edges
    assert 'Requirements -.->|"catch InvalidRequest"| InputRejected' in text
    assert len(edges) == len({(s, t) for s, t, _ in catches(definition)} | _nexts(definition))


def _nexts(definition: dict[str, Any]) -> set[tuple[str, str]]:
    return {(n, s["Next"]) for n, s in definition["States"].items() if s.get("Next")}


def test_layout_columns_and_terminal_row():
    plan = diagram.layout(compile_saga(TEST_GENERATION))
    nodes = plan.nodes
    forward = ["Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"]
    undo = ["CompensateExecution", "CompensateGeneration", "CompensateRequirements"]
    assert {nodes[n].x for n in forward} == {nodes["Requirements"].x}
    assert [nodes[n].y for n in forward] == sorted(nodes[n].y for n in forward)
    assert {nodes[n].x for n in undo} == {nodes["CompensateExecution"].x} != {nodes["Requirements"].x}
    assert [nodes[n].y for n in undo] == sorted(nodes[n].y for n in undo)  # in the order they run
    assert nodes["ReportCompensationFailure"].x > nodes["CompensateExecution"].x
    terminals = ["SagaSucceeded", "RolledBack", "InputRejected", "CompensationFailed"]
    lowest = max(n.y + n.h for name, n in nodes.items() if name not in terminals)
    assert all(nodes[t].y > lowest for t in terminals)
    boxes = list(nodes.values())
    for i, a in enumerate(boxes):  # no two nodes overlap, and all fit in the picture
        assert a.x >= 0 and a.y >= 0 and a.x + a.w <= plan.width and a.y + a.h <= plan.height
        for b in boxes[i + 1 :]:
            apart = a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
            assert apart, (a.name, b.name)


def test_svg_colours_nodes_by_the_given_classes_and_escapes_names():
    definition = copy.deepcopy(compile_saga(TEST_GENERATION))
    palette = {"hot": diagram.Swatch("#ff0000", "#000000", "#ffffff", "hot <&> label")}
    classes = {name: "hot" for name in definition["States"]}
    text = diagram.render_svg(
        definition,
        classes,
        palette,
        attribute="data-outcome",
        subtitles={"Requirements": "<b>not markup</b> & more"},
        tooltips={"Generation": '"quoted" <tip>'},
        taken={("Requirements", "Generation")},
    )
    root = svg_tree(text)
    nodes = svg_nodes(root)
    assert {g.get("data-outcome") for g in nodes.values()} == {"hot"}
    assert "<b>" not in text and "&lt;b&gt;not markup&lt;/b&gt; &amp; more" in text
    assert "hot &lt;&amp;&gt; label" in text
    taken = [p for p in root.iter(f"{SVG}path") if p.get("data-source") == "Requirements"]
    strokes = {p.get("data-target"): p.get("stroke") for p in taken}
    assert strokes["Generation"] == diagram.EDGE_TAKEN
    assert strokes["CompensateRequirements"] == diagram.EDGE_IDLE


def test_a_definition_with_other_state_types_still_lays_out():
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Choice", "Choices": [{"Next": "Fan"}], "Default": "Done"},
            "Fan": {
                "Type": "Parallel",
                "Branches": [],
                "Next": "Wait",
                "Catch": [{"ErrorEquals": ["X"], "Next": "Oops"}],
            },
            "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
            "Oops": {"Type": "Pass", "Next": "Failed"},
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail"},
        },
    }
    root = svg_tree(diagram.render_svg(definition, diagram.role_class(definition), diagram.ROLE_PALETTE))
    assert set(svg_nodes(root)) == set(definition["States"])
    assert svg_edges(root) == {
        ("Pick", "Fan"),
        ("Pick", "Done"),
        ("Fan", "Wait"),
        ("Fan", "Oops"),
        ("Wait", "Done"),
        ("Oops", "Failed"),
    }


def test_committed_diagrams_are_up_to_date():
    assert generate.main(["--check"]) == 0, "run `python -m statemachines`"
    for path, text in generated.diagram_files().items():
        assert path.read_text() == text


def test_check_reports_stale_files_and_writing_fixes_them(tmp_path: Path, capsys):
    assert generate.main(["--check"], diagram_dir=tmp_path) == 1  # missing
    assert list(tmp_path.iterdir()) == []  # --check never writes
    assert "stale: test-generation.mmd, test-generation.svg" in capsys.readouterr().err
    assert generate.main([], diagram_dir=tmp_path) == 0
    assert generate.main(["--check"], diagram_dir=tmp_path) == 0
    (tmp_path / "test-generation.svg").write_text("<svg/>")
    assert generate.main(["--check"], diagram_dir=tmp_path) == 1
    assert (tmp_path / "test-generation.svg").read_text() == "<svg/>"


def test_output_is_deterministic():
    assert diagram.svg(TEST_GENERATION) == diagram.svg(TEST_GENERATION)
    assert diagram.mermaid(TEST_GENERATION) == diagram.mermaid(TEST_GENERATION)
