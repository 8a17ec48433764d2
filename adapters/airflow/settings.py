"""Settings of an airflow instance (``spec.config`` of an ``adapter: airflow`` Instance).

    spec:
      adapter: airflow
      config:
        url: https://airflow.example.com          # the API server (what serves /api/v2, or /api/v1)
        username: unifier
        password: ${env:AIRFLOW_PROD_PASSWORD}    # exchanged for a token at /auth/token
        # or, instead of username/password:
        # token: ${file:/run/secrets/airflow-token}
        verify: true                              # or a CA bundle path, or false
        timeout: 10
      poll_interval: 30s                          # or config.poll_interval (the instance's wins)

Credentials are secret references, resolved only when the adapter is built.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from unifier.adapters.http_settings import HttpToolSettings, http_url
from unifier.duration import Duration
from unifier.secrets import SecretRef


class AirflowSettings(HttpToolSettings):
    url: str = Field(
        description="Base URL of the Airflow API server, e.g. https://airflow.example.com "
        "(without /api/v2).",
    )
    username: str | None = Field(
        default=None,
        description="User name exchanged, with `password`, for a bearer token at POST /auth/token "
        "(Airflow 3), or sent as HTTP basic auth (Airflow 2).",
    )
    password: SecretRef | None = Field(
        default=None,
        description="Password of `username`, as a secret reference (${env:NAME} or ${file:PATH}).",
    )
    token: SecretRef | None = Field(
        default=None,
        description="A static bearer token (instead of username/password), as a secret reference.",
    )
    api_version: Literal["auto", "v2", "v1"] = Field(
        default="auto",
        description="REST API to speak: v2 (Airflow 3), v1 (Airflow 2, basic auth), or auto "
        "(asked of the server once).",
    )
    timeout: float = Field(default=10.0, gt=0, description="Seconds before a request to Airflow times out.")
    poll_interval: Duration | None = Field(
        default=None,
        description="How often the control loop polls this Airflow (30s, 5m, or seconds); "
                    "the same as the instance's spec.poll_interval, which wins when both are set. "
                    "With the listener plugin pushing, polling is only the fallback.")
    unpause_on_trigger: bool = Field(
        default=False,
        description="When a trigger targets a paused DAG, unpause it instead of refusing the trigger.",
    )
    watermark_overlap: float = Field(
        default=10.0, ge=0,
        description="Seconds each runs query reaches back before the previous query's time, "
        "covering clock skew and transactions that commit late. Re-seen runs are de-duplicated.",
    )
    history_days: float | None = Field(
        default=7.0, gt=0,
        description="On the first sync, import runs changed in the last N days (null: all runs ever).",
    )
    ui_url: str | None = Field(
        default=None,
        description="Base URL of Airflow's web UI for links, when it differs from `url`.",
    )

    @field_validator("url", "ui_url")
    @classmethod
    def _url_without_api_prefix(cls, value: str | None) -> str | None:
        # paths are written from the root: "https://a/api/v2/" and "https://a" are one server
        if value is None:
            return None
        return http_url(value).rstrip("/").removesuffix("/api/v2")

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> AirflowSettings:
        basic = self.username is not None or self.password is not None
        if basic and self.token is not None:
            raise ValueError("give either username and password, or token, not both")
        if basic and (self.username is None or self.password is None):
            raise ValueError("username and password go together: give both")
        if not basic and self.token is None:
            raise ValueError("credentials missing: give username and password, or token")
        return self
