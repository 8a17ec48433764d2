"""The trigger graph: which job's runs start which other job's runs, across tools.

Nodes are job URIs; an edge ``upstream -> downstream`` exists for every trigger that
has ``upstream`` among its conditions and ``downstream`` among its actions, and is
labelled with the trigger's name. The graph answers the questions asked before and
after applying triggers:

- :meth:`TriggerGraph.cycles`: loops (``a -> b -> a``) that would fire for ever; a set
  of triggers containing one is refused (:func:`unifier.plan.refuse_cycles`);
- :meth:`TriggerGraph.fan_out`: how many jobs one job's run starts directly;
- :meth:`TriggerGraph.impact`: everything downstream of a job, with the path to it;
- :meth:`TriggerGraph.firings_per_day`: an estimate from the upstream schedules;
- :func:`to_dot`, :func:`to_mermaid`, :func:`to_json`: drawings.

The second half of the module walks the graph of *runs* the triggers produced:
:func:`explain_run` follows a run's recorded cause (trigger and upstream runs) back
to its root causes, for ``unifier why``.
"""

from __future__ import annotations

import heapq
import json
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from unifier.model import CauseKind, JobRef, Run, RunKey
from unifier.triggers.spec import TriggerSpec

if TYPE_CHECKING:
    from unifier.config import ConfigSet, Loaded


class _StoredLike(Protocol):
    name: str
    spec: TriggerSpec
    source: str | None
    paused: bool


@dataclass(frozen=True)
class GraphTrigger:
    """One trigger as the graph sees it, from a file or from the catalog."""

    name: str
    spec: TriggerSpec
    source: str | None = None  # FILE:LINE for a file, the stored source for the catalog
    paused: bool = False  # declared paused, or paused by the storm guard

    @classmethod
    def from_loaded(cls, item: Loaded) -> GraphTrigger:
        """From a :class:`~unifier.config.Loaded` Trigger document."""
        spec: TriggerSpec = item.model.spec  # type: ignore[attr-defined]
        return cls(item.name, spec, item.location, spec.paused)

    @classmethod
    def from_stored(cls, stored: _StoredLike) -> GraphTrigger:
        """From a trigger kept in the catalog (``list_triggers``)."""
        return cls(stored.name, stored.spec, stored.source, bool(stored.paused or stored.spec.paused))


@dataclass(frozen=True, slots=True)
class Edge:
    upstream: str
    downstream: str
    trigger: str
    states: tuple[str, ...]
    mode: str  # all | any
    paused: bool = False


@dataclass(frozen=True)
class Cycle:
    """A closed path: ``jobs[0] -> jobs[1] -> ... -> jobs[0]``, ``triggers[i]`` labelling
    the step from ``jobs[i]``."""

    jobs: tuple[str, ...]
    triggers: tuple[str, ...]

    def __str__(self) -> str:
        path = " -> ".join((*self.jobs, self.jobs[0]))
        return f"cycle: {path} (triggers {', '.join(self.triggers)})"


@dataclass(frozen=True)
class Impacted:
    """A job reached downstream of another, and the shortest path of edges to it."""

    job: str
    path: tuple[Edge, ...]

    @property
    def depth(self) -> int:
        return len(self.path)

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(e.trigger for e in self.path)


