"""Saga diagrams: Mermaid text and an SVG image, drawn from the compiled ASL.

``python -m statemachines`` writes the committed ones (``docs/diagrams/<saga>.mmd``, ``.svg``).

The SVG layout is the one the local execution viewer (``stepsaga.cli.viewer``) colours by
outcome: forward steps in a column in order, compensations in a second column in the order
they run, any other state (the compensation-failure reporter) in a third, and the terminal
Succeed/Fail states in a row below. Edges follow ``Next`` (solid), ``Catch`` (dashed) and
``Choice`` routes. Everything here is pure: no AWS, no network, deterministic output.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from statemachines.saga import Saga, compile_saga

# Roles: which column a state is drawn in.
FORWARD = "forward"
COMPENSATION = "compensation"
HANDLER = "handler"
TERMINAL = "terminal"
TERMINAL_TYPES = ("Succeed", "Fail")
COLUMN_TITLES = {
    FORWARD: "Forward steps",
    COMPENSATION: "Compensations, in the order they run",
    HANDLER: "If a compensation fails",
}

# Geometry (px).
NODE_W = 220
NODE_H = 46
TERM_W = 190
TERM_H = 38
COL_GAP = 100
ROW_GAP = 24
LEFT = 44  # room for the gutter edges left of the first column
RIGHT = 24
TOP = 46  # room for the column titles
TERM_EXTRA = 30  # extra space above the terminal row (the lanes for edges into it)
GUTTER = 14  # from a column to its first gutter edge
GUTTER_GAP = 7  # between gutter edges left of a column
LANE_GAP = 6  # between lanes above the terminal row
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


@dataclass(frozen=True)
class Swatch:
    """How a class of node is painted, and what the legend calls it."""

    fill: str
    stroke: str
    text: str
    label: str


# The static diagram colours states by role.
ROLE_PALETTE: dict[str, Swatch] = {
    FORWARD: Swatch("#e7f5ff", "#1971c2", "#0b3a6e", "forward step"),
    COMPENSATION: Swatch("#fff4e6", "#e8590c", "#7a2e0b", "compensation"),
    HANDLER: Swatch("#fff0f6", "#c2255c", "#6b1233", "failure reporting"),
    "succeed": Swatch("#ebfbee", "#2f9e44", "#14532d", "Succeed state"),
    "fail": Swatch("#fff5f5", "#e03131", "#7f1d1d", "Fail state"),
}


@dataclass
class Node:
    name: str
    type: str
    role: str
    column: int
    row: int
    x: float = 0.0
    y: float = 0.0
    w: float = NODE_W
    h: float = NODE_H

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass(frozen=True)
class Transition:
    """One route out of a state: ``kind`` is next, catch, choice or default."""

    source: str
    target: str
    kind: str
    errors: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.kind == "catch":
            return "catch " + ", ".join(self.errors)
        return "" if self.kind == "next" else self.kind


@dataclass
class Edge:
    transition: Transition
    route: str  # straight, curve_v, curve_h, gutter_side, gutter_lane
    source_side: str
    target_side: str
    also: tuple[Transition, ...] = ()  # other routes to the same target, drawn as this one
    path: str = ""

    @property
    def source(self) -> str:
        return self.transition.source

    @property
    def target(self) -> str:
        return self.transition.target

    @property
    def dashed(self) -> bool:
        return self.transition.kind == "catch"

    @property
    def title(self) -> str:
        labels = [t.label or "next" for t in (self.transition, *self.also)]
        return f"{self.source} → {self.target} ({'; '.join(labels)})"


@dataclass
class Layout:
    nodes: dict[str, Node]
    edges: list[Edge]
    width: float
    height: float
    titles: list[tuple[float, str]] = field(default_factory=list)  # (x, text) above each column


# -- reading the definition --------------------------------------------------------------------------


def transitions(definition: Mapping[str, Any]) -> list[Transition]:
    """Every route between top-level states, in definition order."""
    found: list[Transition] = []
    for name, state in definition["States"].items():
        if state.get("Next"):
            found.append(Transition(name, state["Next"], "next"))
        for choice in state.get("Choices", []):
            if choice.get("Next"):
                found.append(Transition(name, choice["Next"], "choice"))
        if state.get("Default"):
            found.append(Transition(name, state["Default"], "default"))
        for catch in state.get("Catch", []):
            found.append(Transition(name, catch["Next"], "catch", tuple(catch.get("ErrorEquals", []))))
    return [t for t in found if t.target in definition["States"]]


def _primary_next(state: Mapping[str, Any]) -> str | None:
    return state.get("Next") or state.get("Default")


def columns(definition: Mapping[str, Any]) -> dict[str, list[str]]:
    """Role -> its states, in drawing order.

    Forward: the ``Next`` chain from ``StartAt``. Compensation: what the forward states route
    to on error (Catch, Choice branches) and the ``Next`` chain from there, longest chain
    first, so the list is in the order the compensations run. Handler: every other
    non-terminal state. Terminal: Succeed and Fail states.
    """
    states: Mapping[str, Any] = definition["States"]
    terminal = [n for n, s in states.items() if s["Type"] in TERMINAL_TYPES]
    forward: list[str] = []
    name: str | None = definition.get("StartAt")
    while name is not None and name in states and name not in terminal and name not in forward:
        forward.append(name)
        name = _primary_next(states[name])

    def chain(start: str) -> list[str]:
        walked: list[str] = []
        current: str | None = start
        while current is not None and current in states and current not in (*terminal, *forward):
            if current in walked:
                break
            walked.append(current)
            current = _primary_next(states[current])
        return walked

    entries = [
        t.target
        for t in transitions(definition)
        if t.source in forward and t.kind != "next" and t.target not in forward and t.target not in terminal
    ]
    chains = sorted((chain(e) for e in dict.fromkeys(entries)), key=len, reverse=True)
    compensation: list[str] = []
    for walked in chains:
        compensation.extend(n for n in walked if n not in compensation)
    placed = set(forward) | set(compensation) | set(terminal)
    handler = [n for n in states if n not in placed]
    return {FORWARD: forward, COMPENSATION: compensation, HANDLER: handler, TERMINAL: terminal}


def role_of(definition: Mapping[str, Any]) -> dict[str, str]:
    return {name: role for role, names in columns(definition).items() for name in names}


# -- layout --------------------------------------------------------------------------------------


def layout(definition: Mapping[str, Any]) -> Layout:
    """Place every top-level state and route every transition."""
    states: Mapping[str, Any] = definition["States"]
    groups = columns(definition)
    routes = transitions(definition)
    preds: dict[str, list[str]] = {}
    for t in routes:
        preds.setdefault(t.target, []).append(t.source)

    # Rows and columns first: they decide each edge's route, and the routes how much room
    # the gutters left of a column and the lanes above the terminal row need.
    nodes: dict[str, Node] = {}
    used = [role for role in (FORWARD, COMPENSATION, HANDLER) if groups[role]]
    for column, role in enumerate(used):
        taken: set[int] = set()
        for index, name in enumerate(groups[role]):
            row = index
            if role == HANDLER:  # beside what leads to it
                rows = [nodes[p].row for p in preds.get(name, []) if p in nodes]
                row = round(sum(rows) / len(rows)) if rows else 0
            while row in taken:
                row += 1
            taken.add(row)
            nodes[name] = Node(name, states[name]["Type"], role, column, row)
    last_row = max((n.row for n in nodes.values()), default=-1)
    order = {name: i for i, name in enumerate(states)}

    def term_key(name: str) -> tuple[float, float, int]:
        sources = [nodes[p] for p in preds.get(name, []) if p in nodes]
        if not sources:
            return (len(used), 0.0, order[name])
        return (
            min(s.column for s in sources),
            sum(s.row for s in sources) / len(sources),
            order[name],
        )

    terminals = sorted(groups[TERMINAL], key=term_key)
    wanted = [int(term_key(t)[0]) for t in terminals]  # the column each would sit under
    for name in terminals:
        nodes[name] = Node(name, states[name]["Type"], TERMINAL, -1, last_row + 1, w=TERM_W, h=TERM_H)
    edges = _choose_routes(nodes, routes)
    gutters = Counter(nodes[e.source].column for e in edges if e.route.startswith("gutter"))
    lanes = sum(e.route == "gutter_lane" for e in edges)

    left = max(LEFT, _gutter_room(gutters[0]))
    xs: list[float] = []
    for column in range(len(used)):
        xs.append(xs[-1] + NODE_W + max(COL_GAP, _gutter_room(gutters[column])) if xs else left)
    titles = [(xs[column], COLUMN_TITLES[role]) for column, role in enumerate(used)]
    for node in nodes.values():
        if node.role != TERMINAL:
            node.x, node.y = xs[node.column], TOP + node.row * (NODE_H + ROW_GAP)

    content_w: float = xs[-1] + NODE_W - left if used else TERM_W
    lane_room = TERM_EXTRA + _extra_lanes(lanes) * LANE_GAP if used else 0
    term_y = TOP + (last_row + 1) * (NODE_H + ROW_GAP) + lane_room
    if len(set(wanted)) == len(wanted) and all(w < len(used) for w in wanted):
        centres = [xs[w] + NODE_W / 2 for w in wanted]
    else:  # spread them evenly under the columns
        slot = max(content_w / max(len(terminals), 1), TERM_W + 16)
        centres = [left + (i + 0.5) * slot for i in range(len(terminals))]
        content_w = max(content_w, slot * len(terminals))
    for name, centre in zip(terminals, centres, strict=True):
        nodes[name].x, nodes[name].y = centre - TERM_W / 2, term_y

    _draw(nodes, edges, lanes)
    height = term_y + TERM_H + 16 if terminals else TOP + (last_row + 1) * (NODE_H + ROW_GAP)
    return Layout(nodes, edges, left + content_w + RIGHT, height, titles)


def _gutter_room(count: int) -> float:
    """Room left of a column for ``count`` gutter edges, the outermost 9 px clear of what is further left."""
    return GUTTER + GUTTER_GAP * (count - 1) + 9 if count else 0


def _extra_lanes(lanes: int) -> int:
    """Lanes above the terminal row beyond the two the row's usual spacing holds."""
    return max(0, lanes - 2)


