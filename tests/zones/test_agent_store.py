"""The agent's on-disk state: what survives a restart, what is executed once."""

from __future__ import annotations

from unifier.zones.agent.store import AgentStore


def item(work_id: int, attempt: int = 1) -> dict:
    return {"id": work_id, "attempt": attempt, "kind": "trigger", "job": "cron://plant/backup",
            "payload": {"native_id": "backup", "firing_id": "f1"}}


def test_work_delivered_twice_is_executed_once_and_a_new_attempt_again(tmp_path):
    store = AgentStore(tmp_path)
    assert store.receive([item(1)]) == [item(1)]
    assert store.receive([item(1)]) == []  # delivered again: already on disk
    assert store.unfinished() == [item(1)]  # a restart now would execute it
    store.answer(1, 1, {"kind": "result", "work_id": 1, "ok": True})
    assert store.unfinished() == []
    assert store.receive([item(1)]) == []  # answered: never executed again
    assert store.receive([item(1, attempt=2)]) == [item(1, attempt=2)]  # retried by the control plane


def test_outbox_numbers_only_grow_and_survive_a_restart(tmp_path):
    store = AgentStore(tmp_path)
    agent_id = store.agent_id()
    store.queue([{"kind": "sync", "n": 1}, {"kind": "sync", "n": 2}])
    assert [m["seq"] for m in store.pending(10)] == [1, 2]
    store.delivered(2)
    store.queue([{"kind": "sync", "n": 3}], instance="plant", watermark="w3")
    store.close()
    again = AgentStore(tmp_path)
    assert again.agent_id() == agent_id
    assert [(m["seq"], m["n"]) for m in again.pending(10)] == [(3, 3)]  # 1 and 2 are never reused
    assert again.watermark("plant") == ("w3", None)
    assert again.backlog() == 1
