"""The root access key: from the environment, else generated once and kept in the data dir."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class AccessKey:
    id: str
    secret: str
    generated: bool = False  #: created by this start (print it once)


def root_key(data_dir: Path, environ: Mapping[str, str]) -> AccessKey:
    key_id, secret = environ.get("OPENFC_ACCESS_KEY_ID"), environ.get("OPENFC_ACCESS_KEY_SECRET")
    if key_id and secret:
        return AccessKey(key_id, secret)
    path = data_dir / "credentials.json"
    if path.exists():
        stored = json.loads(path.read_text())
        return AccessKey(stored["accessKeyId"], stored["accessKeySecret"])
    key = AccessKey("OFC" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30), generated=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"accessKeyId": key.id, "accessKeySecret": key.secret}, f)
    return key