class TriggerGraph:
    def __init__(self, triggers: Iterable[GraphTrigger]):
        self.triggers: dict[str, GraphTrigger] = {}
        self.edges: list[Edge] = []
        self._out: dict[str, list[Edge]] = defaultdict(list)
        self._in: dict[str, list[Edge]] = defaultdict(list)
        nodes: set[str] = set()
        for trigger in sorted(triggers, key=lambda t: t.name):
            self.triggers[trigger.name] = trigger
            when = trigger.spec.when
            downstream = _unique(a.job for a in trigger.spec.then)
            nodes.update(downstream)
            for condition in when.conditions:
                nodes.add(condition.job)
                for target in downstream:
                    edge = Edge(condition.job, target, trigger.name,
                                tuple(s.value for s in condition.state), when.mode, trigger.paused)
                    self.edges.append(edge)
                    self._out[edge.upstream].append(edge)
                    self._in[edge.downstream].append(edge)
        self.nodes: list[str] = sorted(nodes)
        self._loops: list[list[str]] | None = None

    @classmethod
    def from_config(cls, config: ConfigSet) -> TriggerGraph:
        return cls(GraphTrigger.from_loaded(item) for item in config.of_kind("Trigger"))

    # ------------------------------------------------------------------ structure

    def downstream_edges(self, job: str) -> list[Edge]:
        return list(self._out.get(job, ()))

    def upstream_edges(self, job: str) -> list[Edge]:
        return list(self._in.get(job, ()))

    def triggers_into(self, job: str) -> list[GraphTrigger]:
        names = _unique(e.trigger for e in self._in.get(job, ()))
        return [self.triggers[n] for n in names]

    def fan_out(self) -> dict[str, list[str]]:
        """Job -> the distinct jobs its runs start directly (through any trigger)."""
        return {job: sorted({e.downstream for e in edges}) for job, edges in sorted(self._out.items())}

    def impact(self, job: str) -> list[Impacted]:
        """Every job downstream of ``job``, transitively, nearest first, each with the
        shortest path of edges (and so of triggers) that reaches it."""
        paths: dict[str, tuple[Edge, ...]] = {job: ()}
        queue = deque([job])
        while queue:
            current = queue.popleft()
            for edge in sorted(self._out.get(current, ()), key=lambda e: (e.downstream, e.trigger)):
                if edge.downstream not in paths:
                    paths[edge.downstream] = (*paths[current], edge)
                    queue.append(edge.downstream)
        found = [Impacted(j, p) for j, p in paths.items() if j != job]
        # a job that reaches itself again is on a cycle: it is impacted too
        back = [e for j in paths for e in self._out.get(j, ()) if e.downstream == job]
        if back:
            closing = min(back, key=lambda e: (len(paths[e.upstream]), e.upstream, e.trigger))
            found.append(Impacted(job, (*paths[closing.upstream], closing)))
        return sorted(found, key=lambda i: (i.depth, i.job))

    def cycles(self) -> list[Cycle]:
        """One cycle for every strongly connected group of jobs that loops (a self-loop
        included), each the shortest loop through the group's first job."""
        found = []
        for component in self._looping_components():
            members = set(component)
            start = min(members)
            found.append(self._shortest_cycle(start, members))
        return sorted(found, key=lambda c: c.jobs)

    def _looping_components(self) -> list[list[str]]:
        """Strongly connected groups of jobs that loop (more than one job, or a self-loop)."""
        if self._loops is None:
            self._loops = [c for c in _strongly_connected(self.nodes, self._out)
                           if len(c) > 1 or any(e.downstream == c[0] for e in self._out.get(c[0], ()))]
        return self._loops

    def _shortest_cycle(self, start: str, members: set[str]) -> Cycle:
        previous: dict[str, Edge] = {}
        queue = deque([start])
        seen = {start}
        closing: Edge | None = None
        while queue and closing is None:
            current = queue.popleft()
            for edge in sorted(self._out.get(current, ()), key=lambda e: (e.downstream, e.trigger)):
                if edge.downstream == start:
                    closing = edge
                    break
                if edge.downstream in members and edge.downstream not in seen:
                    seen.add(edge.downstream)
                    previous[edge.downstream] = edge
                    queue.append(edge.downstream)
        assert closing is not None  # start is in a strongly connected group that loops
        steps = [closing]
        while steps[-1].upstream != start:
            steps.append(previous[steps[-1].upstream])
        steps.reverse()
        return Cycle(tuple(e.upstream for e in steps), tuple(e.trigger for e in steps))

    def topological_order(self) -> list[str]:
        """Jobs with every upstream before its downstreams; jobs on a cycle, and jobs
        downstream of one, are left out."""
        on_cycle = {j for c in self._looping_components() for j in c}
        indegree = {n: 0 for n in self.nodes if n not in on_cycle}
        for edge in self.edges:
            if edge.downstream in indegree:  # an edge from a cycle is never released
                indegree[edge.downstream] += 1
        ready = [n for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)  # the smallest URI first: a stable order for equal ranks
        order: list[str] = []
        while ready:
            job = heapq.heappop(ready)
            order.append(job)
            for edge in self._out.get(job, ()):
                if edge.downstream in indegree:
                    indegree[edge.downstream] -= 1
                    if indegree[edge.downstream] == 0:
                        heapq.heappush(ready, edge.downstream)
        return order

    # ------------------------------------------------------------------ estimates

    def firings_per_day(self, scheduled: Callable[[str], float | None]
                        ) -> tuple[dict[str, float | None], dict[str, float | None]]:
        """Estimated firings per day of each trigger, and runs per day of each job.

        ``scheduled(job)`` is a job's own rate (its schedule's runs per day, 0 when it
        has none), or None when unknown (the job is not in the catalog). A trigger
        waiting for ``all`` of its conditions fires as often as the rarest upstream; one
        waiting for ``any`` as often as all of them together. A job runs as often as its
        schedule plus every trigger that starts it, so rates propagate down chains.
        Assumes every upstream run reaches the awaited state: an upper bound.
        Paused triggers fire 0 times; jobs on (or fed by) a cycle are unknown (None).
        """
        job_rate: dict[str, float | None] = {}

        def trigger_rate(trigger: GraphTrigger) -> float | None:
            if trigger.paused:
                return 0.0
            rates = [job_rate.get(c.job) for c in trigger.spec.when.conditions]
            known = [r for r in rates if r is not None]
            if len(known) < len(rates):
                return None
            return min(known) if trigger.spec.when.mode == "all" else sum(known)

        for job in self.topological_order():  # upstreams first: their rates are known
            own = scheduled(job)
            into = [trigger_rate(t) for t in self.triggers_into(job)]
            if into and own is None:
                own = 0.0  # not in the catalog (yet), but what starts it is known
            known = [r for r in into if r is not None]
            job_rate[job] = None if own is None or len(known) < len(into) else own + sum(known)
        triggers = {name: trigger_rate(t) for name, t in self.triggers.items()}
        return triggers, {j: job_rate.get(j) for j in self.nodes}


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _strongly_connected(nodes: Iterable[str], out: dict[str, list[Edge]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (trigger sets can be large; no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted({e.downstream for e in out.get(root, ())})))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted({e.downstream for e in out.get(child, ())}))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(sorted(component))
    return result


