"""The airflow instance's settings: what a user may write, and the errors for what not.
(No server needed.)"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from unifier.adapters.airflow.settings import AirflowSettings
from unifier.plugins import adapter_registry


def test_the_plugin_registers_the_airflow_kind_with_its_settings():
    spec = adapter_registry().get("airflow")
    assert spec.settings is AirflowSettings
    assert spec.extra == "airflow"
    assert spec.load().kind == "airflow"


def test_username_and_password_reference():
    settings = AirflowSettings(url="https://airflow.example.com/api/v2/", username="unifier",
                               password="${env:AIRFLOW_PASSWORD}")
    assert settings.url == "https://airflow.example.com"
    assert "AIRFLOW_PASSWORD" not in repr(settings)


@pytest.mark.parametrize(("config", "complaint"), [
    ({"url": "https://a", "username": "u", "password": "hunter2"}, "secret reference"),
    ({"url": "https://a", "token": "abc"}, "secret reference"),
    ({"url": "https://a"}, "credentials missing"),
    ({"url": "https://a", "username": "u"}, "username and password go together"),
    ({"url": "https://a", "username": "u", "password": "${env:P}", "token": "${env:T}"}, "not both"),
    ({"url": "airflow.example.com", "token": "${env:T}"}, r"not an http\(s\) URL"),
    ({"url": "https://a", "token": "${env:T}", "timeout": 0}, "greater than 0"),
    ({"url": "https://a", "token": "${env:T}", "pasword": "${env:P}"}, "Extra inputs are not permitted"),
])
def test_bad_settings_are_refused_with_the_reason(config, complaint):
    with pytest.raises(ValidationError, match=complaint):
        AirflowSettings.model_validate(config)


def test_every_setting_is_documented():
    schema = AirflowSettings.model_json_schema()
    undocumented = [name for name, prop in schema["properties"].items() if not prop.get("description")]
    assert undocumented == []
