"""Writes a Graphviz sequence diagram of rxgi events, from a list of steps.

Graphviz has no sequence diagrams, so the .dot lays one out as a grid: one rank per step, and
one column per participant, between a phase column p on the left and a notes column n on the
right, joined by dashed lifelines. Each diagram is a script (http1-connection.py,
http2-connection.py, remote-worker.py) that holds its STEPS and calls write(); this module is not
run by itself.

A step is a tuple (phase label, kind, label, note). The phase label, shown on the left, and the
note, shown on the right, may be empty. The default participants are c (client), d (driver) and
a (app), with these kinds: wire-in (client to driver, bytes), wire-out (driver to client),
in (inbound event, driver to app), out (outbound event, app to driver), call (the app function
itself, not an event). A diagram may bring its own participants (`columns`) and kinds
(`kinds`); a kind whose arrow is None draws no arrow (a step with a note only). An arrow between
columns that are not neighbours crosses the lifelines between them, labelled on its leftmost
segment.
"""

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

# Where each kind of step is drawn: the columns it goes from and to, and the edge attributes.
WIRE = 'color="#9aa3b2", fontcolor="#444444", fontname="Courier", fontsize=9'
INBOUND = 'color="#4a7fc1", fontcolor="#2f5f9e", penwidth=1.5, fontname="Courier"'
OUTBOUND = 'color="#b7178c", fontcolor="#8f1270", penwidth=1.5, fontname="Courier"'
CALL = 'style=dotted, color="#5b536f", fontcolor="#5b536f", fontname="Courier"'

Arrow = tuple[str, str, str] | None  # (from column, to column, attributes), or no arrow
STYLE: dict[str, Arrow] = {
    "wire-in": ("c", "d", WIRE),
    "wire-out": ("d", "c", WIRE),
    "in": ("d", "a", INBOUND),
    "out": ("a", "d", OUTBOUND),
    "call": ("d", "a", CALL),
}

Step = tuple[str, str, str, str]


@dataclass
class Column:
    """A participant: its one-letter key, its head box, and the colours of the box."""

    key: str
    name: str
    small: str = ""  # the small print under the head box's name
    fill: str | None = None  # None: the default grey-lilac box
    color: str | None = None


@dataclass
class Diagram:
    """What differs between two pictures, besides their steps."""

    name: str  # file stem, e.g. "http1-connection"; the graph id is the stem with "_"
    summary: list[str]  # the .dot's opening comment lines, without "// "
    title: str  # the picture's bold title
    client: str = ""  # the small print under each default head box
    driver: str = ""
    app: str = ""
    columns: list[Column] | None = None  # default: client, driver, app
    kinds: dict[str, Arrow] = field(default_factory=lambda: dict(STYLE))
    legend: list[tuple[str | None, str]] | None = None  # (colour or None, text) lines

    def participants(self) -> list[Column]:
        if self.columns is not None:
            return self.columns
        return [
            Column("c", "Client", self.client),
            Column("d", "Driver", self.driver, "#e8f1fb", "#4a7fc1"),
            Column("a", "App", self.app, "#eaf6ee", "#3f9a5e"),
        ]

    def legend_lines(self) -> list[tuple[str | None, str]]:
        if self.legend is not None:
            return self.legend
        return [
            (None, "grey: bytes on the wire, between client and driver"),
            ("#2f5f9e", "blue: inbound events, driver to app"),
            ("#8f1270", "magenta: outbound events, app to driver"),
        ]


HEADER = """\
{summary}
{grid}
// Render: dot -Tsvg diagrams/{name}.dot -o diagrams/{name}.svg
digraph {graph} {{
  graph [rankdir=TB, nodesep=0.05, ranksep=0.16, splines=false, pad=0.3, fontname="Helvetica",
         labelloc=t, fontsize=12, label=<<b>{title}</b><br/>{legend} >];
  edge [fontname="Helvetica", fontsize=10, arrowsize=0.7, penwidth=1.1];

  // Heads and tails
  node [shape=box, style="rounded,filled", width=2.2, height=0.5, fontname="Helvetica",
        fontsize=11, fillcolor="#f3f1f8", color="#5b536f"];
{heads}
  node [shape=plaintext, style="", label=""];
  p0; n0; pT; nT;
  {{ rank=same; p0 -> {head_chain} -> n0 [style=invis]; }}
  {{ rank=same; pT -> {tail_chain} -> nT [style=invis]; }}

  // Steps: points on the lifelines, one rank each; empty cells are invisible
  node [shape=point, width=0.01, height=0.01, color="#8a859c"];
  node [fontname="Helvetica", fontsize=9, fontcolor="#6d6882", width=2.2];
"""


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def padded(label: str) -> str:
    # Room around each line, so long labels keep clear of the lifelines.
    return "\n".join(f"   {line}   " for line in label.split("\n"))


