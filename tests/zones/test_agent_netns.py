"""A zone agent across a real network boundary: the control plane (``unifier run``) in one
network namespace, the agent and a real cron instance (crontab + the ``unifier exec``
wrapper) in another whose firewall drops every connection opened from outside.

Needs root, iproute2 and nftables (scripts/test.sh installs nftables); skipped, saying
why, elsewhere. The namespaces are deleted after the module.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.zones.netns import ZoneNetwork, missing_requirements
from unifier.adapters.terraform.testing import build_null_provider_mirror, bundled_test_binary, write_cli_config
from unifier.catalog import Catalog
from unifier.triggers.store import list_firings
from unifier.zones.status import zone_rows

pytestmark = pytest.mark.skipif(missing_requirements() is not None,
                                reason=missing_requirements() or "")

PORT = 8765
CRONTAB = ("# unifier: name=up\n0 3 * * * true\n# unifier: name=down\n0 4 * * * sleep 0.3; echo down-done\n"
           "# unifier: name=extract\n0 5 * * * true\n# unifier: name=report\n0 6 * * * true\n")
NETWORK_ROOT = """\
variable "extract_run" { type = string }
resource "null_resource" "network" {
  triggers = { extract_run = var.extract_run }
  provisioner "local-exec" { command = "sleep 2; echo network for ${var.extract_run}" }
}
"""
CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: plant}}
spec:
  adapter: cron
  zone: plant-7
  poll_interval: 0.5
  config: {{crontabs: [{crontab}], spool: {spool}}}
---
apiVersion: unifier/v1
kind: Trigger
metadata: {{name: down-after-up}}
spec:
  when: {{any: [{{job: cron://plant/up}}]}}
  then: [{{job: cron://plant/down}}]
  storm_guard: {{max_firings: 100000}}
---
apiVersion: unifier/v1
kind: Instance
metadata: {{name: infra}}
spec:
  adapter: terraform
  poll_interval: 0.5
  config: {{roots: [{infra}/network], default_action: apply}}
---
apiVersion: unifier/v1
kind: Trigger
metadata: {{name: network-after-extract}}
spec:
  when: {{any: [{{job: cron://plant/extract}}]}}
  then:
    - job: terraform://infra/network
      params: {{extract_run: "{{{{ upstream['cron://plant/extract'].run_id }}}}"}}
---
apiVersion: unifier/v1
kind: Trigger
metadata: {{name: report-after-network}}
spec:
  when: {{any: [{{job: terraform://infra/network}}]}}
  then: [{{job: cron://plant/report}}]
"""


def wait_for(check: Callable[[], object], what: str, timeout: float = 60.0, logs: list[Path] = ()) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{tails}")
        time.sleep(0.1)