def _choose_routes(nodes: Mapping[str, Node], routes: list[Transition]) -> list[Edge]:
    """Each edge's sides and shape, from the rows and columns alone (routes between the same
    two states are one edge)."""
    merged: dict[tuple[str, str], Edge] = {}
    for t in routes:
        key = (t.source, t.target)
        if key in merged:
            merged[key].also = (*merged[key].also, t)
            continue
        src, dst = nodes[t.source], nodes[t.target]
        below = [
            n for n in nodes.values() if n.column == src.column and n.row > src.row and n.role != TERMINAL
        ]
        if dst.role == TERMINAL:
            route = ("curve_v", "bottom", "top") if not below else ("gutter_lane", "left", "top")
        elif dst.column == src.column:
            adjacent = dst.row == src.row + 1
            route = ("straight", "bottom", "top") if adjacent else ("gutter_side", "left", "left")
        elif dst.column > src.column:
            route = ("curve_h", "right", "left")
        else:
            route = ("curve_h", "left", "right")
        merged[key] = Edge(t, *route)
    return list(merged.values())


def _draw(nodes: Mapping[str, Node], edges: list[Edge], lanes: int) -> None:
    """Spread the edges' ends along the sides of the placed nodes, then write each path."""
    # Spread the ends sharing a side of a node, ordered by where the other end is.
    ends: dict[tuple[str, str], list[tuple[float, Edge, bool]]] = {}
    for edge in edges:
        src, dst = nodes[edge.source], nodes[edge.target]
        vertical = edge.source_side in ("left", "right")
        ends.setdefault((edge.source, edge.source_side), []).append(
            (dst.cy if vertical else dst.cx, edge, True)
        )
        vertical = edge.target_side in ("left", "right")
        ends.setdefault((edge.target, edge.target_side), []).append(
            (src.cy if vertical else src.cx, edge, False)
        )
    points: dict[tuple[int, bool], tuple[float, float]] = {}
    for (name, side), group in ends.items():
        node = nodes[name]
        group.sort(key=lambda item: (item[0], item[1].source, item[1].target))
        for index, (_, edge, is_source) in enumerate(group):
            share = (index + 1) / (len(group) + 1)
            if side == "left":
                point = (node.x, node.y + node.h * share)
            elif side == "right":
                point = (node.x + node.w, node.y + node.h * share)
            elif side == "top":
                point = (node.x + node.w * share, node.y)
            else:
                point = (node.x + node.w * share, node.y + node.h)
            points[(id(edge), is_source)] = point

    gutters: dict[int, int] = {}
    lane = 0
    for edge in edges:
        (sx, sy), (tx, ty) = points[(id(edge), True)], points[(id(edge), False)]
        if edge.route == "straight":
            edge.path = f"M{sx:.1f},{sy:.1f} L{tx:.1f},{ty:.1f}"
        elif edge.route == "curve_v":
            dy = max(18.0, (ty - sy) / 2)
            edge.path = f"M{sx:.1f},{sy:.1f} C{sx:.1f},{sy + dy:.1f} {tx:.1f},{ty - dy:.1f} {tx:.1f},{ty:.1f}"
        elif edge.route == "curve_h":
            dx = max(30.0, abs(tx - sx) / 2) * (1 if tx > sx else -1)
            edge.path = f"M{sx:.1f},{sy:.1f} C{sx + dx:.1f},{sy:.1f} {tx - dx:.1f},{ty:.1f} {tx:.1f},{ty:.1f}"
        else:
            column = nodes[edge.source].column
            gutters[column] = gutters.get(column, 0) + 1
            gx = nodes[edge.source].x - GUTTER - GUTTER_GAP * (gutters[column] - 1)
            if edge.route == "gutter_side":
                corners = [(sx, sy), (gx, sy), (gx, ty), (tx, ty)]
            else:
                lane += 1  # the first lane highest; more than two raise them all
                y = ty - TERM_EXTRA / 2 - 4 + LANE_GAP * (lane - 1 - _extra_lanes(lanes))
                corners = [(sx, sy), (gx, sy), (gx, y), (tx, y), (tx, ty)]
            edge.path = _rounded(corners)


