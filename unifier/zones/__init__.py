"""Zones: tools in networks the control plane cannot connect into.

An Instance with ``spec.zone`` is served by that zone's agent (``unifier agent``),
which only ever connects outward. The control plane keeps, per zone:

- a work queue (:mod:`.queue`): triggers, cancels and log fetches for the zone's jobs,
  pulled by the agent, acknowledged, answered through the outbox;
- an outbox ingest (:mod:`.ingest`): jobs, runs, sync health and work results pushed by
  the agent with per-agent sequence numbers, applied in order exactly once;
- a lease (:mod:`.lease`): one active agent per zone, renewed on every contact.

The firing path reaches a zone through :func:`.dispatch.adapter_for`, the one point
where "this instance has a zone" turns an adapter call into queued work.
"""