@dataclass
class Plant:
    net: ZoneNetwork
    work: Path
    catalog: Catalog
    spool: Path
    cp_env: dict[str, str]
    zone_env: dict[str, str]
    tokens: dict[str, str]  # the agent's (role agent, zone plant-7) and a viewer's
    agent: subprocess.Popen | None = None
    others: list[subprocess.Popen] = field(default_factory=list)

    @property
    def logs(self) -> list[Path]:
        return [self.work / "control-plane.log", self.work / "agent.log"]

    @property
    def server(self) -> str:
        return f"http://{self.net.cp_address}:{PORT}"

    def start_agent(self, name: str = "plant-a", **env: str) -> subprocess.Popen:
        argv = self.net.in_zone(sys.executable, "-m", "unifier", "agent", "--server", self.server,
                                "--zone", "plant-7", "--token", self.tokens["agent"], "--name", name,
                                "--state-dir", str(self.work / f"agent-state-{name}"), "--pull-wait", "2")
        with open(self.work / "agent.log", "a") as log:
            agent = subprocess.Popen(argv, env={**self.zone_env, **env}, stdout=log, stderr=log)
        if name == "plant-a":
            self.agent = agent
        else:
            self.others.append(agent)
        return agent

    def stop_agent(self) -> None:
        if self.agent and self.agent.poll() is None:
            self.agent.terminate()
            self.agent.wait(30)

    def run_cron_job(self, job: str, command: str = "true") -> None:
        """Run a zone job the way cron runs a wrapped line: the wrapper, in the zone."""
        subprocess.run(self.net.in_zone(sys.executable, "-m", "unifier.adapters.cron.wrapper", "--job", job,
                                        "--spool", str(self.spool), "--", command),
                       env=self.zone_env, check=True, capture_output=True)

    def starts(self, job: str) -> list[dict]:
        journal = self.spool / "journal.jsonl"
        if not journal.exists():
            return []
        records = [json.loads(line) for line in journal.read_text().splitlines() if line.endswith("}")]
        return [r for r in records if r["rec"] == "start" and r["job"] == job]

    def issued_firings(self) -> list:
        return [f for f in list_firings(self.catalog, "down-after-up") if f.status == "issued"]

    def catalog_runs(self, job: str) -> list:
        return self.catalog.list_runs(job=job, limit=10_000)


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Iterator[Plant]:
    work = tmp_path_factory.mktemp("zone")
    (work / "crontab").write_text(CRONTAB)
    spool = work / "zone-spool"
    (work / "infra" / "network").mkdir(parents=True)
    (work / "infra" / "network" / "main.tf").write_text(NETWORK_ROOT)
    (work / "unifier.yaml").write_text(CONFIG.format(crontab=work / "crontab", spool=spool, infra=work / "infra"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("UNIFIER_", "TF_"))}
    (work / "empty-home").mkdir()
    mirror = build_null_provider_mirror(work / "tf-mirror")
    cp_env = {**base, "UNIFIER_HOME": str(work / "cp-home"), "UNIFIER_ZONE_ANSWER_WAIT_SECONDS": "3",
              "UNIFIER_ZONE_LEASE_SECONDS": "5", "HOME": str(work / "empty-home"),
              "UNIFIER_TERRAFORM_BINARY": str(bundled_test_binary()),
              "TF_CLI_CONFIG_FILE": str(write_cli_config(work / "terraformrc", mirror))}
    zone_env = {**base, "UNIFIER_HOME": str(work / "zone-home")}
    subprocess.run([sys.executable, "-m", "unifier", "apply", "-f", str(work / "unifier.yaml")],
                   env=cp_env, check=True, capture_output=True)
    # a control plane listening beyond loopback requires authentication: the agent's token
    # serves its zone and nothing else
    tokens = {}
    for name, role in (("agent", ["agent", "--zone", "plant-7"]), ("viewer", ["viewer"])):
        made = subprocess.run([sys.executable, "-m", "unifier", "token", "create", f"plant-{name}", "--role", *role,
                               "-o", "json"], env=cp_env, check=True, capture_output=True, text=True)
        tokens[name] = json.loads(made.stdout)["token"]
    net = ZoneNetwork.create()
    control_plane = None
    catalog = Catalog.open(f"sqlite:///{work / 'cp-home' / 'unifier.db'}")
    plant = Plant(net=net, work=work, catalog=catalog, spool=spool, cp_env=cp_env, zone_env=zone_env, tokens=tokens)
    try:
        with open(work / "control-plane.log", "w") as log:
            control_plane = subprocess.Popen(
                net.in_cp(sys.executable, "-m", "unifier", "run", "--interval", "0.2",
                          "--listen", f"{net.cp_address}:{PORT}"),
                env=cp_env, stdout=log, stderr=log)
        plant.start_agent()
        wait_for(lambda: len(catalog.list_jobs("plant")) == 4, "the agent to report the zone's jobs",
                 logs=plant.logs)
        yield plant
    finally:
        plant.stop_agent()
        for other in plant.others:
            other.kill()
            other.wait(30)
        if control_plane is not None:
            control_plane.terminate()
            control_plane.wait(30)
        catalog.close()
        net.close()


