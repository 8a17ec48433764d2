"""``kind: Trigger``: when upstream jobs reach states, run downstream jobs.

A trigger reads as a sentence::

    apiVersion: unifier/v1
    kind: Trigger
    metadata: {name: deploy-after-etl}
    spec:
      when:
        all:                       # or any
          - job: airflow://prod/etl_daily
            state: succeeded       # a state or a list; default succeeded
          - job: terraform://infra/network
        within: 6h                 # optional: all conditions met inside this window
      then:
        - job: jenkins://ci/deploy
          params:
            ETL_RUN: "{{ upstream['airflow://prod/etl_daily'].run_id }}"

Parameters are Jinja2 templates rendered in the sandbox. The names a template may
use are :data:`TEMPLATE_NAMES`; ``upstream`` is keyed by the job URIs of ``when``.
Errors that can be seen without running (syntax, unknown names, an ``upstream[...]``
key that is not a condition's job) are validation errors, located in the file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from unifier.config.documents import Document
from unifier.duration import Duration
from unifier.model import JobRef, RunState

TEMPLATE_NAMES = frozenset({"upstream", "trigger", "firing_id", "now"})
"""upstream[URI] -> {job, run_id, state, native_state, started_at, ended_at, parameters, details};
trigger -> the trigger's name; firing_id -> this firing's id; now -> firing time (UTC ISO)."""

# Shared by every catalog and thread: it is configured here once and never changed after
# (Jinja's rule for sharing an environment); it holds no state of any trigger or run.
template_env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def _job_uri(value: str) -> str:
    JobRef.parse(value)  # raises ValueError with the expected shape
    return value


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job: str = Field(description="upstream job URI, e.g. airflow://prod/etl_daily")
    state: list[RunState] = Field(default_factory=lambda: [RunState.SUCCEEDED],
                                  description="a state or a list of states; default succeeded")

    _job = field_validator("job")(classmethod(lambda cls, v: _job_uri(v)))

    @field_validator("state", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class When(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    all_of: list[Condition] | None = Field(default=None, alias="all", min_length=1,
                                           description="every condition must be met")
    any_of: list[Condition] | None = Field(default=None, alias="any", min_length=1,
                                           description="one condition is enough")
    within: Duration | None = Field(default=None, description="all conditions met inside this window")

    @model_validator(mode="after")
    def _exactly_one(self) -> When:
        if (self.all_of is None) == (self.any_of is None):
            raise ValueError("write exactly one of `all:` or `any:`")
        return self

    @property
    def mode(self) -> Literal["all", "any"]:
        return "all" if self.all_of is not None else "any"

    @property
    def conditions(self) -> list[Condition]:
        return self.all_of if self.all_of is not None else (self.any_of or [])


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job: str = Field(description="downstream job URI to run")
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="parameters; strings are Jinja2 templates")

    _job = field_validator("job")(classmethod(lambda cls, v: _job_uri(v)))


class StormGuard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # 120 an hour lets a trigger follow a job that runs every minute, with room to spare
    max_firings: int = Field(default=120, ge=1, description="firings allowed per window")
    window: Duration = Field(default=timedelta(hours=1), description="the window")


class TriggerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: When
    then: list[Action] = Field(min_length=1)
    paused: bool = Field(default=False, description="declared but not firing")
    storm_guard: StormGuard = Field(default_factory=StormGuard,
                                    description="pause the trigger when it fires too often")

    @model_validator(mode="after")
    def _templates(self) -> TriggerSpec:
        upstream = {c.job for c in self.when.conditions}
        for index, action in enumerate(self.then):
            for key, value in action.params.items():
                if isinstance(value, str):
                    reason = template_problem(value, upstream)
                    if reason:
                        raise ValueError(f"then[{index}].params.{key}: {reason}")
        return self


class TriggerDocument(Document):
    kind: Literal["Trigger"]
    spec: TriggerSpec


def template_problem(source: str, upstream: set[str]) -> str | None:
    """What is wrong with a parameter template, as far as can be seen statically."""
    try:
        ast = template_env.parse(source)
    except TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    unknown = meta.find_undeclared_variables(ast) - TEMPLATE_NAMES
    if unknown:
        return f"unknown template name(s) {sorted(unknown)} (available: {sorted(TEMPLATE_NAMES)})"
    for node in ast.find_all(nodes.Getitem):
        target, arg = node.node, node.arg
        if isinstance(target, nodes.Name) and target.name == "upstream" and isinstance(arg, nodes.Const):
            if arg.value not in upstream:
                return f"upstream[{arg.value!r}] is not one of this trigger's conditions"
    return None

