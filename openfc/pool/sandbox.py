"""Who an instance runs as, with which interpreter, and the runtime files it may read.

Sandboxing (``sandbox=True`` and the platform runs as root): every code digest gets its own unprivileged
uid/gid (from 200000 up, persisted in ``<data_dir>/sandbox/uids.json``). Unpacked code is owned by root with
group = that gid, mode 0550/0440, so an instance can read (not change) its own code and nothing else;
``data_dir`` and ``data_dir/code`` are 0711 (traversable, not listable) and the rest of what the pool creates
is 0700 except ``data_dir/runtime`` (0755: the bootstrap every instance runs). Without root, or with
``sandbox=False``, instances run as the platform's own user.

Interpreter: every ``python3*`` runtime (python3, python3.9, python3.10, python3.12) runs on one
world-executable interpreter, ``/usr/bin/python3`` when it exists (a venv under a 0700 home is unreachable
for a sandbox uid), else ``sys.executable``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

from openfc import runtime

UID_BASE = 200000
PYTHON_RUNTIMES = frozenset({"python3", "python3.9", "python3.10", "python3.12"})
RUNTIME_PACKAGE = "_openfc_runtime"


def interpreter() -> str:
    """The interpreter instances run on (see the module docstring)."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def interpreter_version(path: str) -> tuple[int, int] | None:
    """``(major, minor)`` read from the interpreter's file name (``python3.11``), None when unclear."""
    if path == sys.executable:
        return sys.version_info[:2]
    match = re.fullmatch(r"python(\d+)\.(\d+)", Path(os.path.realpath(path)).name)
    return (int(match[1]), int(match[2])) if match else None


def active(sandbox: bool) -> bool:
    return sandbox and os.geteuid() == 0


#: Where instance-visible files go when the data dir sits below a directory others cannot enter.
FALLBACK_ROOT = Path("/var/lib/openfc")


def instance_root(data_dir: Path) -> Path:
    """Where the files instances read (code, layers, the runtime) live: the data dir when sandbox
    uids can reach it (every parent has the o+x bit), else a directory of this data dir's own under
    ``/var/lib/openfc`` — unpacked code is a cache, the store and keys stay in the data dir."""
    if all(parent.stat().st_mode & 0o001 for parent in data_dir.resolve().parents):
        return data_dir
    root = FALLBACK_ROOT / hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    make_dir(FALLBACK_ROOT, 0o711)
    return make_dir(root, 0o711)


def make_dir(path: Path, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    return path


def install_runtime(data_dir: Path) -> Path:
    """Copy the bootstrap and the frame protocol to ``<data_dir>/runtime/_openfc_runtime/`` (0755/0644)
    and precompile them; return ``<data_dir>/runtime`` (the sys.path entry instances import it from)."""
    root = make_dir(data_dir / "runtime", 0o755)
    package = make_dir(root / RUNTIME_PACKAGE, 0o755)
    source = Path(runtime.__file__).parent
    files = {"__init__.py": b"", **{n: (source / n).read_bytes() for n in ("bootstrap.py", "protocol.py")}}
    changed = False
    for name, content in files.items():
        target = package / name
        if target.exists() and target.read_bytes() == content:
            continue
        tmp = package / f".{name}.{os.getpid()}"
        tmp.write_bytes(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        changed = True
    if changed or not (package / "__pycache__").exists():
        shutil.rmtree(package / "__pycache__", ignore_errors=True)
        if interpreter_version(interpreter()) == sys.version_info[:2]:
            import compileall

            compileall.compile_dir(package, quiet=1)
            for dirpath, dirnames, filenames in os.walk(package):
                for d in dirnames:
                    os.chmod(os.path.join(dirpath, d), 0o755)
                for f in filenames:
                    os.chmod(os.path.join(dirpath, f), 0o644)
    return root


class UidMap:
    """One sandbox uid (= gid) per code digest, persisted so a restarted node keeps its file ownership."""

    def __init__(self, directory: Path) -> None:
        self._file = directory / "uids.json"
        self._map: dict[str, int] = {}
        if self._file.exists():
            self._map = {str(k): int(v) for k, v in json.loads(self._file.read_text()).items()}

    def get(self, digest: str) -> int:
        uid = self._map.get(digest)
        if uid is None:
            uid = max(self._map.values(), default=UID_BASE - 1) + 1
            self._map[digest] = uid
            tmp = self._file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._map))
            os.chmod(tmp, 0o600)
            os.replace(tmp, self._file)
        return uid