def _rounded(points: Sequence[tuple[float, float]], radius: float = 7.0) -> str:
    """An orthogonal polyline with rounded corners."""
    path = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for prev, corner, after in zip(points, points[1:], points[2:], strict=False):
        r = min(radius, _dist(prev, corner) / 2, _dist(corner, after) / 2)
        a = _towards(corner, prev, r)
        b = _towards(corner, after, r)
        path.append(f"L{a[0]:.1f},{a[1]:.1f} Q{corner[0]:.1f},{corner[1]:.1f} {b[0]:.1f},{b[1]:.1f}")
    path.append(f"L{points[-1][0]:.1f},{points[-1][1]:.1f}")
    return " ".join(path)


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(abs(a[0] - b[0]) + abs(a[1] - b[1]))


def _towards(start: tuple[float, float], end: tuple[float, float], length: float) -> tuple[float, float]:
    span = _dist(start, end) or 1.0
    return (start[0] + (end[0] - start[0]) * length / span, start[1] + (end[1] - start[1]) * length / span)


# -- what a state does, in a few words -----------------------------------------------------------


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def summary(state: Mapping[str, Any]) -> str:
    """A node's second line for the static diagram: type, timeout, retries."""
    kind = state["Type"]
    parts: list[str] = []
    if kind == "Task":
        resource = str(state.get("Resource", ""))
        parts.append("Callback" if resource.endswith(".waitForTaskToken") else "Task")
    elif kind == "Map":
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        parts.append(f"Map: {processor.get('StartAt', '?')}")
        if state.get("MaxConcurrency"):
            parts.append(f"≤{state['MaxConcurrency']} at once")
    elif kind == "Parallel":
        parts.append(f"Parallel: {len(state.get('Branches', []))} branches")
    elif kind == "Fail":
        parts.append(f"Fail: {state.get('Error', '')}".rstrip(": "))
    else:
        parts.append(kind)
    if state.get("TimeoutSeconds"):
        parts.append(_duration(int(state["TimeoutSeconds"])))
    retries = [
        r.get("MaxAttempts", 3) for r in state.get("Retry", []) if "States.ALL" in r.get("ErrorEquals", [])
    ]
    if retries and kind not in ("Map", "Parallel"):
        parts.append(f"{retries[0]} retries" if retries[0] != 1 else "1 retry")
    return ", ".join(parts)


