"""Persistence: one ``Store`` interface, one module per backend."""

from __future__ import annotations

from pathlib import Path

from openfc.errors import InvalidArgument
from openfc.store.base import JSON, Doc, Store, new_etag, now_iso

__all__ = ["JSON", "Doc", "Store", "new_etag", "now_iso", "open_store"]


def open_store(url: str, data_dir: Path) -> Store:
    """The backend for ``url`` (not yet opened): ``sqlite:///path`` or ``postgresql://...``."""
    if url.startswith("sqlite:///"):
        from openfc.store.sqlite import SQLiteStore

        return SQLiteStore(Path(url.removeprefix("sqlite:///")), data_dir / "blobs")
    if url.startswith(("postgresql://", "postgres://")):  # scale-out
        from openfc.store.postgres import PostgresStore

        return PostgresStore(url, data_dir)
    raise InvalidArgument(f"unsupported store URL '{url}': use sqlite:///<file> or postgresql://<user>@<host>/<db>")
