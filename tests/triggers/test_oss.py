"""OSS triggers on the built-in object storage: event shape, event/prefix/suffix filters, bursts."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import s3_client
from tests.triggers.conftest import APPENDER


def arn(bucket: str) -> str:
    return f"acs:oss:local:0000000000000000:{bucket}"


def test_events_are_filtered_by_name_prefix_and_suffix(tclient, tservice, deploy, obs, s3, bucket) -> None:
    fn = deploy(APPENDER, log=obs.path("created"))
    gone = deploy(APPENDER, log=obs.path("removed"))
    config = {"events": ["oss:ObjectCreated:*"], "filter": {"key": {"prefix": "in/", "suffix": ".jpg"}}}
    tclient.create_trigger(tservice, fn, "up", "oss", config, arn(bucket), None)
    removed = {"events": ["oss:ObjectRemoved:DeleteObject"], "filter": {"key": {"prefix": "", "suffix": ""}}}
    tclient.create_trigger(tservice, gone, "rm", "oss", removed, arn(bucket), None)
    for key in ("in/a.jpg", "in/b.png", "out/c.jpg", "in/sub/d.jpg"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"12345")
    s3.copy_object(Bucket=bucket, Key="in/copy.jpg", CopySource={"Bucket": bucket, "Key": "in/a.jpg"})
    s3.delete_object(Bucket=bucket, Key="out/c.jpg")
    obs.wait_lines("created", 3)
    obs.wait_lines("removed", 1)
    created = [json.loads(line)["events"][0] for line in obs.lines("created")]
    assert sorted((e["oss"]["object"]["key"], e["eventName"]) for e in created) == [
        ("in/a.jpg", "ObjectCreated:PutObject"),
        ("in/copy.jpg", "ObjectCreated:CopyObject"),
        ("in/sub/d.jpg", "ObjectCreated:PutObject"),
    ]
    event = next(e for e in created if e["oss"]["object"]["key"] == "in/a.jpg")
    assert event["eventSource"] == "acs:oss" and event["eventVersion"] == "1.0" and event["eventTime"].endswith("Z")
    assert event["oss"]["bucket"]["name"] == bucket and event["oss"]["bucket"]["arn"].endswith(":" + bucket)
    assert event["oss"]["object"]["size"] == 5 and event["oss"]["object"]["eTag"] == "827ccb0eea8a706c4c34a16891f84e7b"
    assert event["oss"]["ruleId"] == "up" and event["responseElements"]["requestId"]
    (deletion,) = [json.loads(line)["events"][0] for line in obs.lines("removed")]
    assert (deletion["eventName"], deletion["oss"]["object"]["key"]) == ("ObjectRemoved:DeleteObject", "out/c.jpg")


def test_a_burst_of_500_uploads_gives_500_invocations(tclient, tservice, deploy, obs, s3_server, bucket) -> None:
    s3 = s3_client(s3_server, max_pool_connections=32)
    fn = deploy(APPENDER, log=obs.path("runs"), max_instances=4)
    tclient.create_trigger(tservice, fn, "burst", "oss", {"events": ["oss:ObjectCreated:PutObject"]}, arn(bucket), None)
    keys = [f"burst/{i:04d}" for i in range(500)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))
    obs.wait_lines("runs", 500, timeout=60)
    seen = [json.loads(line)["events"][0]["oss"]["object"]["key"] for line in obs.lines("runs")]
    assert sorted(seen) == keys  # every upload invoked once, none lost
