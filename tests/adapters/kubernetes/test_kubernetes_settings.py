"""The kubernetes plugin registers without the client imported, and its settings refuse
what a cluster would refuse, naming the field."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from unifier.adapters.kubernetes import objects
from unifier.adapters.kubernetes.selectors import parse
from unifier.adapters.kubernetes.settings import KubernetesSettings
from unifier.plugins import get_plugin_manager


def test_plugin_registers_through_the_entry_point():
    spec = get_plugin_manager().adapters.get("kubernetes")
    assert (spec.settings, spec.extra) == (KubernetesSettings, "kubernetes")
    assert spec.load().kind == "kubernetes"


def test_the_plugin_module_does_not_import_the_client():
    code = ("import sys, unifier.adapters.kubernetes, unifier.adapters.kubernetes.settings; "
            "print('kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("config, field", [
    ({"in_cluster": True, "kubeconfig": "/k"}, "in_cluster"),
    ({"job_selector": "team in data"}, "job_selector"),
    ({"namespace": "typo"}, "namespace"),
    ({"cancel_propagation": "Orphan"}, "cancel_propagation"),
])
def test_bad_settings_are_refused_by_name(config, field):
    with pytest.raises(ValidationError, match=field):
        KubernetesSettings(**config)


def test_every_setting_is_described():
    for name, field in KubernetesSettings.model_fields.items():
        assert field.description, name


@pytest.mark.parametrize("selector, labels, matches", [
    ("team=data", {"team": "data"}, True),
    ("team==data", {"team": "web"}, False),
    ("team!=web", {}, True),
    ("tier in (batch, etl)", {"tier": "etl"}, True),
    ("tier notin (batch)", {"tier": "batch"}, False),
    ("team,!legacy", {"team": "x"}, True),
    ("team,!legacy", {"team": "x", "legacy": "1"}, False),
    ("app.kubernetes.io/name=report", {"app.kubernetes.io/name": "report"}, True),
])
def test_label_selectors_match_as_the_api_server_does(selector, labels, matches):
    assert parse(selector).matches(labels) is matches


@pytest.mark.parametrize("cronjob", ["a", "nightly.report", "x" * 52])
def test_job_names_for_firings_are_valid_and_deterministic(cronjob):
    name = objects.job_name_for_firing(cronjob, "firing-1")
    assert name == objects.job_name_for_firing(cronjob, "firing-1")
    assert name != objects.job_name_for_firing(cronjob, "firing-2")
    assert objects.DNS_LABEL.match(name) and len(name) <= 63
    assert name.startswith(cronjob[:20].replace(".", "-"))
