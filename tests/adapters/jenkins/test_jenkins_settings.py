"""The jenkins plugin registers through the entry point, and its settings refuse bad input
with a message that names the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from unifier.adapters.jenkins.adapter import JenkinsAdapter
from unifier.adapters.jenkins.jobconfig import timer_spec_of
from unifier.adapters.jenkins.settings import JenkinsSettings
from unifier.plugins import adapter_registry


def test_the_plugin_registers_the_adapter():
    spec = adapter_registry().get("jenkins")
    assert spec.settings is JenkinsSettings and spec.extra == "jenkins"
    assert spec.load() is JenkinsAdapter


def test_defaults_and_normalized_url():
    settings = JenkinsSettings(url="https://ci.example.com/jenkins", username="unifier",
                               token="${env:JENKINS_TOKEN}")
    assert settings.url == "https://ci.example.com/jenkins/"
    assert (settings.timezone, settings.unstable_is, settings.verify) == ("UTC", "failed", True)


@pytest.mark.parametrize(("config", "message"), [
    ({"url": "https://ci", "username": "u", "token": "hunter2"}, "secret reference"),
    ({"url": "https://ci", "username": "u"}, "username and token go together"),
    ({"url": "ci.example.com"}, "must be an http(s) URL"),
    ({"url": "https://ci", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"url": "https://ci", "unstable_is": "maybe"}, "unstable_is"),
    ({"url": "https://ci", "colour": "blue"}, "colour"),
])
def test_bad_settings_are_refused_with_the_reason(config, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        JenkinsSettings.model_validate(config)


def test_timer_spec_is_read_from_freestyle_and_pipeline_config():
    freestyle = """<?xml version='1.1' encoding='UTF-8'?>
<project><triggers><hudson.triggers.TimerTrigger><spec>H/15 * * * *</spec>
</hudson.triggers.TimerTrigger></triggers></project>"""
    pipeline = """<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job@1436"><properties>
<org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty><triggers>
<hudson.triggers.TimerTrigger><spec>TZ=Europe/Paris
# nightly
H 2 * * *</spec></hudson.triggers.TimerTrigger></triggers>
</org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty></properties></flow-definition>"""
    scm_only = "<project><triggers><hudson.triggers.SCMTrigger><spec>H/5 * * * *</spec>" \
               "</hudson.triggers.SCMTrigger></triggers></project>"
    assert timer_spec_of(freestyle) == "H/15 * * * *"
    assert timer_spec_of(pipeline) == "TZ=Europe/Paris\n# nightly\nH 2 * * *"
    assert timer_spec_of(scm_only) is None  # SCM polling is not a schedule of runs