def heads(columns: list[Column]) -> str:
    """The head boxes (name and small print) and the tail boxes (name only)."""
    lines = []
    for suffix in ("0", "T"):
        for column in columns:
            small = (f'<br/><font point-size="9">{column.small}</font>'
                     if suffix == "0" else "")
            colours = ("" if column.fill is None else
                       f', fillcolor="{column.fill}", color="{column.color}"')
            lines.append(f"  {column.key}{suffix} [label=<<b>{column.name}</b>{small}>{colours}];")
    return "\n".join(lines)


def grid_comment(columns: list[Column]) -> str:
    # "\0" keeps each "key (name)" on one line.
    names = ", ".join(f"{c.key}\0({c.name.lower()})" for c in columns)
    text = (f"A sequence diagram laid out as a grid: one rank per step, columns p\0(phase), "
            f"{names}, n\0(notes); dashed lifelines join each column.")
    lines = textwrap.wrap(text, width=97)
    return "\n".join(f"// {line}".replace("\0", " ") for line in lines)


def arrow_edges(keys: list[str], arrow: Arrow, label: str) -> dict[tuple[str, str], str]:
    """The step's arrow as edges between neighbouring columns, all drawn left to right, so that
    they keep the columns in order. An arrow that points left is drawn backwards. An arrow that
    crosses other lifelines is a straight run of segments: the label goes on its leftmost
    segment, the arrowhead on the segment at its target."""
    if arrow is None:
        return {}
    source, target, attrs = arrow
    start, end = keys.index(source), keys.index(target)
    backwards = start > end
    left, right = min(start, end), max(start, end)
    edges = {}
    for j in range(left, right):
        parts = []
        if j == left:
            parts.append(f"label={quote(padded(label))}")
        if backwards:
            parts.append("dir=back" if j == left else "dir=none")
        elif j != right - 1:
            parts.append("dir=none")
        edges[(keys[j], keys[j + 1])] = "[" + ", ".join([*parts, attrs]) + "]"
    return edges


def row(i: int, keys: list[str], edges: dict[tuple[str, str], str]) -> str:
    """The rank of step i: the invisible chain p, columns, n, with the step's arrow on it."""
    chain = ["p", *keys, "n"]
    links = []
    for left, right in zip(chain, chain[1:]):
        links.append(f"{left}{i} -> {right}{i} {edges.get((left, right), '[style=invis]')}")
    pairs = [links[j:j + 2] for j in range(0, len(links), 2)]
    return "  { rank=same; " + ";\n    ".join("; ".join(pair) for pair in pairs) + "; }\n"


def render(diagram: Diagram, steps: list[Step]) -> str:
    """The .dot text of the diagram."""
    columns = diagram.participants()
    keys = [column.key for column in columns]
    legend = "".join(
        (f'<font point-size="10">{text}</font><br/>' if colour is None else
         f'<font point-size="10" color="{colour}">{text}</font><br/>')
        for colour, text in diagram.legend_lines()
    )
    out = [HEADER.format(
        summary="\n".join(f"// {line}" for line in diagram.summary),
        grid=grid_comment(columns),
        name=diagram.name,
        graph=diagram.name.replace("-", "_"),
        title=diagram.title,
        legend=legend,
        heads=heads(columns),
        head_chain=" -> ".join(f"{key}0" for key in keys),
        tail_chain=" -> ".join(f"{key}T" for key in keys),
    )]
    for i, (phase, kind, label, note) in enumerate(steps, start=1):
        edges = arrow_edges(keys, diagram.kinds[kind], label)
        p = (f'p{i} [shape=plaintext, label={quote(phase)}, fontsize=10, fontcolor="#5b536f", '
             f"width=1.6]" if phase else f"p{i} [style=invis]")
        n = f"n{i} [shape=plaintext, label={quote(note)}]" if note else f"n{i} [style=invis]"
        first = label.splitlines()[0] if label else "(a note)"
        out.append(f"  // {i}. {kind}: {first}\n")
        out.append(f"  {p}; {n};\n")
        out.append(row(i, keys, edges))
    out.append("\n  // Lifelines: heavy edges keep each column straight\n")
    ranks = ["0", *(str(i) for i in range(1, len(steps) + 1)), "T"]
    lifelines = [("p", "invis"), *((key, "dashed") for key in keys), ("n", "invis")]
    for column, style in lifelines:
        chain = " -> ".join(f"{column}{r}" for r in ranks)
        out.append(f'  {chain}\n    [style={style}, arrowhead=none, weight=100, color="#b8b3c8"];\n')
    out.append("}\n")
    return "".join(out)


def write(diagram: Diagram, steps: list[Step]) -> None:
    """Write <name>.dot next to this module."""
    target = Path(__file__).with_name(f"{diagram.name}.dot")
    target.write_text(render(diagram, steps), encoding="utf-8")
