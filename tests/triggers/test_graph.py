"""The trigger graph: cycles named, impact across a chain, drawings that parse."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pydot
import pytest

from tests.cli_helpers import run_cli
from unifier.triggers.graph import GraphTrigger, TriggerGraph
from unifier.triggers.graph_formats import to_dot, to_json, to_mermaid
from unifier.triggers.spec import TriggerSpec


def trigger(name: str, upstream: list[str], downstream: list[str], mode: str = "all",
            paused: bool = False) -> GraphTrigger:
    spec = TriggerSpec.model_validate({
        "when": {mode: [{"job": u} for u in upstream]},
        "then": [{"job": d} for d in downstream],
        "paused": paused,
    })
    return GraphTrigger(name, spec, f"triggers.yaml:{len(name)}", paused)


def trigger_yaml(name: str, upstream: list[str], downstream: list[str], mode: str = "all") -> str:
    when = "\n".join(f"      - job: {u}" for u in upstream)
    then = "\n".join(f"    - job: {d}" for d in downstream)
    return (f"apiVersion: unifier/v1\nkind: Trigger\nmetadata: {{name: {name}}}\nspec:\n"
            f"  when:\n    {mode}:\n{when}\n  then:\n{then}\n")


def write_triggers(path: Path, *docs: str) -> Path:
    path.write_text("---\n".join(docs))
    return path


# a chain across tools, with a fan-out at b and a fan-in at e
CHAIN = [
    trigger("t-ab", ["airflow://prod/a"], ["jenkins://ci/b"]),
    trigger("t-bc", ["jenkins://ci/b"], ["terraform://infra/c", "cron://h/d"]),
    trigger("t-ce", ["terraform://infra/c", "cron://h/d"], ["kubernetes://k/batch/e"]),
    trigger("t-xy", ["cron://h/x"], ["cron://h/y"]),
]


def test_edges_are_upstream_to_downstream_labelled_by_trigger():
    graph = TriggerGraph(CHAIN)
    edges = {(e.upstream, e.downstream, e.trigger) for e in graph.edges}
    assert ("airflow://prod/a", "jenkins://ci/b", "t-ab") in edges
    # t-ce waits for two jobs: one edge from each
    assert {(e.upstream, e.trigger) for e in graph.upstream_edges("kubernetes://k/batch/e")} == {
        ("terraform://infra/c", "t-ce"), ("cron://h/d", "t-ce")}
    assert graph.fan_out()["jenkins://ci/b"] == ["cron://h/d", "terraform://infra/c"]
    assert graph.cycles() == []


def test_impact_follows_the_chain_transitively_with_the_triggers_on_the_path():
    reached = TriggerGraph(CHAIN).impact("airflow://prod/a")
    assert [(i.job, i.depth, i.triggers) for i in reached] == [
        ("jenkins://ci/b", 1, ("t-ab",)),
        ("cron://h/d", 2, ("t-ab", "t-bc")),
        ("terraform://infra/c", 2, ("t-ab", "t-bc")),
        ("kubernetes://k/batch/e", 3, ("t-ab", "t-bc", "t-ce")),
    ]
    assert TriggerGraph(CHAIN).impact("kubernetes://k/batch/e") == []  # the end of the chain
    assert [i.job for i in TriggerGraph(CHAIN).impact("cron://h/x")] == ["cron://h/y"]  # another component


def test_cycle_is_named_with_its_jobs_and_triggers_in_order():
    graph = TriggerGraph([
        trigger("t1", ["cron://h/a"], ["cron://h/b"]),
        trigger("t2", ["cron://h/b"], ["airflow://p/c"]),
        trigger("t3", ["airflow://p/c"], ["cron://h/a"]),
        trigger("t4", ["airflow://p/c"], ["cron://h/z"]),  # leaves the cycle: not part of it
    ])
    [cycle] = graph.cycles()
    assert str(cycle) == "cycle: airflow://p/c -> cron://h/a -> cron://h/b -> airflow://p/c (triggers t3, t1, t2)"
    assert "cron://h/z" not in graph.topological_order()  # fed by a cycle: no order for it
    # the job itself is impacted by its own run, through the cycle
    assert ("cron://h/a", ("t1", "t2", "t3")) in [(i.job, i.triggers) for i in graph.impact("cron://h/a")]


def test_self_loop_and_separate_cycles_are_each_found():
    graph = TriggerGraph([
        trigger("again", ["cron://h/self"], ["cron://h/self"]),
        trigger("p", ["cron://h/p"], ["cron://h/q"]),
        trigger("q", ["cron://h/q"], ["cron://h/p"]),
        trigger("ok", ["cron://h/q"], ["cron://h/r"]),
    ])
    assert [str(c) for c in graph.cycles()] == [
        "cycle: cron://h/p -> cron://h/q -> cron://h/p (triggers p, q)",
        "cycle: cron://h/self -> cron://h/self (triggers again)",
    ]


def test_long_chain_has_no_recursion_limit():
    jobs = [f"cron://h/j{i:05d}" for i in range(5000)]
    chain = [trigger(f"t{i:05d}", [jobs[i]], [jobs[i + 1]]) for i in range(len(jobs) - 1)]
    graph = TriggerGraph([*chain, trigger("back", [jobs[-1]], [jobs[0]])])
    [cycle] = graph.cycles()
    assert len(cycle.jobs) == 5000 and cycle.triggers[-1] == "back"
    assert len(TriggerGraph(chain).impact(jobs[0])) == 4999


# pydot's parser calls pyparsing names pyparsing deprecates: not ours to fix
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_dot_output_parses_and_has_every_node_and_labelled_edge():
    source = to_dot(TriggerGraph([*CHAIN, trigger('quote"d', ["cron://h/x"], ["cron://h/w"], paused=True)]))
    [parsed] = pydot.graph_from_dot_data(source)
    nodes = {n.get_name().strip('"') for sub in parsed.get_subgraphs() for n in sub.get_nodes()}
    assert nodes == set(TriggerGraph(CHAIN).nodes) | {"cron://h/w"}
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"'), e.get_label().strip('"'))
             for e in parsed.get_edges()}
    assert ("jenkins://ci/b", "cron://h/d", "t-bc") in edges
    assert ("cron://h/x", "cron://h/w", 'quote\\"d') in edges  # quoted, still one label
    paused = [e for e in parsed.get_edges() if e.get_source().strip('"') == "cron://h/x"
              and e.get_destination().strip('"') == "cron://h/w"]
    assert paused[0].get_style() == "dashed"
    clusters = {s.get_label().strip('"') for s in parsed.get_subgraphs()}
    assert clusters == {"airflow://prod", "jenkins://ci", "terraform://infra", "cron://h", "kubernetes://k"}


MERMAID_LINE = re.compile(
    r'^(flowchart LR'
    r'|  subgraph (?P<sub>s\d+)\["[^"]*"\]'
    r'|    (?P<node>n\d+)\["(?P<label>[^"]*)"\]'
    r'|  end'
    r'|  (?P<src>n\d+) (?P<arrow>-->|-\.->)\|"(?P<edge>[^"|]*)"\| (?P<dst>n\d+))$')


def test_mermaid_output_is_a_well_formed_flowchart():
    text = to_mermaid(TriggerGraph([*CHAIN, trigger("a|b", ["cron://h/x"], ["cron://h/w"], paused=True)]))
    labels, edges, depth = {}, set(), 0
    for line in text.splitlines():
        match = MERMAID_LINE.match(line)
        assert match, f"not a mermaid flowchart line: {line!r}"
        depth += 1 if match["sub"] else -1 if line.strip() == "end" else 0
        if match["node"]:
            labels[match["node"]] = match["label"]
        if match["src"]:
            assert match["src"] in labels and match["dst"] in labels, "edge before its nodes"
            edges.add((labels[match["src"]], labels[match["dst"]], match["edge"], match["arrow"]))
    assert depth == 0  # every subgraph closed
    assert ("airflow://prod/a", "jenkins://ci/b", "t-ab", "-->") in edges
    assert ("cron://h/x", "cron://h/w", "a#124;b", "-.->") in edges  # '|' escaped, paused dotted


def test_json_output_structure():
    data = json.loads(json.dumps(to_json(TriggerGraph(CHAIN), known_jobs={"airflow://prod/a"})))
    assert set(data) == {"nodes", "edges", "triggers", "cycles"}
    by_id = {n["id"]: n for n in data["nodes"]}
    assert by_id["kubernetes://k/batch/e"] == {"id": "kubernetes://k/batch/e", "kind": "kubernetes",
                                                "instance": "k", "name": "batch/e", "in_catalog": False}
    assert by_id["airflow://prod/a"]["in_catalog"] is True
    assert {"from": "airflow://prod/a", "to": "jenkins://ci/b", "trigger": "t-ab", "states": ["succeeded"],
            "mode": "all", "paused": False} in data["edges"]
    assert {t["name"]: t["downstream"] for t in data["triggers"]}["t-bc"] == ["terraform://infra/c", "cron://h/d"]
    assert data["cycles"] == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_cli_graph_and_impact_from_stored_triggers(tmp_path):
    path = write_triggers(tmp_path / "t.yaml",
                          trigger_yaml("t-ab", ["airflow://prod/a"], ["jenkins://ci/b"]),
                          trigger_yaml("t-bc", ["jenkins://ci/b"], ["terraform://infra/c"]))
    assert run_cli("apply", "-f", str(path)).exit_code == 0
    drawn = run_cli("graph", "-o", "json")
    assert drawn.exit_code == 0, drawn.stderr
    data = json.loads(drawn.stdout)
    assert [(e["from"], e["to"], e["trigger"]) for e in data["edges"]] == [
        ("airflow://prod/a", "jenkins://ci/b", "t-ab"), ("jenkins://ci/b", "terraform://infra/c", "t-bc")]
    assert all(n["in_catalog"] is False for n in data["nodes"])  # nothing synced yet
    [parsed] = pydot.graph_from_dot_data(run_cli("graph", "-o", "dot").stdout)
    assert len(parsed.get_edges()) == 2

    reached = run_cli("impact", "airflow://prod/a", "-o", "json")
    assert json.loads(reached.stdout) == [
        {"job": "jenkins://ci/b", "depth": 1, "triggers": ["t-ab"], "path": ["airflow://prod/a", "jenkins://ci/b"]},
        {"job": "terraform://infra/c", "depth": 2, "triggers": ["t-ab", "t-bc"],
         "path": ["airflow://prod/a", "jenkins://ci/b", "terraform://infra/c"]},
    ]
    table = run_cli("impact", "airflow://prod/a")
    assert "[t-ab] jenkins://ci/b -> [t-bc] terraform://infra/c" in table.stdout


def test_cli_graph_from_files_shows_the_cycle(tmp_path):
    path = write_triggers(tmp_path / "t.yaml",
                          trigger_yaml("t1", ["cron://h/a"], ["cron://h/b"]),
                          trigger_yaml("t2", ["cron://h/b"], ["cron://h/a"]))
    result = run_cli("graph", "-f", str(path))
    assert "cron://h/a -> cron://h/b  [t1]" in result.stdout
    assert "cycle: cron://h/a -> cron://h/b -> cron://h/a (triggers t1, t2)" in result.stderr
    data = json.loads(run_cli("graph", "-f", str(path), "-o", "json").stdout)
    assert data["cycles"][0]["triggers"] == ["t1", "t2"]


@pytest.mark.parametrize("mode", ["all", "any"])
def test_paused_trigger_edges_are_marked(mode):
    graph = TriggerGraph([trigger("t", ["cron://h/a"], ["cron://h/b"], mode=mode, paused=True)])
    assert [e.paused for e in graph.edges] == [True]
    assert "style=dashed" in to_dot(graph)


def test_trigger_yaml_helper_is_valid(tmp_path):
    # the documents these tests write are real Trigger documents
    path = write_triggers(tmp_path / "t.yaml", textwrap.dedent(trigger_yaml("x", ["cron://h/a"], ["cron://h/b"])))
    assert run_cli("validate", "-f", str(path)).exit_code == 0