def test_the_control_plane_cannot_connect_into_the_zone_only_the_agent_connects_out(plant):
    net = plant.net
    listener = subprocess.Popen(net.in_zone(
        sys.executable, "-c", "import socket, time; s = socket.socket(); "
        f"s.bind(('{net.zone_address}', 9999)); s.listen(); time.sleep(30)"))
    try:
        time.sleep(0.5)
        probe = (f"import socket, sys; socket.create_connection(('{net.zone_address}', 9999), timeout=2); "
                 "print('connected')")
        inside = subprocess.run(net.in_zone(sys.executable, "-c", probe), capture_output=True, text=True)
        assert inside.returncode == 0, inside.stderr  # something does listen in the zone
        from_cp = subprocess.run(net.in_cp(sys.executable, "-c", probe), capture_output=True, text=True)
        assert from_cp.returncode != 0 and "timed out" in from_cp.stderr  # dropped by the zone's firewall
    finally:
        listener.kill()
        listener.wait()
    outward = subprocess.run(net.in_zone(sys.executable, "-c", (
        f"import httpx; print(httpx.get('{plant.server}/api/zones', "
        f"headers={{'Authorization': 'Bearer {plant.tokens['viewer']}'}}).status_code)")),
        capture_output=True, text=True)
    assert outward.stdout.strip() == "200", outward.stderr
    zone = zone_rows(plant.catalog, lease_seconds=5)[0]
    assert (zone.zone, zone.agent, zone.instances) == ("plant-7", "plant-a", ["plant"])


def test_a_trigger_for_a_zone_job_crosses_the_link_and_runs_once(plant):
    before = len(plant.issued_firings())
    plant.run_cron_job("cron://plant/up")
    firing = wait_for(lambda: len(plant.issued_firings()) > before and plant.issued_firings()[0],
                      "the firing to be issued through the agent", logs=plant.logs)
    firing_id = firing.actions[0].firing_id
    time.sleep(2)  # time enough for a second run, were one started
    assert len([s for s in plant.starts("cron://plant/down") if s["firing_id"] == firing_id]) == 1
    run_id = firing.actions[0].run_id
    run = wait_for(lambda: [r for r in plant.catalog_runs("cron://plant/down")
                            if r.run_id == run_id and r.state.terminal], "the downstream run to end")[0]
    assert (run.cause.trigger, run.cause.firing_id) == ("down-after-up", firing.id)
    assert run.state.value == "succeeded"
    # its log lives in the zone: `unifier logs` on the control plane's side asks the agent
    # a log fetch is one pull of the agent away: give it more than the loop's 3 s answer wait
    logs = subprocess.run([sys.executable, "-m", "unifier", "logs", "cron://plant/down", run_id],
                          env={**plant.cp_env, "UNIFIER_ZONE_ANSWER_WAIT_SECONDS": "30"},
                          capture_output=True, text=True)
    assert logs.returncode == 0, logs.stderr
    assert "down-done" in logs.stdout


def test_runs_observed_while_cut_off_all_reach_the_catalog_and_each_fires_once(plant):
    up_before = {r.run_id for r in plant.catalog_runs("cron://plant/up")}
    firings_before = len(plant.issued_firings())
    plant.net.cut()
    try:
        time.sleep(1.5)  # the agent's connections notice
        for _ in range(5):
            plant.run_cron_job("cron://plant/up")
        time.sleep(3)  # the agent observes them (poll 0.5 s) and queues them on disk
        up_ids = {s["run_id"] for s in plant.starts("cron://plant/up")} - up_before
        assert len(up_ids) >= 5
        # nothing crossed: the control plane has not seen them
        assert not up_ids & {r.run_id for r in plant.catalog_runs("cron://plant/up")}
    finally:
        plant.net.restore()
    wait_for(lambda: up_ids <= {r.run_id for r in plant.catalog_runs("cron://plant/up")},
             "every run observed while cut off to reach the catalog", logs=plant.logs)
    wait_for(lambda: len(plant.issued_firings()) >= firings_before + 5,
             "a firing per upstream run", logs=plant.logs)
    time.sleep(2)
    fired = [f for f in plant.issued_firings() if f.upstream_runs[0].run_id in up_ids]
    assert len(fired) == 5
    for firing in fired:
        starts = [s for s in plant.starts("cron://plant/down") if s["firing_id"] == firing.actions[0].firing_id]
        assert len(starts) == 1, firing.id
    events = [e for _id, e in plant.catalog.list_events(job="cron://plant/up", limit=100_000)
              if e.run_id in up_ids and e.state.value == "succeeded"]
    assert len(events) == 5  # each run's end recorded once, none doubled by resending