def role_class(definition: Mapping[str, Any]) -> dict[str, str]:
    """State -> ROLE_PALETTE key (terminals split into Succeed and Fail)."""
    roles = role_of(definition)
    return {
        name: ("succeed" if state["Type"] == "Succeed" else "fail")
        if roles[name] == TERMINAL
        else roles[name]
        for name, state in definition["States"].items()
    }


# -- SVG -----------------------------------------------------------------------------------------

EDGE_NEXT = "#495057"
EDGE_CATCH = "#e8590c"
EDGE_TAKEN = "#212529"
EDGE_IDLE = "#c4c9ce"


def _fit(text: str, width: float, size: float, bold: bool = False) -> str:
    """Cut text that would not fit ``width`` px (an estimate of the font's advance width)."""
    per_char = size * (0.64 if bold else 0.58)
    room = int(width / per_char)
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def render_svg(
    definition: Mapping[str, Any],
    classes: Mapping[str, str],
    palette: Mapping[str, Swatch],
    *,
    attribute: str = "data-role",
    subtitles: Mapping[str, str] | None = None,
    tooltips: Mapping[str, str] | None = None,
    taken: Collection[tuple[str, str]] | None = None,
    title: str = "",
    legend: Sequence[str] | None = None,
) -> str:
    """The state graph as a self-contained SVG document.

    ``classes`` maps each state to a ``palette`` key (its colours; written to ``attribute``
    on the node). With ``taken`` (the transitions an execution followed) those edges are
    drawn dark and every other edge light; without it edges are coloured by kind.
    ``legend`` lists the palette keys to explain (default: the keys ``classes`` uses).
    """
    plan = layout(definition)
    subtitles = (
        subtitles if subtitles is not None else {n: summary(s) for n, s in definition["States"].items()}
    )
    tooltips = tooltips or {}
    used = set(classes.values())
    legend_keys = list(legend) if legend is not None else [k for k in palette if k in used]
    legend_h = _legend_height(palette, legend_keys, plan.width, taken is not None)
    top = 28 if title else 0
    width, height = plan.width, plan.height + legend_h + top
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" role="img" '
        f'aria-label="{escape(title or "state machine graph")}">',
    ]
    if title:
        out.append(f"<title>{escape(title)}</title>")
    arrows = {"next": EDGE_NEXT, "catch": EDGE_CATCH, "taken": EDGE_TAKEN, "idle": EDGE_IDLE}
    out.append("<defs>")
    for key, colour in arrows.items():
        out.append(
            f'<marker id="arrow-{key}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
            f'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto">'
            f'<path d="M0,1 L10,5 L0,9 z" fill="{colour}"/></marker>'
        )
    out.append("</defs>")
    out.append(f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>')
    if title:
        out.append(
            f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold" fill="#212529">{escape(title)}</text>'
        )
    out.append(f'<g transform="translate(0,{top})">')
    for x, text in plan.titles:
        out.append(
            f'<text x="{x:.0f}" y="{TOP - 14}" font-size="12" fill="#6c757d" '
            f'font-weight="bold">{escape(text)}</text>'
        )

    def edge_key(edge: Edge) -> str:
        if taken is None:
            return "catch" if edge.dashed else "next"
        return "taken" if (edge.source, edge.target) in taken else "idle"

    # Idle edges first, so the route taken is drawn over them.
    for edge in sorted(plan.edges, key=lambda e: edge_key(e) == "taken"):
        key = edge_key(edge)
        width_px = {"taken": 2.4, "idle": 1.3}.get(key, 1.5)
        dash = ' stroke-dasharray="6 4"' if edge.dashed else ""
        out.append(
            f'<path class="edge" data-source="{escape(edge.source)}" data-target="{escape(edge.target)}" '
            f'data-kind="{edge.transition.kind}" d="{edge.path}" fill="none" stroke="{arrows[key]}" '
            f'stroke-width="{width_px}"{dash} marker-end="url(#arrow-{key})">'
            f"<title>{escape(edge.title)}</title></path>"
        )
    for node in plan.nodes.values():
        out.append(_node_svg(node, classes, palette, attribute, subtitles, tooltips))
    out.append(_legend_svg(palette, legend_keys, plan.width, plan.height, taken is not None))
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def _node_svg(
    node: Node,
    classes: Mapping[str, str],
    palette: Mapping[str, Swatch],
    attribute: str,
    subtitles: Mapping[str, str],
    tooltips: Mapping[str, str],
) -> str:
    key = classes.get(node.name, "")
    swatch = palette.get(key) or Swatch("#ffffff", "#868e96", "#212529", key)
    radius = node.h / 2 if node.role == TERMINAL else 6
    parts = [
        f'<g class="state" data-state="{escape(node.name)}" {attribute}="{escape(key)}" '
        f'data-type="{escape(node.type)}">',
        f"<title>{escape(tooltips.get(node.name) or node.name)}</title>",
    ]
    if node.type in ("Map", "Parallel"):  # a stack of cards: it runs many things
        parts.append(
            f'<rect x="{node.x + 4:.1f}" y="{node.y + 4:.1f}" width="{node.w:.0f}" height="{node.h:.0f}" '
            f'rx="{radius:.0f}" fill="{swatch.fill}" stroke="{swatch.stroke}" stroke-width="1.2"/>'
        )
    dash = ' stroke-dasharray="5 3"' if node.role == COMPENSATION else ""
    parts.append(
        f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.w:.0f}" height="{node.h:.0f}" '
        f'rx="{radius:.0f}" fill="{swatch.fill}" stroke="{swatch.stroke}" stroke-width="1.6"{dash}/>'
    )
    subtitle = subtitles.get(node.name, "")
    name_y = node.cy + (-3 if subtitle else 4.5)
    parts.append(
        f'<text x="{node.cx:.1f}" y="{name_y:.1f}" text-anchor="middle" font-size="13" '
        f'font-weight="bold" fill="{swatch.text}">{escape(_fit(node.name, node.w - 12, 13, True))}</text>'
    )
    if subtitle:
        parts.append(
            f'<text x="{node.cx:.1f}" y="{node.cy + 12:.1f}" text-anchor="middle" font-size="10.5" '
            f'fill="{swatch.text}">{escape(_fit(subtitle, node.w - 14, 10.5))}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _legend_items(
    palette: Mapping[str, Swatch], keys: Sequence[str], executed: bool
) -> list[tuple[str, str]]:
    items = [(f"swatch:{k}", palette[k].label) for k in keys if k in palette]
    if executed:
        items += [
            ("edge:taken", "route taken"),
            ("edge:idle", "route not taken"),
            ("edge:dash", "Catch route"),
        ]
    else:
        items += [("edge:next", "Next"), ("edge:catch", "Catch (on error)")]
    return items


