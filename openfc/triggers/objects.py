"""OSS triggers: match object events (event name, key prefix/suffix) and invoke asynchronously.

An event is handed to the durable queue before the storage call that caused it returns, so a burst
of uploads loses nothing; a store failure fails the upload (the client retries) instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from openfc.errors import NotFound
from openfc.invoke import Invocation
from openfc.objects import ObjectEvent
from openfc.store import JSON, Doc
from openfc.triggers.config import oss_bucket
from openfc.triggers.registry import split_key

log = logging.getLogger("openfc.triggers.oss")

Submit = Callable[[Invocation], Awaitable[object]]


def matches(config: JSON, event: ObjectEvent) -> bool:
    name = "oss:" + event.name
    kind = name.rsplit(":", 1)[0]
    if not any(e == name or e == kind + ":*" for e in config["events"]):
        return False
    key = config["filter"]["key"]
    return event.key.startswith(key["prefix"]) and event.key.endswith(key["suffix"])


def oss_event(event: ObjectEvent, trigger: str, *, region: str, account_id: str) -> JSON:
    """FC's OSS event payload (FC_API.md §7) for one object event."""
    return {
        "events": [
            {
                "eventName": event.name,
                "eventSource": "acs:oss",
                "eventTime": event.time,
                "eventVersion": "1.0",
                "oss": {
                    "bucket": {
                        "arn": f"acs:oss:{region}:{account_id}:{event.bucket}",
                        "name": event.bucket,
                        "ownerIdentity": account_id,
                    },
                    "object": {
                        "deltaSize": event.delta_size,
                        "eTag": event.etag,
                        "key": event.key,
                        "size": event.size,
                    },
                    "ossSchemaVersion": "1.0",
                    "ruleId": trigger,
                },
                "region": region,
                "requestParameters": {"sourceIPAddress": event.source_ip},
                "responseElements": {"requestId": event.request_id},
                "userIdentity": {"principalId": account_id},
            }
        ]
    }


class OssTriggers:
    def __init__(self, *, submit: Submit, region: str, account_id: str) -> None:
        """``submit`` enqueues an async invocation durably (``AsyncInvoker.submit``)."""
        self.submit = submit
        self.region = region
        self.account_id = account_id
        self._by_bucket: dict[str, dict[str, Doc]] = {}

    async def start(self, triggers: list[Doc]) -> None:
        for doc in triggers:
            await self.apply(doc.key, doc)

    async def apply(self, key: str, doc: Doc | None) -> None:
        for triggers in self._by_bucket.values():
            triggers.pop(key, None)
        if doc is not None and doc.body["triggerType"] == "oss":
            self._by_bucket.setdefault(oss_bucket(doc.body["sourceArn"]), {})[key] = doc

    async def dispatch(self, event: ObjectEvent) -> None:
        """Invoke every matching trigger's function (the ``ObjectStore``'s ``on_event``)."""
        for key, doc in list(self._by_bucket.get(event.bucket, {}).items()):
            if not matches(doc.body["triggerConfig"], event):
                continue
            service, function, name = split_key(key)
            payload = oss_event(event, name, region=self.region, account_id=self.account_id)
            invocation = Invocation(service, doc.body["qualifier"], function, json.dumps(payload).encode())
            try:
                await self.submit(invocation)
            except NotFound as error:  # the function or its qualifier is gone: nothing to run
                log.warning("oss trigger %s: %s on %s/%s not delivered: %s", key, event.name, event.bucket,
                            event.key, error.message)  # fmt: skip
