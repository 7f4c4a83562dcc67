"""Writes a Graphviz sequence diagram of one connection's rxgi events, from a list of steps.

Graphviz has no sequence diagrams, so the .dot lays one out as a grid: one rank per step, and
columns p (phase), c (client), d (driver), a (app) and n (notes) joined by dashed lifelines.
Each diagram is a script (http1-connection.py, http2-connection.py) that holds its STEPS and
calls write(); this module is not run by itself.

A step is a tuple (phase label, kind, label, note). Kinds: wire-in (client to driver, bytes),
wire-out (driver to client), in (inbound event, driver to app), out (outbound event, app to
driver), call (the app function itself, not an event). The phase label, shown on the left,
and the note, shown on the right, may be empty.
"""

from dataclasses import dataclass
from pathlib import Path

# Where each kind of step is drawn: the column pair, and the edge attributes.
WIRE = 'color="#9aa3b2", fontcolor="#444444", fontname="Courier", fontsize=9'
STYLE = {
    "wire-in": ("cd", WIRE),
    "wire-out": ("cd", f"dir=back, {WIRE}"),
    "in": ("da", 'color="#4a7fc1", fontcolor="#2f5f9e", penwidth=1.5, fontname="Courier"'),
    "out": ("da", 'dir=back, color="#b7178c", fontcolor="#8f1270", penwidth=1.5, '
                  'fontname="Courier"'),
    "call": ("da", 'style=dotted, color="#5b536f", fontcolor="#5b536f", fontname="Courier"'),
}

Step = tuple[str, str, str, str]


@dataclass
class Diagram:
    """What differs between two pictures, besides their steps."""

    name: str  # file stem, e.g. "http1-connection"; the graph id is the stem with "_"
    summary: list[str]  # the .dot's opening comment lines, without "// "
    title: str  # the picture's bold title
    client: str  # the small print under each head box
    driver: str
    app: str


HEADER = """\
{summary}
// A sequence diagram laid out as a grid: one rank per step, columns p (phase), c (client),
// d (driver), a (app), n (notes); dashed lifelines join each column.
// Render: dot -Tsvg diagrams/{name}.dot -o diagrams/{name}.svg
digraph {graph} {{
  graph [rankdir=TB, nodesep=0.05, ranksep=0.16, splines=false, pad=0.3, fontname="Helvetica",
         labelloc=t, fontsize=12, label=<<b>{title}</b><br/><font point-size="10">grey: bytes on the wire, between client and driver</font><br/><font point-size="10" color="#2f5f9e">blue: inbound events, driver to app</font><br/><font point-size="10" color="#8f1270">magenta: outbound events, app to driver</font><br/> >];
  edge [fontname="Helvetica", fontsize=10, arrowsize=0.7, penwidth=1.1];

  // Heads and tails
  node [shape=box, style="rounded,filled", width=2.2, height=0.5, fontname="Helvetica",
        fontsize=11, fillcolor="#f3f1f8", color="#5b536f"];
  c0 [label=<<b>Client</b><br/><font point-size="9">{client}</font>>];
  d0 [label=<<b>Driver</b><br/><font point-size="9">{driver}</font>>, fillcolor="#e8f1fb", color="#4a7fc1"];
  a0 [label=<<b>App</b><br/><font point-size="9">{app}</font>>, fillcolor="#eaf6ee", color="#3f9a5e"];
  cT [label=<<b>Client</b>>];
  dT [label=<<b>Driver</b>>, fillcolor="#e8f1fb", color="#4a7fc1"];
  aT [label=<<b>App</b>>, fillcolor="#eaf6ee", color="#3f9a5e"];
  node [shape=plaintext, style="", label=""];
  p0; n0; pT; nT;
  {{ rank=same; p0 -> c0 -> d0 -> a0 -> n0 [style=invis]; }}
  {{ rank=same; pT -> cT -> dT -> aT -> nT [style=invis]; }}

  // Steps: points on the lifelines, one rank each; empty cells are invisible
  node [shape=point, width=0.01, height=0.01, color="#8a859c"];
  node [fontname="Helvetica", fontsize=9, fontcolor="#6d6882", width=2.2];
"""


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def padded(label: str) -> str:
    # Room around each line, so long labels keep clear of the lifelines.
    return "\n".join(f"   {line}   " for line in label.split("\n"))


def render(diagram: Diagram, steps: list[Step]) -> str:
    """The .dot text of the diagram."""
    out = [HEADER.format(
        summary="\n".join(f"// {line}" for line in diagram.summary),
        name=diagram.name,
        graph=diagram.name.replace("-", "_"),
        title=diagram.title,
        client=diagram.client,
        driver=diagram.driver,
        app=diagram.app,
    )]
    for i, (phase, kind, label, note) in enumerate(steps, start=1):
        pair, attrs = STYLE[kind]
        edge = {"cd": "[style=invis]", "da": "[style=invis]"}
        edge[pair] = f"[label={quote(padded(label))}, {attrs}]"
        p = (f'p{i} [shape=plaintext, label={quote(phase)}, fontsize=10, fontcolor="#5b536f", '
             f"width=1.6]" if phase else f"p{i} [style=invis]")
        n = f"n{i} [shape=plaintext, label={quote(note)}]" if note else f"n{i} [style=invis]"
        out.append(f"  // {i}. {kind}: {label.splitlines()[0]}\n")
        out.append(f"  {p}; {n};\n")
        out.append(f"  {{ rank=same; p{i} -> c{i} [style=invis]; c{i} -> d{i} {edge['cd']};\n")
        out.append(f"    d{i} -> a{i} {edge['da']}; a{i} -> n{i} [style=invis]; }}\n")
    out.append("\n  // Lifelines: heavy edges keep each column straight\n")
    ranks = ["0", *(str(i) for i in range(1, len(steps) + 1)), "T"]
    for column, style in (("p", "invis"), ("c", "dashed"), ("d", "dashed"), ("a", "dashed"),
                          ("n", "invis")):
        chain = " -> ".join(f"{column}{r}" for r in ranks)
        out.append(f'  {chain}\n    [style={style}, arrowhead=none, weight=100, color="#b8b3c8"];\n')
    out.append("}\n")
    return "".join(out)


def write(diagram: Diagram, steps: list[Step]) -> None:
    """Write <name>.dot next to this module."""
    target = Path(__file__).with_name(f"{diagram.name}.dot")
    target.write_text(render(diagram, steps), encoding="utf-8")
