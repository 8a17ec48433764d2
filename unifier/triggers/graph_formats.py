"""The trigger graph drawn: JSON (API and ``-o json``), Graphviz dot, mermaid, and text.

Every drawing lists the graph's nodes and edges in the graph's own order (sorted), so
the same triggers always give the same bytes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from unifier.model import JobRef
from unifier.triggers.graph import TriggerGraph, unique


def _by_namespace(graph: TriggerGraph) -> list[tuple[str, list[str]]]:
    """The graph's jobs grouped by tool instance (``KIND://INSTANCE``), sorted."""
    groups: dict[str, list[str]] = defaultdict(list)
    for uri in graph.nodes:
        groups[JobRef.parse(uri).namespace].append(uri)
    return sorted(groups.items())



def to_json(graph: TriggerGraph, known_jobs: set[str] | None = None) -> dict[str, Any]:
    """Nodes, edges, triggers and cycles; ``in_catalog`` when ``known_jobs`` is given."""
    nodes = []
    for uri in graph.nodes:
        ref = JobRef.parse(uri)
        node: dict[str, Any] = {"id": uri, "kind": ref.kind, "instance": ref.instance, "name": ref.native_id}
        if known_jobs is not None:
            node["in_catalog"] = uri in known_jobs
        nodes.append(node)
    return {
        "nodes": nodes,
        "edges": [{"from": e.upstream, "to": e.downstream, "trigger": e.trigger,
                   "states": list(e.states), "mode": e.mode, "paused": e.paused} for e in graph.edges],
        "triggers": [{"name": t.name, "source": t.source, "paused": t.paused, "mode": t.spec.when.mode,
                      "upstream": [c.job for c in t.spec.when.conditions],
                      "downstream": unique(a.job for a in t.spec.then)}
                     for t in graph.triggers.values()],
        "cycles": [c.to_json() for c in graph.cycles()],
    }


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: TriggerGraph) -> str:
    """Graphviz: one cluster per tool instance, edges labelled by trigger."""
    lines = ["digraph unifier {", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];']
    for number, (namespace, jobs) in enumerate(_by_namespace(graph)):
        lines.append(f"  subgraph cluster_{number} {{")
        lines.append(f"    label={_dot_quote(namespace)};")
        for uri in jobs:
            lines.append(f"    {_dot_quote(uri)} [label={_dot_quote(JobRef.parse(uri).native_id)}];")
        lines.append("  }")
    on_cycle = {(c.jobs[i], c.jobs[(i + 1) % len(c.jobs)]) for c in graph.cycles() for i in range(len(c.jobs))}
    for edge in graph.edges:
        attributes = [f"label={_dot_quote(edge.trigger)}"]
        if edge.paused:
            attributes.append("style=dashed")
        if (edge.upstream, edge.downstream) in on_cycle:
            attributes.append("color=red")
        lines.append(f"  {_dot_quote(edge.upstream)} -> {_dot_quote(edge.downstream)} [{', '.join(attributes)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    # inside "...", mermaid takes HTML entity codes for characters that end the label
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("|", "#124;")


def to_mermaid(graph: TriggerGraph) -> str:
    """A mermaid flowchart; node ids are n0, n1... with the URI as label."""
    ids = {uri: f"n{i}" for i, uri in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for number, (namespace, jobs) in enumerate(_by_namespace(graph)):
        lines.append(f'  subgraph s{number}["{_mermaid_text(namespace)}"]')
        for uri in jobs:
            lines.append(f'    {ids[uri]}["{_mermaid_text(uri)}"]')
        lines.append("  end")
    for edge in graph.edges:
        arrow = "-.->" if edge.paused else "-->"
        lines.append(f'  {ids[edge.upstream]} {arrow}|"{_mermaid_text(edge.trigger)}"| {ids[edge.downstream]}')
    return "\n".join(lines) + "\n"


def to_text(graph: TriggerGraph) -> str:
    """One line per edge, for a terminal."""
    return "".join(f"{e.upstream} -> {e.downstream}  [{e.trigger}]{' (paused)' if e.paused else ''}\n"
                   for e in graph.edges)


def dumps_json(graph: TriggerGraph, known_jobs: set[str] | None = None) -> str:
    return json.dumps(to_json(graph, known_jobs), indent=2) + "\n"