# ---------------------------------------------------------------------- drawings


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
                      "downstream": _unique(a.job for a in t.spec.then)}
                     for t in graph.triggers.values()],
        "cycles": [{"jobs": list(c.jobs), "triggers": list(c.triggers), "text": str(c)}
                   for c in graph.cycles()],
    }


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: TriggerGraph) -> str:
    """Graphviz: one cluster per tool instance, edges labelled by trigger."""
    lines = ["digraph unifier {", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];']
    by_instance: dict[str, list[str]] = defaultdict(list)
    for uri in graph.nodes:
        by_instance[JobRef.parse(uri).namespace].append(uri)
    for number, (namespace, jobs) in enumerate(sorted(by_instance.items())):
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
    by_instance: dict[str, list[str]] = defaultdict(list)
    for uri in graph.nodes:
        by_instance[JobRef.parse(uri).namespace].append(uri)
    for number, (namespace, jobs) in enumerate(sorted(by_instance.items())):
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


# ---------------------------------------------------------------------- why: the graph of runs


@dataclass
class Explanation:
    """Why a run happened: its cause and, for a trigger, the explanations of the
    upstream runs that satisfied it. ``missing`` lists upstream runs the catalog does
    not hold (yet); ``repeated`` marks a run already explained higher in the tree."""

    run: Run
    upstream: list[Explanation] = field(default_factory=list)
    missing: list[RunKey] = field(default_factory=list)
    repeated: bool = False

    def roots(self) -> list[Run]:
        """The runs at the origin of the chain (not caused by a trigger), each once."""
        if not self.upstream and not self.missing and self.run.cause.kind != CauseKind.TRIGGER:
            return [self.run]
        found: dict[RunKey, Run] = {}
        for item in self.upstream:
            found.update((r.key, r) for r in item.roots())
        return list(found.values())

    def to_json(self) -> dict[str, Any]:
        cause = self.run.cause
        return {
            "job": self.run.job, "run_id": self.run.run_id, "state": self.run.state.value,
            "started_at": self.run.started_at.isoformat() if self.run.started_at else None,
            "ended_at": self.run.ended_at.isoformat() if self.run.ended_at else None,
            "cause": cause.model_dump(mode="json"),
            "repeated": self.repeated,
            "upstream": [u.to_json() for u in self.upstream],
            "missing": [m.model_dump() for m in self.missing],
        }


