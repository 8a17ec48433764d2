"""The rules that recognise the run an earlier attempt of a firing started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from unifier.adapters.jenkins.adoption import Attempt, started_by

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
MS = int(NOW.timestamp() * 1000)


def build(number, *, user="unifier", params=None, at=MS + 1000, queue_id=None):
    return {"_class": "hudson.model.FreeStyleBuild", "number": number, "timestamp": at,
            "queueId": queue_id or number + 100,
            "actions": [{"_class": "hudson.model.ParametersAction",
                         "parameters": [{"name": k, "value": v} for k, v in (params or {}).items()]},
                        {"_class": "hudson.model.CauseAction", "causes": [
                            {"_class": "hudson.model.Cause$UserIdCause", "userId": user}]}]}


def attempt(sent, firing="f-1", others=()):
    return Attempt("team/job", sent, firing, NOW - timedelta(seconds=5), "Unifier", set(others))


def test_user_ids_compare_like_jenkins_default_strategy():
    assert started_by([{"_class": "hudson.model.Cause$UserIdCause", "userId": "UNIFIER"}], "unifier")
    assert not started_by([{"_class": "hudson.triggers.TimerTrigger$TimerTriggerCause"}], "unifier")
    assert started_by([{"_class": "hudson.model.Cause$UserIdCause", "userId": None}], None)  # anonymous


def test_fallback_takes_the_oldest_matching_build_after_the_firing():
    builds = [build(3, params={"a": "1"}), build(2, params={"a": "1"}), build(1, params={"a": "1"}, at=MS - 60_000)]
    assert attempt({"a": "1"}).earliest(builds, []) == ("build", builds[1])


def test_fallback_ignores_other_users_other_values_and_claimed_builds():
    builds = [build(1, user="alice", params={"a": "1"}), build(2, params={"a": "2"}), build(3, params={"a": "1"})]
    assert attempt({"a": "1"}, others={"3"}).earliest(builds, []) is None
    assert attempt({"a": "true"}).earliest([build(4, params={"a": True})], []) is not None  # booleans


def test_firing_parameter_matches_exactly_whatever_the_time_or_user():
    old = build(1, user="bob", params={"UNIFIER_FIRING_ID": "f-1"}, at=MS - 86_400_000)
    other = build(2, params={"UNIFIER_FIRING_ID": "f-2"})
    assert attempt({"UNIFIER_FIRING_ID": "f-1"}).earliest([other, old], []) == ("build", old)
    assert attempt({"UNIFIER_FIRING_ID": "f-3"}, firing="f-3").earliest([other, old], []) is None


def test_queue_items_of_the_job_match_after_builds():
    item = {"_class": "hudson.model.Queue$WaitingItem", "id": 7, "inQueueSince": MS + 500,
            "task": {"name": "job", "url": "https://ci.example.com/job/team/job/job/"},
            "actions": build(0, params={"a": "1"})["actions"]}
    elsewhere = {**item, "id": 6, "task": {"url": "https://ci.example.com/job/other/job/job/"}}
    assert attempt({"a": "1"}).earliest([], [elsewhere, item]) == ("queue", item)
