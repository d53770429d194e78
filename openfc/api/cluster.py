"""The node in its cluster: wiring of ``openfc.cluster`` into the platform, change notices, ``GET /nodes``.

- ``GET /2016-08-15/nodes`` → ``{nodes: [{nodeId, address, state, started, lastHeartbeat, self}]}``
  (members whose heartbeat has not lapsed; an openfc extension, FC-signed).
- Metadata writes through the FC API (everything but invocations) are announced to the other nodes
  before the response leaves, so their route, async-config and trigger caches refresh at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openfc.api.fc import PREFIX, endpoint
from openfc.api.fc_instances import Capacity
from openfc.api.state import Platform
from openfc.cluster import Cluster
from openfc.cluster.node import TIMERS, NodeState
from openfc.store import Doc
from openfc.workflow import node_id

log = logging.getLogger("openfc.cluster")

#: Lease seconds of membership, leaderships and instance slots unless ``OPENFC_LEASE_SECONDS`` is set.
CLUSTER_TTL = 15.0
WRITES = frozenset({"POST", "PUT", "DELETE"})
#: Writes that change no metadata (invocations, their records, dead letters).
NOT_METADATA = ("/invocations", "/stateful-async-invocations", "/dead-letters")


def build(platform: Platform, capacity: Capacity) -> Cluster:
    """The node's ``Cluster``, wired to the pool, timers, caches and leases (not started)."""
    settings = platform.settings
    shared = not settings.store.startswith("sqlite:")
    cluster = Cluster(
        store=platform.store, node=node_id(settings.data_dir), address=f"http://{settings.host}:{settings.port}",
        ttl=settings.lease_seconds or CLUSTER_TTL, shared=shared,
    )  # fmt: skip
    if settings.lease_seconds:  # shorter leases: a dead node's claims and executions are taken over sooner
        platform.queue.dispatcher.lease = settings.lease_seconds
        platform.workflows.engine.lease_seconds = settings.lease_seconds
    platform.pool.slots = cluster.slots  # None on SQLite: one node, the local count is the cluster's
    if shared:  # Redis stream consumers named per node (one node keeps the name "openfc")
        platform.triggers.node = cluster.node
    timer = platform.triggers.timer
    timer.leading = lambda: cluster.leads(TIMERS)
    cluster.on_leadership.append(lambda name, leading: timer.wake() if name == TIMERS and leading else None)
    refresh = _Refresh(platform, capacity)
    cluster.on_change.append(refresh.changed)
    platform.triggers.triggers.listen(refresh.seen)
    platform.metrics.gauge(
        "openfc_nodes", "Cluster members by state (as of this node's last heartbeat).", ("state",),
        lambda: _census(cluster),
    )  # fmt: skip
    return cluster


def _census(cluster: Cluster) -> list[tuple[tuple[str, ...], float]]:
    counts = Counter(str(row.info.get("state", NodeState.LIVE.value)) for row in cluster.members)
    return [((state.value,), float(counts.get(state.value, 0))) for state in NodeState]


class _Refresh:
    """Applies other nodes' metadata changes to this node's caches (coalesced: one pass at a time)."""

    def __init__(self, platform: Platform, capacity: Capacity) -> None:
        self.platform, self.capacity = platform, capacity
        self._known: dict[str, str] = {}  #: trigger key -> etag this node has applied
        self._task: asyncio.Task[None] | None = None
        self._again = False

    async def seen(self, key: str, doc: Doc | None) -> None:
        if doc is None:
            self._known.pop(key, None)
        else:
            self._known[key] = doc.etag

    def changed(self, kind: str) -> None:
        self.platform.registry.changed()
        self.platform.async_configs.forget()
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self._triggers()
                await self.capacity.provisioner.reconcile()
            except Exception:
                log.exception("cluster: refreshing after another node's change failed")

    async def _triggers(self) -> None:
        triggers = self.platform.triggers.triggers
        current = {doc.key: doc for doc in await triggers.all()}
        for key, doc in current.items():
            if self._known.get(key) != doc.etag:
                self._known[key] = doc.etag
                await triggers.announce(key, doc)
        for key in [k for k in self._known if k not in current]:
            del self._known[key]
            await triggers.announce(key, None)


class ChangeNotices:
    """ASGI middleware: announce a successful metadata write before its response starts."""

    def __init__(self, app: ASGIApp, cluster: Cluster) -> None:
        self.app, self.cluster = app, cluster

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITES
            or not path.startswith(PREFIX + "/")
            or any(part in path for part in NOT_METADATA)
        ):
            await self.app(scope, receive, send)
            return
        kind = "triggers" if "/triggers" in path else "metadata"

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                await self.cluster.publish(kind)
            await send(message)

        await self.app(scope, receive, sending)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def list_nodes(request: Request, p: Platform) -> Response:
    cluster: Cluster = request.app.state.cluster
    rows = await p.store.nodes(time.time())
    nodes: list[dict[str, Any]] = [
        {
            "nodeId": row.node,
            "address": row.info.get("address", ""),
            "state": row.info.get("state", NodeState.LIVE.value),
            "started": _iso(float(row.info.get("started", row.heartbeat))),
            "lastHeartbeat": _iso(row.heartbeat),
            "self": row.node == cluster.node,
        }
        for row in rows
    ]
    return JSONResponse({"nodes": nodes})


routes = [Route(PREFIX + "/nodes", endpoint(list_nodes), methods=["GET"])]
