"""The one frozen ``Settings`` object, built once by the CLI from flags and environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a node needs to run.

    host, port: where the HTTP API (FC, Step Functions, gateway, console) listens.
    data_dir: the node's directory: SQLite file, blobs, unpacked code, keys.
    store_url: ``sqlite:///<path>`` (default: ``<data_dir>/openfc.db``) or ``postgresql://...``.
    s3_port: port of the S3-compatible object storage, ``None`` = off.
    idle_timeout: seconds an idle instance is kept warm before it is reclaimed.
    throttle_wait: seconds a sync call waits for capacity at maximumInstanceCount before 429.
    region, account_id: what functions see as ``context.region`` / ``context.account_id``.
    sandbox: run instances as unprivileged users (needs root; off otherwise).
    meter_interval: seconds between samples of provisioned instances for metering
        (``OPENFC_METER_INTERVAL``).
    async_retry_base: seconds before the first async retry (``OPENFC_ASYNC_RETRY_BASE``); later
        retries double it; system-error retries start at half of it.
    lease_seconds: seconds a node's leases last without renewal (``OPENFC_LEASE_SECONDS``): queue claims,
        workflow executions, cluster membership, leaderships and instance slots; another node takes over
        a dead node's work after it. ``None``: each component's default (queue 60, workflow 30, cluster 15).
    """

    host: str = "127.0.0.1"
    port: int = 9000
    data_dir: Path = Path("./openfc-data")
    store_url: str = ""
    s3_port: int | None = None
    idle_timeout: float = 600.0
    throttle_wait: float = 1.0
    region: str = "local"
    account_id: str = "0000000000000000"
    sandbox: bool = True
    async_retry_base: float = 1.0
    meter_interval: float = 10.0
    lease_seconds: float | None = None  # cluster

    @property
    def store(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'openfc.db'}"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: object) -> Settings:
        """Build settings from ``OPENFC_*`` variables, then explicit overrides (CLI flags) win."""
        values: dict[str, object] = {}
        if "OPENFC_IDLE_TIMEOUT" in environ:
            values["idle_timeout"] = float(environ["OPENFC_IDLE_TIMEOUT"])
        if "OPENFC_REGION" in environ:
            values["region"] = environ["OPENFC_REGION"]
        if "OPENFC_ACCOUNT_ID" in environ:
            values["account_id"] = environ["OPENFC_ACCOUNT_ID"]
        if "OPENFC_METER_INTERVAL" in environ:
            values["meter_interval"] = float(environ["OPENFC_METER_INTERVAL"])
        if "OPENFC_ASYNC_RETRY_BASE" in environ:
            values["async_retry_base"] = float(environ["OPENFC_ASYNC_RETRY_BASE"])
        if "OPENFC_LEASE_SECONDS" in environ:  # cluster
            values["lease_seconds"] = float(environ["OPENFC_LEASE_SECONDS"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(str(values["data_dir"])).resolve()
        return cls(**values)  # type: ignore[arg-type]
