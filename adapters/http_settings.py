"""The settings every adapter that speaks HTTP to its tool shares: where the tool
answers, as whom, how TLS is checked, how long a request may take.

Each adapter's settings model subclasses :class:`HttpToolSettings` and adds its own
credentials (as secret references) and options; the YAML field names are the same for
every tool (``url``, ``username``, ``verify``, ``timeout``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class HttpToolSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Base URL of the tool's HTTP API (http or https).")
    username: str | None = Field(default=None, description="User the credentials belong to.")
    verify: bool | str = Field(
        default=True,
        description="TLS verification: true, false, or the path of a CA bundle file.",
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds before one HTTP request to the tool times out.")

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        return http_url(value)


def http_url(value: str) -> str:
    """``value`` stripped, or a ValueError saying what an acceptable URL looks like."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL: the url must be an http(s) URL with a "
                         "host, such as https://tool.example.com/")
    return value