def explain_run(get_run: Callable[[str, str], Run | None], run: Run, *, max_depth: int = 100,
                firing_upstream: Callable[[str], list[RunKey]] | None = None) -> Explanation:
    """Follow ``run``'s recorded cause back to its root causes.

    ``get_run(job, run_id)`` returns a stored run or None. When a triggered run's cause
    names its firing but not its upstream runs, ``firing_upstream(firing_id)`` reads
    them from the ledger. A run met twice (two downstream branches from one upstream)
    is explained once and marked ``repeated`` the next time; the walk stops at
    ``max_depth`` in case the history loops.
    """
    seen: set[RunKey] = set()

    def walk(current: Run, depth: int) -> Explanation:
        node = Explanation(current)
        if current.key in seen:
            node.repeated = True
            return node
        seen.add(current.key)
        if current.cause.kind != CauseKind.TRIGGER or depth >= max_depth:
            return node
        keys = current.cause.upstream_runs
        if not keys and current.cause.firing_id and firing_upstream is not None:
            keys = firing_upstream(current.cause.firing_id)
        for key in keys:
            upstream = get_run(key.job, key.run_id)
            if upstream is None:
                node.missing.append(key)
            else:
                node.upstream.append(walk(upstream, depth + 1))
        return node

    return walk(run, 0)


def describe_cause(run: Run) -> str:
    cause = run.cause
    if cause.kind == CauseKind.TRIGGER:
        text = f"trigger {cause.trigger or '?'}"
        if cause.firing_id:
            text += f" (firing {cause.firing_id})"
        return text
    if cause.kind == CauseKind.MANUAL:
        return f"manual{f' by {cause.actor}' if cause.actor else ''}"
    if cause.kind == CauseKind.SCHEDULE:
        return "schedule"
    if cause.kind == CauseKind.EXTERNAL:
        return f"external{f' ({cause.actor})' if cause.actor else ''}"
    return "unknown (the tool did not say)"


def render_explanation(explanation: Explanation) -> str:
    """An indented tree, one run per line with its cause under it."""
    lines: list[str] = []

    def stamp(run: Run) -> str:
        moment = run.started_at or run.queued_at or run.ended_at
        return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "time unknown"

    def walk(node: Explanation, indent: str) -> None:
        run = node.run
        if node.repeated:
            lines.append(f"{indent}{run.job} run {run.run_id} (explained above)")
            return
        lines.append(f"{indent}{run.job} run {run.run_id}  {run.state.value}  {stamp(run)}")
        lines.append(f"{indent}  caused by {describe_cause(run)}")
        for child in node.upstream:
            walk(child, indent + "    ")
        if run.cause.kind == CauseKind.TRIGGER and not node.upstream and not node.missing:
            lines.append(f"{indent}  (its upstream runs are recorded neither on the run nor in the ledger)")
        for key in node.missing:
            lines.append(f"{indent}    {key.job} run {key.run_id}  (not in the catalog: sync its instance)")

    walk(explanation, "")
    roots = explanation.roots()
    if roots and roots != [explanation.run]:
        lines.append("root cause: " + "; ".join(f"{r.job} run {r.run_id} ({describe_cause(r)})" for r in roots))
    return "\n".join(lines) + "\n"