def test_a_chain_crosses_the_boundary_twice_and_survives_a_cut_in_its_middle(plant):
    """zone cron job -> control-plane Terraform root -> zone cron job; the link goes down
    while the Terraform apply runs and comes back after it ended."""
    plant.run_cron_job("cron://plant/extract")
    extract = wait_for(lambda: plant.starts("cron://plant/extract"), "extract to run")[0]
    apply_run = wait_for(lambda: [r for r in plant.catalog_runs("terraform://infra/network")
                                  if r.parameters.get("extract_run") == extract["run_id"]],
                         "the Terraform apply to start on the control plane", logs=plant.logs)[0]
    plant.net.cut()
    try:
        wait_for(lambda: any(r.state.terminal for r in plant.catalog_runs("terraform://infra/network")
                             if r.run_id == apply_run.run_id), "the apply to end while cut off",
                 logs=plant.logs)
        time.sleep(4)  # the firing for report is decided; the zone cannot be reached
        assert plant.starts("cron://plant/report") == []
        waiting = list_firings(plant.catalog, "report-after-network")
        assert [f.status for f in waiting] == ["pending"]
        assert zone_rows(plant.catalog, lease_seconds=5)[0].backlog >= 1  # shown as waiting
    finally:
        plant.net.restore()
    wait_for(lambda: plant.starts("cron://plant/report"), "report to run after the link is back",
             timeout=90, logs=plant.logs)
    wait_for(lambda: [f.status for f in list_firings(plant.catalog, "report-after-network")] == ["issued"],
             "the report firing to be issued", logs=plant.logs)
    time.sleep(2)
    assert len(plant.starts("cron://plant/report")) == 1
    assert len(plant.starts("cron://plant/extract")) == 1
    applies = [r for r in plant.catalog_runs("terraform://infra/network") if r.cause.trigger]
    assert len(applies) == 1 and applies[0].state.value == "succeeded"


def test_an_agent_killed_mid_trigger_and_restarted_does_not_double_the_run(plant):
    plant.stop_agent()
    killed = plant.start_agent(UNIFIER_FAULT="agent-after-trigger")
    before = {f.id for f in list_firings(plant.catalog, "down-after-up")}
    time.sleep(1.0)
    plant.run_cron_job("cron://plant/up")
    wait_for(lambda: killed.poll() is not None, "the agent to kill itself after starting the run",
             logs=plant.logs)
    assert killed.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL)
    firing = next(f for f in list_firings(plant.catalog, "down-after-up") if f.id not in before)
    firing_id = firing.actions[0].firing_id
    assert len([s for s in plant.starts("cron://plant/down") if s["firing_id"] == firing_id]) == 1
    assert firing.status == "pending"  # the control plane never got the answer
    plant.start_agent()
    wait_for(lambda: next(f for f in list_firings(plant.catalog, "down-after-up")
                          if f.id == firing.id).status == "issued",
             "the firing to be issued after the restart", logs=plant.logs)
    time.sleep(2)
    assert len([s for s in plant.starts("cron://plant/down") if s["firing_id"] == firing_id]) == 1
    issued = next(f for f in list_firings(plant.catalog, "down-after-up") if f.id == firing.id)
    assert [s["run_id"] for s in plant.starts("cron://plant/down")
            if s["firing_id"] == firing_id] == [issued.actions[0].run_id]
    assert len([r for r in plant.catalog_runs("cron://plant/down") if r.cause.firing_id == firing.id]) == 1


def test_a_standby_agent_takes_over_when_the_active_one_dies(plant):
    standby = plant.start_agent("plant-b")
    wait_for(lambda: zone_rows(plant.catalog, lease_seconds=5)[0].standby == ["plant-b"],
             "the second agent to call in as a standby", logs=plant.logs)
    assert zone_rows(plant.catalog, lease_seconds=5)[0].agent == "plant-a"
    plant.agent.kill()  # kill -9: no goodbye
    plant.agent.wait(30)
    wait_for(lambda: zone_rows(plant.catalog, lease_seconds=5)[0].agent == "plant-b",
             "plant-b to take the lease over (5 s of silence)", timeout=30, logs=plant.logs)
    before = {f.id for f in list_firings(plant.catalog, "down-after-up")}
    plant.run_cron_job("cron://plant/up")  # observed by plant-b now
    firing = wait_for(lambda: next((f for f in plant.issued_firings() if f.id not in before), None),
                      "the firing to be issued through plant-b", logs=plant.logs)
    time.sleep(2)
    assert len([s for s in plant.starts("cron://plant/down")
                if s["firing_id"] == firing.actions[0].firing_id]) == 1
    assert standby.poll() is None