def _legend_rows(
    palette: Mapping[str, Swatch], keys: Sequence[str], width: float, executed: bool
) -> list[list[tuple[float, str, str]]]:
    rows: list[list[tuple[float, str, str]]] = [[]]
    x = float(LEFT)
    for kind, label in _legend_items(palette, keys, executed):
        item_w = 30 + len(label) * 6.6 + 18
        if x + item_w > width - RIGHT and rows[-1]:
            rows.append([])
            x = float(LEFT)
        rows[-1].append((x, kind, label))
        x += item_w
    return rows


def _legend_height(palette: Mapping[str, Swatch], keys: Sequence[str], width: float, executed: bool) -> float:
    return 14 + 22 * len(_legend_rows(palette, keys, width, executed))


def _legend_svg(
    palette: Mapping[str, Swatch], keys: Sequence[str], width: float, top: float, executed: bool
) -> str:
    parts = ['<g class="legend">']
    for index, row in enumerate(_legend_rows(palette, keys, width, executed)):
        y = top + 12 + index * 22
        for x, kind, label in row:
            if kind.startswith("swatch:"):
                swatch = palette[kind[7:]]
                parts.append(
                    f'<rect class="legend-swatch" data-key="{escape(kind[7:])}" x="{x:.0f}" y="{y:.0f}" '
                    f'width="22" height="14" rx="3" fill="{swatch.fill}" stroke="{swatch.stroke}"/>'
                )
            else:
                style = kind[5:]
                colour = {"taken": EDGE_TAKEN, "idle": EDGE_IDLE, "dash": EDGE_NEXT, "next": EDGE_NEXT}.get(
                    style, EDGE_CATCH
                )
                dash = ' stroke-dasharray="6 4"' if style in ("dash", "catch") else ""
                stroke = 2.4 if style == "taken" else 1.5
                parts.append(
                    f'<path d="M{x:.0f},{y + 7:.0f} h22" stroke="{colour}" stroke-width="{stroke}"{dash}/>'
                )
            parts.append(
                f'<text x="{x + 30:.0f}" y="{y + 11:.0f}" font-size="12" fill="#343a40">'
                f"{escape(label)}</text>"
            )
    parts.append("</g>")
    return "".join(parts)


