"""The Kubernetes adapter passes the shared conformance suite: against kmock with a
stand-in job controller, and against a real cluster when KUBECONFIG names one."""

from __future__ import annotations

import os
import uuid

import pytest

from unifier.adapters.kubernetes.adapter import KubernetesAdapter
from unifier.adapters.kubernetes.settings import KubernetesSettings
from unifier.testing.conformance import AdapterConformance


class TestKubernetesConformance(AdapterConformance):
    run_timeout = 15

    @pytest.fixture
    def adapter(self, make_adapter):
        return make_adapter()

    @pytest.fixture
    def succeeding_job(self):
        return "batch/hello"

    @pytest.fixture
    def failing_job(self):
        return "batch/report-fails"

    @pytest.fixture
    def slow_job(self):
        return "batch/slow-sleeper"


REAL = os.environ.get("KUBECONFIG")


@pytest.mark.real_cluster
@pytest.mark.skipif(not REAL, reason="KUBECONFIG is not set: no real cluster to test against")
class TestRealClusterConformance(AdapterConformance):
    """Against the cluster KUBECONFIG names. It needs, in namespace
    $UNIFIER_TEST_NAMESPACE (default "default"), three CronJobs the test creates:
    busybox jobs that succeed, fail, and sleep 60 s (removed afterwards)."""

    run_timeout = 180

    @pytest.fixture(scope="class")
    def namespace(self):
        return os.environ.get("UNIFIER_TEST_NAMESPACE", "default")

    @pytest.fixture(scope="class")
    def cronjobs(self, namespace):
        from kubernetes import client, config

        api = client.BatchV1Api(config.new_client_from_config())
        suffix = uuid.uuid4().hex[:6]
        names = {"ok": f"unifier-ok-{suffix}", "fail": f"unifier-fail-{suffix}",
                 "slow": f"unifier-slow-{suffix}"}
        scripts = {"ok": "echo greeting=$greeting", "fail": "echo failing; exit 1", "slow": "sleep 60"}
        for key, name in names.items():
            api.create_namespaced_cron_job(namespace, {
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"schedule": "0 0 1 1 *", "suspend": True, "jobTemplate": {"spec": {
                    "backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
                        {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", scripts[key]]}]}}}}},
            })
        yield names
        for name in names.values():
            api.delete_namespaced_cron_job(name, namespace, propagation_policy="Background")

    @pytest.fixture
    def adapter(self, namespace):
        return KubernetesAdapter("real", KubernetesSettings(namespaces=[namespace], watch_timeout=2))

    @pytest.fixture
    def succeeding_job(self, namespace, cronjobs):
        return f"{namespace}/{cronjobs['ok']}"

    @pytest.fixture
    def failing_job(self, namespace, cronjobs):
        return f"{namespace}/{cronjobs['fail']}"

    @pytest.fixture
    def slow_job(self, namespace, cronjobs):
        return f"{namespace}/{cronjobs['slow']}"

