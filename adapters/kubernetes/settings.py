"""Settings of a kubernetes instance (``spec.config`` of an ``adapter: kubernetes`` Instance).

    spec:
      adapter: kubernetes
      config:
        kubeconfig: ~/.kube/config      # or in_cluster: true
        context: prod
        namespaces: [batch, reports]   # empty: every namespace (needs cluster-wide list/watch)
        job_selector: "team=data"      # also show standalone Jobs with these labels

One instance is one cluster. The credentials are those of the kubeconfig (or of the
pod's service account with ``in_cluster``); unifier never copies them. RBAC they need,
in each watched namespace (or cluster-wide when ``namespaces`` is empty):

    batch/cronjobs: get, list          batch/jobs: get, list, watch, create, delete
    pods: list                         pods/log: get
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from unifier.adapters.kubernetes.selectors import validate as _valid_selector
from unifier.config.paths import ConfigPath


class KubernetesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kubeconfig: ConfigPath | None = Field(
        default=None,
        description="Path of the kubeconfig file. Default: $KUBECONFIG, else ~/.kube/config.",
    )
    context: str | None = Field(
        default=None, description="kubeconfig context to use. Default: the file's current-context."
    )
    in_cluster: bool = Field(
        default=False,
        description=(
            "Use the service account of the pod unifier runs in (its token and CA under "
            "/var/run/secrets/kubernetes.io/serviceaccount) instead of a kubeconfig."
        ),
    )
    namespaces: list[str] = Field(
        default_factory=list,
        description=(
            "Namespaces to watch. Empty: all namespaces, with one cluster-wide list/watch "
            "(needs cluster-wide RBAC); otherwise one list/watch per namespace."
        ),
    )
    job_selector: Annotated[str | None, AfterValidator(_valid_selector)] = Field(
        default=None,
        description=(
            "Label selector (e.g. 'team=data,tier in (batch)') for standalone Jobs that "
            "are jobs of their own (native id NAMESPACE/job/NAME). Default: only the Jobs "
            "CronJobs create are seen, as runs of those CronJobs."
        ),
    )
    dashboard_url: str | None = Field(
        default=None,
        description=(
            "Link to a CronJob in a web UI, with {namespace} and {name} placeholders, e.g. "
            "'https://dash.example/#/cronjob/{namespace}/{name}'."
        ),
    )
    controller_timezone: str = Field(
        default="UTC",
        description=(
            "Time zone of kube-controller-manager, used for CronJobs without spec.timeZone "
            "(the API does not reveal it)."
        ),
    )
    poll_interval: float = Field(
        default=30.0, gt=0, description="Seconds between sync cycles for this cluster."
    )
    watch_timeout: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description=(
            "Seconds one sync cycle keeps its watch open for events after the stored "
            "resourceVersion (the watch resumes from there on the next cycle)."
        ),
    )
    request_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for one API request (connect and read)."
    )
    page_size: int = Field(
        default=500, ge=1, description="Items per page when listing (limit/continue)."
    )
    log_limit_bytes: int = Field(
        default=1_048_576, ge=1,
        description="At most this many bytes of log per container (the API's limitBytes).",
    )
    cancel_propagation: Literal["Foreground", "Background"] = Field(
        default="Foreground",
        description=(
            "propagationPolicy of the delete that cancels a run. Foreground keeps the Job "
            "(marked for deletion, shown as cancelled) until its pods are gone; "
            "Background removes the Job at once and its pods after."
        ),
    )

    @model_validator(mode="after")
    def _one_source(self) -> KubernetesSettings:
        if self.in_cluster and (self.kubeconfig or self.context):
            raise ValueError("in_cluster: true cannot be combined with kubeconfig or context")
        return self