# -- Mermaid -------------------------------------------------------------------------------------


def _mermaid_label(*lines: str) -> str:
    text = "<br/>".join(escape(line, quote=False) for line in lines if line)
    return '"' + text.replace('"', "#quot;") + '"'


def mermaid(saga: Saga) -> str:
    """A Mermaid flowchart of the compiled saga (renders on GitHub and in most Markdown tools)."""
    definition = compile_saga(saga)
    states: Mapping[str, Any] = definition["States"]
    groups = columns(definition)
    shapes = {
        "Succeed": "([{}])",
        "Fail": "([{}])",
        "Choice": "{{{}}}",
        "Map": "[[{}]]",
        "Parallel": "[[{}]]",
    }

    def node(name: str) -> str:
        shape = shapes.get(states[name]["Type"], "[{}]")
        return f"{name}" + shape.format(_mermaid_label(name, summary(states[name])))

    lines = [
        f"%% The {saga.name} saga, compiled to ASL by statemachines/saga.py.",
        "%% Generated by `python -m statemachines`: do not edit.",
        "flowchart TD",
    ]
    for role, title in ((FORWARD, "Forward steps"), (COMPENSATION, "Compensations, in the order they run")):
        if groups[role]:
            lines.append(f'    subgraph {role}_steps["{title}"]')
            lines.extend(f"        {node(name)}" for name in groups[role])
            lines.append("    end")
    lines.extend(f"    {node(name)}" for name in (*groups[HANDLER], *groups[TERMINAL]))
    for t in transitions(definition):
        if t.kind == "next":
            lines.append(f"    {t.source} --> {t.target}")
        elif t.kind == "catch":
            lines.append(f"    {t.source} -.->|{_mermaid_label(t.label)}| {t.target}")
        else:
            lines.append(f"    {t.source} -->|{t.kind}| {t.target}")
    classes = role_class(definition)
    for key, swatch in ROLE_PALETTE.items():
        members = [name for name in states if classes[name] == key]
        if members:
            lines.append(f"    classDef {key} fill:{swatch.fill},stroke:{swatch.stroke},color:{swatch.text}")
            lines.append(f"    class {','.join(members)} {key}")
    return "\n".join(lines) + "\n"


def svg(saga: Saga) -> str:
    """The static SVG diagram of a saga, coloured by role."""
    definition = compile_saga(saga)
    return render_svg(definition, role_class(definition), ROLE_PALETTE, title=f"The {saga.name} saga")
