"""Fixtures for the Kubernetes adapter: a kmock-served API with a stand-in job
controller (see kmock_cluster.py for what it does and does not show)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from kmock_cluster import Cluster, cronjob

from unifier.adapters.kubernetes.adapter import KubernetesAdapter
from unifier.adapters.kubernetes.settings import KubernetesSettings


@pytest.fixture
async def cluster(tmp_path) -> AsyncIterator[Cluster]:
    async with Cluster(tmp_path) as running:
        for name in ("hello", "report-fails", "slow-sleeper"):
            await running.apply(cronjob("batch", name))
        yield running


@pytest.fixture
def make_adapter(cluster: Cluster) -> Callable[..., KubernetesAdapter]:
    made: list[KubernetesAdapter] = []

    def make(**config: Any) -> KubernetesAdapter:
        config.setdefault("kubeconfig", str(cluster.kubeconfig))
        config.setdefault("watch_timeout", 0.3)
        adapter = KubernetesAdapter(f"k8s-{uuid.uuid4().hex[:6]}", KubernetesSettings(**config))
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.api.close()
