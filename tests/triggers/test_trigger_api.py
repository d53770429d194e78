"""Trigger CRUD through aliyun-fc2: shapes, qualifiers, validation (clear 400s), paging, etags."""

from __future__ import annotations

import fc2
import pytest

from tests.api.test_services import fc_error
from tests.triggers.conftest import APPENDER

TIMER = {"cronExpression": "@every 5m", "enable": False, "payload": "p"}


def test_create_get_update_list_delete(tclient: fc2.Client, tservice, deploy, obs) -> None:
    fn = deploy(APPENDER, log=obs.path("runs"))
    created = tclient.create_trigger(tservice, fn, "tick", "timer", TIMER, None, None, description="d")
    body = created.data
    assert created.headers["etag"]
    assert body["triggerName"] == "tick" and body["triggerType"] == "timer" and body["qualifier"] == "LATEST"
    assert body["triggerConfig"] == TIMER and body["description"] == "d"
    assert body["triggerId"] and body["createdTime"] and body["lastModifiedTime"]
    got = tclient.get_trigger(tservice, fn, "tick").data
    assert got == body

    updated = tclient.update_trigger(tservice, fn, "tick", triggerConfig={"cronExpression": "0 0 4 * * *"},
                                     description="new").data  # fmt: skip
    assert updated["triggerConfig"] == {"cronExpression": "0 0 4 * * *", "enable": False, "payload": "p"}
    assert updated["description"] == "new"

    http = tclient.create_trigger(tservice, fn, "web", "http", {"authType": "anonymous", "methods": ["GET"]},
                                  None, None).data  # fmt: skip
    assert http["urlInternet"].endswith(f"/2016-08-15/proxy/{tservice}.LATEST/{fn}/")
    page = tclient.list_triggers(tservice, fn, limit=1).data
    assert [t["triggerName"] for t in page["triggers"]] == ["tick"] and page["nextToken"] == "web"
    rest = tclient.list_triggers(tservice, fn, nextToken=page["nextToken"]).data
    assert [t["triggerName"] for t in rest["triggers"]] == ["web"] and "nextToken" not in rest
    assert [t["triggerName"] for t in tclient.list_triggers(tservice, fn, prefix="w").data["triggers"]] == ["web"]

    tclient.delete_trigger(tservice, fn, "web")
    assert fc_error(tclient.get_trigger, tservice, fn, "web").status_code == 404
    assert fc_error(tclient.delete_trigger, tservice, fn, "web").err_code == "TriggerNotFound"
    duplicate = fc_error(tclient.create_trigger, tservice, fn, "tick", "timer", TIMER, None, None)
    assert (duplicate.status_code, duplicate.err_code) == (409, "TriggerAlreadyExists")
    stale = fc_error(tclient.update_trigger, tservice, fn, "tick", description="x", headers={"if-match": "nope"})
    assert stale.status_code == 412


def test_qualifier_must_exist_and_function_must_exist(tclient: fc2.Client, tservice, deploy, obs) -> None:
    fn = deploy(APPENDER, log=obs.path("runs"))
    missing = fc_error(tclient.create_trigger, tservice, "nofn", "t", "timer", TIMER, None, None)
    assert (missing.status_code, missing.err_code) == (404, "FunctionNotFound")
    alias = fc_error(tclient.create_trigger, tservice, fn, "t", "timer", TIMER, None, None, qualifier="prod")
    assert (alias.status_code, alias.err_code) == (404, "AliasNotFound")
    version = tclient.publish_version(tservice).data["versionId"]
    tclient.create_alias(tservice, "prod", version)
    made = tclient.create_trigger(tservice, fn, "t", "timer", TIMER, None, None, qualifier="prod").data
    assert made["qualifier"] == "prod"
    tclient.delete_trigger(tservice, fn, "t")
    tclient.delete_alias(tservice, "prod")


@pytest.mark.parametrize(
    ("kind", "config", "arn", "words"),
    [
        ("log", {}, None, "not supported"),
        ("bogus", {}, None, "triggerType"),
        ("timer", {"cronExpression": "61 * * * * *"}, None, "cronExpression"),
        ("timer", {"cronExpression": "@every 0s"}, None, "interval"),
        ("timer", {}, None, "cronExpression is required"),
        ("timer", {"cronExpression": "@every 1m", "enable": "yes"}, None, "enable"),
        ("http", {"authType": "open", "methods": ["GET"]}, None, "authType"),
        ("http", {"authType": "anonymous", "methods": []}, None, "methods"),
        ("http", {"authType": "anonymous", "methods": ["FETCH"]}, None, "FETCH"),
        ("oss", {"events": ["oss:ObjectCreated:*"]}, "bucket-only", "sourceArn"),
        ("oss", {"events": ["oss:Nope"]}, "acs:oss:r:u:bkt", "oss:Nope"),
        ("oss", {"events": []}, "acs:oss:r:u:bkt", "events"),
        ("rabbitmq", {"brokerUrl": "http://x", "queue": "q"}, None, "brokerUrl"),
        ("redis", {"brokerUrl": "redis://127.0.0.1:6379/0"}, None, "stream is required"),
        ("nats", {"brokerUrl": "nats://127.0.0.1:4222", "stream": "S", "batchSize": 0}, None, "batchSize"),
    ],
)
def test_invalid_configs_are_400s_naming_the_field(tclient, tservice, deploy, obs, kind, config, arn, words) -> None:
    fn = deploy(APPENDER, log=obs.path("runs"))
    error = fc_error(tclient.create_trigger, tservice, fn, "bad", kind, config, arn, None)
    assert (error.status_code, error.err_code) == (400, "InvalidArgument")
    assert words in str(error.message)


def test_oss_and_broker_shapes_are_normalised(tclient: fc2.Client, tservice, deploy, obs) -> None:
    fn = deploy(APPENDER, log=obs.path("runs"))
    oss = tclient.create_trigger(tservice, fn, "up", "oss", {"events": ["oss:ObjectCreated:*"],
                                                             "filter": {"key": {"prefix": "in/"}}},
                                 "acs:oss:local:0:bkt", None).data  # fmt: skip
    assert oss["triggerConfig"] == {
        "events": ["oss:ObjectCreated:*"],
        "filter": {"key": {"prefix": "in/", "suffix": ""}},
    }
    assert oss["sourceArn"] == "acs:oss:local:0:bkt"
    redis = tclient.create_trigger(tservice, fn, "rs", "redis", {"brokerUrl": "redis://127.0.0.1:1/0", "stream": "s",
                                                                 "enable": False}, None, None).data  # fmt: skip
    assert redis["triggerConfig"] == {"brokerUrl": "redis://127.0.0.1:1/0", "stream": "s", "group": "",
                                      "batchSize": 1, "batchWindow": 0.0, "enable": False}  # fmt: skip
    assert redis["status"] == "Stopped" and redis["lastError"] == ""


def test_deleting_a_function_deletes_its_triggers(tclient: fc2.Client, tservice, deploy, obs) -> None:
    fn = deploy(APPENDER, log=obs.path("gone"))
    tclient.create_trigger(tservice, fn, "tick", "timer", TIMER, None, None)
    tclient.delete_function(tservice, fn)
    deploy(APPENDER, name=fn, log=obs.path("gone"))
    assert tclient.list_triggers(tservice, fn).data["triggers"] == []
