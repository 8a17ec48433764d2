"""The trigger graph: which job's runs start which other job's runs, across tools.

Nodes are job URIs; an edge ``upstream -> downstream`` exists for every trigger that
has ``upstream`` among its conditions and ``downstream`` among its actions, and is
labelled with the trigger's name. The graph answers the questions asked before and
after applying triggers:

- :meth:`TriggerGraph.cycles`: loops (``a -> b -> a``) that would fire for ever; a set
  of triggers containing one is refused (:func:`unifier.plan.refuse_cycles`);
- :meth:`TriggerGraph.fan_out`: how many jobs one job's run starts directly;
- :meth:`TriggerGraph.impact`: everything downstream of a job, with the path to it;
- :meth:`TriggerGraph.firings_per_day`: an estimate from the upstream schedules.

Its drawings (JSON, Graphviz, mermaid, text) are in :mod:`unifier.triggers.graph_formats`;
the walk over the graph of *runs* the triggers produced, behind ``unifier why``, is in
:mod:`unifier.triggers.why`.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from unifier.triggers.spec import TriggerDocument, TriggerSpec

if TYPE_CHECKING:
    from unifier.config.loader import ConfigSet, Loaded


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
        assert isinstance(item.model, TriggerDocument)  # the loader validated it as one
        spec = item.model.spec
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

    def to_json(self) -> dict[str, Any]:
        return {"jobs": list(self.jobs), "triggers": list(self.triggers), "text": str(self)}


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
            downstream = unique(a.job for a in trigger.spec.then)
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
        names = unique(e.trigger for e in self._in.get(job, ()))
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

    def _successors(self, job: str) -> list[str]:
        return [e.downstream for e in self._out.get(job, ())]

    def _looping_components(self) -> list[list[str]]:
        """Strongly connected groups of jobs that loop (more than one job, or a self-loop)."""
        if self._loops is None:
            self._loops = [c for c in strongly_connected(self.nodes, self._successors)
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


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def strongly_connected(nodes: Iterable[str], successors: Callable[[str], Iterable[str]]) -> list[list[str]]:
    """The strongly connected groups of a directed graph, each sorted, a group listed
    before the groups that reach it. Tarjan's algorithm, iterative (trigger sets can be
    large; no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    work: list[tuple[str, Iterator[str]]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        work.append((node, iter(sorted(set(successors(node))))))

    for root in nodes:
        if root in index:
            continue
        visit(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    visit(child)
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
