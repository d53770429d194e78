"""One contract for every store backend: the same assertions against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from openfc.errors import PreconditionFailed
from openfc.store import Store, open_store
from openfc.store.observations import CallRecord, CallStatus, LogLine
from openfc.store.queue import InvocationStatus, NewEvent, Settlement
from openfc.store.workflow import EventRow, ExecutionRow, ExecutionUpdate
from tests.conftest import pg_database, pg_drop

T = "services/s.LATEST/functions/f"


class Backend:
    """Opens stores of one backend on one fresh database; each ``node`` has its own data dir."""

    def __init__(self, url: str, root: Path) -> None:
        self.url, self.root = url, root

    @asynccontextmanager
    async def open(self, node: str = "a") -> AsyncIterator[Store]:
        store = open_store(self.url, self.root / node)
        await store.open()
        try:
            yield store
        finally:
            await store.close()

    def run(self, scenario: Callable[[Store], Awaitable[None]]) -> None:
        async def main() -> None:
            async with self.open() as store:
                await scenario(store)

        asyncio.run(main())


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend(f"sqlite:///{tmp_path / 'openfc.db'}", tmp_path)
        return
    name = f"openfc_c_{uuid.uuid4().hex[:12]}"
    url = pg_database(name)
    try:
        yield Backend(url, tmp_path)
    finally:
        pg_drop(name)


def event(target: str = T, **kwargs: object) -> NewEvent:
    return NewEvent(target, b"payload", uuid.uuid4().hex, time.time(), **kwargs)  # type: ignore[arg-type]


# -- documents and blobs ----------------------------------------------------------------


def test_documents(backend: Backend) -> None:
    async def scenario(s: Store) -> None:
        created = await s.create("fn", "svc/a", {"x": 1})
        assert created is not None and created.body == {"x": 1}
        assert await s.create("fn", "svc/a", {"x": 2}) is None
        got = await s.get("fn", "svc/a")
        assert got == created
        with pytest.raises(PreconditionFailed):
            await s.update("fn", "svc/a", {"x": 3}, if_match="nope")
        updated = await s.update("fn", "svc/a", {"x": 3}, if_match=f'"{created.etag}"')
        assert updated is not None and updated.etag != created.etag and updated.created == created.created
        assert await s.update("fn", "svc/missing", {}) is None
        put = await s.put("fn", "svc/b", {"y": 1})
        assert (await s.put("fn", "svc/b", {"y": 2})).created == put.created
        for key in ("svc/c", "svc/B", "svd/a", "svc/a/z"):
            await s.put("fn", key, {})
        await s.put("other", "svc/q", {})
        assert [d.key for d in await s.list("fn", prefix="svc/")] == ["svc/B", "svc/a", "svc/a/z", "svc/b", "svc/c"]
        assert [d.key for d in await s.list("fn", prefix="svc/", start="svc/a/", limit=2)] == ["svc/a/z", "svc/b"]
        assert [d.key for d in await s.list("fn", prefix="svc/", start="svc/a\0")] == ["svc/a/z", "svc/b", "svc/c"]
        with pytest.raises(PreconditionFailed):
            await s.delete("fn", "svc/b", if_match="nope")
        assert await s.delete("fn", "svc/b") and not await s.delete("fn", "svc/b")
        assert await s.delete_prefix("fn", "svc/a") == 2
        assert [d.key for d in await s.list("fn")] == ["svc/B", "svc/c", "svd/a"]

    backend.run(scenario)


def test_blobs_are_shared_by_nodes(backend: Backend) -> None:
    async def main() -> None:
        other = "a" if backend.url.startswith("sqlite") else "b"  # SQLite: one node, blobs in its data dir
        async with backend.open("a") as a, backend.open(other) as b:
            digest = await a.put_blob(b"code" * 1000)
            assert await a.put_blob(b"code" * 1000) == digest
            assert await b.get_blob(digest) == b"code" * 1000
            assert await b.get_blob("0" * 64) is None and await b.get_blob("../etc") is None

    asyncio.run(main())


# -- async queue ---------------------------------------------------------------------------


def test_queue_claim_settle_tokens(backend: Backend) -> None:
    async def scenario(s: Store) -> None:
        first, second = event(), event(stateful_id="inv-1", record_function="s/f", qualifier="LATEST")
        assert list(await s.queue_enqueue([first, second])) == [True, True]
        dup = event(stateful_id="inv-1", record_function="s/f")
        assert list(await s.queue_enqueue([dup, event()])) == [False, True]
        now = time.time()
        assert list(await s.queue_ready(now)) == [T] and await s.queue_depth(T) == 3
        claimed = await s.queue_claim(T, 2, now=now, lease_until=now + 60)
        assert [e.id for e in claimed] == [first.id, second.id] and all(e.attempts == 1 for e in claimed)
        record = await s.invocation_get("s/f", "inv-1")
        assert record is not None and record.status is InvocationStatus.RUNNING
        stale = Settlement(claimed[0], InvocationStatus.SUCCEEDED, now)
        retry = Settlement(claimed[1], InvocationStatus.RETRYING, now, due=now + 100, failures=1, error="boom")
        assert list(await s.queue_settle([stale, retry])) == [True, True]
        assert list(await s.queue_settle([stale])) == [False]  # its claim is gone
        assert await s.queue_next_due(now) == pytest.approx(now + 100)
        record = await s.invocation_get("s/f", "inv-1")
        assert record is not None and record.status is InvocationStatus.RETRYING
        assert [e["status"] for e in record.events] == ["Enqueued", "Running", "Retrying"]
        later = now + 101
        (again,) = [e for e in await s.queue_claim(T, 5, now=later, lease_until=later + 60) if e.stateful]
        assert again.attempts == 2 and again.failures == 1
        dead = Settlement(again, InvocationStatus.FAILED, later, error="boom")
        assert list(await s.queue_settle([dead])) == [True]
        (letter,) = await s.dead_letter_list(T)
        assert letter.id == second.id and letter.status is InvocationStatus.FAILED
        assert await s.dead_letter_redrive(letter.id, later) is not None
        assert await s.dead_letter_get(letter.id) is None
        record = await s.invocation_get("s/f", "inv-1")
        assert record is not None and record.status is InvocationStatus.ENQUEUED
        assert [r.id for r in await s.invocation_list("s/f", prefix="inv")] == ["inv-1"]
        stopped = await s.invocation_stop("s/f", "inv-1", later)
        assert stopped is not None and stopped.status is InvocationStatus.ENQUEUED
        assert (await s.invocation_get("s/f", "inv-1")).status is InvocationStatus.STOPPED  # type: ignore[union-attr]
        ops = await s.operations()
        assert ops.dead_letters == [] and ops.queue and ops.queue[0][0] == T

    backend.run(scenario)


def test_queue_release_and_extend(backend: Backend) -> None:
    async def scenario(s: Store) -> None:
        await s.queue_enqueue([event()])
        now = time.time()
        (claimed,) = await s.queue_claim(T, 1, now=now, lease_until=now + 1)
        await s.queue_extend([(claimed.id, claimed.token)], now + 100)
        assert await s.queue_claim(T, 1, now=now + 50, lease_until=now + 60) == []
        await s.queue_release([(claimed.id, claimed.token)])
        (again,) = await s.queue_claim(T, 1, now=now, lease_until=now + 60)
        assert again.attempts == 1 and again.token != claimed.token

    backend.run(scenario)


def test_expired_lease_is_claimed_by_another_node(backend: Backend) -> None:
    async def main() -> None:
        async with backend.open("a") as a, backend.open("b") as b:
            await a.queue_enqueue([event()])
            now = time.time()
            (lost,) = await a.queue_claim(T, 1, now=now, lease_until=now + 0.2)
            assert await b.queue_claim(T, 1, now=now + 0.1, lease_until=now + 60) == []
            assert list(await b.queue_ready(now + 1)) == [T]
            (taken,) = await b.queue_claim(T, 1, now=now + 1, lease_until=now + 60)
            assert taken.id == lost.id and taken.attempts == 2
            assert list(await a.queue_settle([Settlement(lost, InvocationStatus.SUCCEEDED, now)])) == [False]
            assert list(await b.queue_settle([Settlement(taken, InvocationStatus.SUCCEEDED, now)])) == [True]

    asyncio.run(main())


def test_concurrent_claimers_never_share_an_event(backend: Backend) -> None:
    async def main() -> None:
        async with backend.open("a") as a, backend.open("b") as b:
            await a.queue_enqueue([event() for _ in range(200)])
            now = time.time()

            async def drain(store: Store) -> list[str]:
                got: list[str] = []
                while batch := await store.queue_claim(T, 7, now=now, lease_until=now + 60):
                    got += [e.id for e in batch]
                return got

            results = await asyncio.gather(*(drain(s) for s in (a, b, a, b)))
            ids = [i for r in results for i in r]
            assert len(ids) == 200 and len(set(ids)) == 200

    asyncio.run(main())


def test_enqueue_wakes_listeners(backend: Backend) -> None:
    async def main() -> None:
        async with backend.open("a") as a, backend.open("b") as b:
            woken: asyncio.Queue[str] = asyncio.Queue()
            await b.queue_listen(woken.put_nowait)
            await a.queue_enqueue([event()])
            if backend.url.startswith("sqlite"):
                assert woken.empty()  # one node: its queue wakes its own dispatcher
            else:
                assert await asyncio.wait_for(woken.get(), 5) == T

    asyncio.run(main())


def test_marked_enqueue_is_conditional(backend: Backend) -> None:
    async def scenario(s: Store) -> None:
        assert await s.queue_enqueue_marked([event()], "timer", "t1", {"tick": 1}, if_match=None)
        assert not await s.queue_enqueue_marked([event()], "timer", "t1", {"tick": 1}, if_match=None)
        doc = await s.get("timer", "t1")
        assert doc is not None
        assert not await s.queue_enqueue_marked([event()], "timer", "t1", {"tick": 2}, if_match="stale")
        assert await s.queue_enqueue_marked([event()], "timer", "t1", {"tick": 2}, if_match=doc.etag)
        assert await s.queue_depth() == 2

    backend.run(scenario)


# -- workflow ------------------------------------------------------------------------------


def test_workflow_append_and_claim(backend: Backend) -> None:
    async def scenario(s: Store) -> None:
        now = time.time()
        row = ExecutionRow("arn:x:1", "arn:m", "1", "RUNNING", "{}", "{}", now, wake_at=now)
        first = [EventRow(1, "ExecutionStarted", "", now, 0, "{}")]
        assert await s.workflow_create(row, first, "n1", now + 30)
        assert not await s.workflow_create(row, first, "n1", now + 30)
        assert await s.workflow_claim("n2", now=now, lease_until=now + 30, due_before=now + 1, limit=10) == []
        more = [EventRow(2, "TaskScheduled", "", now, 1, "{}"), EventRow(3, "TaskSucceeded", "", now, 2, "{}")]
        assert not await s.workflow_append("arn:x:1", more, ExecutionUpdate("RUNNING", now), "n2")
        results = await asyncio.gather(
            s.workflow_append("arn:x:1", more, ExecutionUpdate("RUNNING", now + 5), "n1"),
            s.workflow_get("arn:x:1"),
        )
        assert results[0]
        assert [e.id for e in await s.workflow_events("arn:x:1")] == [1, 2, 3]
        assert [e.id for e in await s.workflow_events("arn:x:1", reverse=True, limit=2)] == [3, 2]
        assert await s.workflow_next_wake(now) == pytest.approx(now + 5)
        later = now + 60  # n1's lease expired
        assert await s.workflow_claim("n2", now=later, lease_until=later + 30, due_before=later, limit=10) == [
            "arn:x:1"
        ]
        await s.workflow_release("n2", ["arn:x:1"])
        assert await s.workflow_claim("n3", now=now, lease_until=now + 30, due_before=now, limit=10, arn="arn:x:1")
        done = ExecutionUpdate("SUCCEEDED", None, output="{}", stop_ts=now)
        assert await s.workflow_append("arn:x:1", [EventRow(4, "ExecutionSucceeded", "", now, 3, "{}")], done, "n3")
        got = await s.workflow_get("arn:x:1")
        assert got is not None and got.status == "SUCCEEDED" and got.last_event == 4
        assert [x.arn for x in await s.workflow_list("arn:m", None, None, 10)] == ["arn:x:1"]
        assert (await s.operations()).executions == {"SUCCEEDED": 1}

    backend.run(scenario)


# -- observations --------------------------------------------------------------------------


def test_observe_append_query_usage(backend: Backend) -> None:
    day = 1_767_225_600_000  # 2026-01-01T00:00:00Z

    def record(i: int, status: CallStatus = CallStatus.SUCCEEDED) -> CallRecord:
        return CallRecord(f"r{i}", "s", "f", "LATEST", "", day + i * 3_600_000, 100.5, 1024, i == 0, status, "",
                          10, 20, "", "Sync", "i1")  # fmt: skip

    async def scenario(s: Store) -> None:
        records = [record(i) for i in range(30)] + [record(30, CallStatus.FAILED)]
        logs = [LogLine(day + i, "s", "f", f"r{i}", "i1", "", f"line {i}") for i in range(5)]
        await s.observe_append(records, logs)
        newest = await s.records_query("s", "f", limit=2)
        assert [r.request_id for _, r in newest] == ["r30", "r29"] and newest[0][1].status is CallStatus.FAILED
        older = await s.records_query("s", "f", before_id=newest[1][0], limit=1)
        assert [r.request_id for _, r in older] == ["r28"] and older[0][1].cold_start is False
        assert [x.message for _, x in await s.logs_query("s", "f", limit=2)] == ["line 3", "line 4"]
        assert [x.message for _, x in await s.logs_query("s", "f", text="ne 1")] == ["line 1"]
        await s.provisioned_usage_add("2026-01-02", "s", "f", 1.5)
        await s.provisioned_usage_add("2026-01-02", "s", "f", 1.0)
        usage = await s.usage_query(start_ms=day, end_ms=day + 2 * 86_400_000)
        assert [(u.date, u.invocations, u.errors) for u in usage] == [("2026-01-01", 24, 0), ("2026-01-02", 7, 1)]
        assert usage[1].provisioned_gb_seconds == 2.5 and usage[0].gb_seconds == pytest.approx(24 * 0.101)
        await s.observe_prune(before_ms=day + 10 * 3_600_000, keep_records=100, keep_logs=2)
        assert len(await s.records_query("s", "f", limit=100)) == 21
        assert len(await s.logs_query("s", "f")) == 0

    backend.run(scenario)


def test_listen_survives_a_lost_connection(backend: Backend) -> None:
    if backend.url.startswith("sqlite"):
        pytest.skip("SQLite has no LISTEN connection")

    async def main() -> None:
        async with backend.open("a") as a, backend.open("b") as b:
            woken: asyncio.Queue[str] = asyncio.Queue()
            await b.queue_listen(woken.put_nowait)
            pid = b._listener.get_server_pid()  # type: ignore[attr-defined]
            async with a.pool.acquire() as conn:  # type: ignore[attr-defined]
                await conn.execute("SELECT pg_terminate_backend($1)", pid)
            for _ in range(100):
                await asyncio.sleep(0.05)
                listener = b._listener  # type: ignore[attr-defined]
                if listener is not None and listener.get_server_pid() != pid:
                    break
            await a.queue_enqueue([event()])
            assert await asyncio.wait_for(woken.get(), 5) == T

    asyncio.run(main())
