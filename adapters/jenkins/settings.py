"""Settings of a jenkins instance (``spec.config`` of an ``adapter: jenkins`` Instance).

    spec:
      adapter: jenkins
      config:
        url: https://ci.example.com/                 # the controller (its root, with any context path)
        username: unifier                            # the user whose API token this is
        token: ${env:JENKINS_CI_TOKEN}               # an API token (User > Security > API Token)
        verify: /etc/ssl/certs/corp-ca.pem           # true (default), false, or a CA bundle path
        timezone: Europe/Paris                       # the controller's time zone, for timer specs
        unstable_is: failed                          # or succeeded

Credentials are secret references, resolved only when the adapter is built. The user
should be dedicated to unifier: a build it started is how a retried firing finds the
build it already started (see :mod:`unifier.adapters.jenkins.adapter`).
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from unifier.adapters.http_settings import HttpToolSettings
from unifier.secrets import SecretRef


class JenkinsSettings(HttpToolSettings):
    url: str = Field(
        description="Root URL of the Jenkins controller, including any context path "
        "(https://ci.example.com/jenkins/).",
    )
    username: str | None = Field(
        default=None,
        description="Jenkins user id that owns `token`; builds unifier starts are recorded as "
        "started by this user. Omit both for anonymous access (read-only controllers).",
    )
    token: SecretRef | None = Field(
        default=None,
        description="API token of `username`, as a secret reference (${env:NAME} or ${file:PATH}).",
    )
    timezone: str = Field(
        default="UTC",
        description="Time zone of the controller's JVM: timer specs without a TZ= line run in it, "
        "and the JSON API does not reveal it.",
    )
    unstable_is: Literal["failed", "succeeded"] = Field(
        default="failed",
        description="How an UNSTABLE build (test failures) is normalized.",
    )
    poll_interval: float = Field(default=30.0, gt=0, description="Seconds between syncs of this instance.")
    queue_wait: float = Field(
        default=30.0, ge=0,
        description="Seconds trigger() follows the new queue item to its build number before "
        "returning the run as `queue-N` (still queued: quiet period, no free executor).",
    )
    builds_per_job: int = Field(
        default=5, ge=1, le=100,
        description="Newest builds of each job read by the one sync request. A job that ran more "
        "builds than this between two syncs costs one extra request for the rest.",
    )
    folder_depth: int = Field(
        default=6, ge=1, le=20,
        description="Folder levels the sync request descends; a deeper folder costs one extra "
        "request per cycle.",
    )
    config_max_age: float = Field(
        default=86400.0, gt=0,
        description="Seconds after which a job's config.xml (its timer spec) is read again even "
        "though nothing the JSON API shows about the job changed.",
    )
    clock_skew: float = Field(
        default=5.0, ge=0,
        description="Seconds of clock difference tolerated between unifier and the controller "
        "when adopting a build started for a firing.",
    )

    @field_validator("url")
    @classmethod
    def _url_ends_with_slash(cls, value: str) -> str:
        # job paths are joined to it: https://ci/jenkins + job/x would lose the context path
        return value if value.endswith("/") else value + "/"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value

    @model_validator(mode="after")
    def _credentials_together(self) -> JenkinsSettings:
        if (self.username is None) != (self.token is None):
            raise ValueError("username and token go together: give both, or neither for anonymous access")
        return self
