"""Rendering a firing's parameters from its upstream runs, in the Jinja2 sandbox.

The names a template sees are those of :data:`unifier.triggers.spec.TEMPLATE_NAMES`.
Rendering is strict: a name or key that does not exist (``upstream[...]`` of a job that
is not among this firing's upstream runs, as with ``any``) is an error, which makes the
firing fail with that message instead of sending an empty value downstream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError

from unifier.catalog import Catalog
from unifier.errors import NotFound, UnifierError
from unifier.model import Run, RunKey
from unifier.triggers.spec import Action, template_env

_strict_env = template_env.overlay(undefined=StrictUndefined)


class RenderError(UnifierError):
    pass


def upstream_context(catalog: Catalog, runs: list[RunKey]) -> dict[str, dict[str, Any]]:
    upstream: dict[str, dict[str, Any]] = {}
    for key in runs:
        try:
            run = catalog.get_run(key.job, key.run_id)
        except NotFound:
            continue
        upstream[key.job] = _run_view(run)
    return upstream


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _run_view(run: Run) -> dict[str, Any]:
    return {
        "job": run.job, "run_id": run.run_id, "state": run.state.value,
        "native_state": run.native_state, "started_at": _iso(run.started_at),
        "ended_at": _iso(run.ended_at), "parameters": dict(run.parameters),
        "details": dict(run.details),
    }


def render_params(actions: list[Action], *, trigger: str, firing_id: str, fired_at: datetime,
                  upstream: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every action's parameters; raises :class:`RenderError` naming the parameter."""
    context = {"upstream": upstream, "trigger": trigger, "firing_id": firing_id,
               "now": fired_at.isoformat()}
    rendered = []
    for index, action in enumerate(actions):
        params: dict[str, Any] = {}
        for name, value in action.params.items():
            if not isinstance(value, str):
                params[name] = value
                continue
            try:
                params[name] = _strict_env.from_string(value).render(context)
            except (TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
                raise RenderError(f"then[{index}].params.{name}: cannot render {value!r}: "
                                  f"{type(exc).__name__}: {exc}") from None
        rendered.append(params)
    return rendered
