"""Per-instance memory and pids limits through Linux cgroups (v1 or v2), when the host lets us.

v1: ``/sys/fs/cgroup/memory/openfc/<instance>`` (``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes``
so the limit holds without swap) and ``/sys/fs/cgroup/pids/openfc/<instance>``. v2: one group
``/sys/fs/cgroup/openfc/<instance>`` with ``memory.max``, ``memory.swap.max`` and ``pids.max``.
Without a writable hierarchy ``detect()`` returns None and the bootstrap limits itself with RLIMIT_AS.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PIDS_MAX = 256


def detect(root: Path = ROOT) -> str | None:
    """``"v1"``, ``"v2"`` or None (no usable memory controller), creating the ``openfc`` parent groups."""
    try:
        if (root / "memory" / "memory.limit_in_bytes").exists():
            (root / "memory" / "openfc").mkdir(exist_ok=True)
            if (root / "pids" / "pids.max").exists() or (root / "pids" / "cgroup.procs").exists():
                with contextlib.suppress(OSError):
                    (root / "pids" / "openfc").mkdir(exist_ok=True)
            return "v1"
        controllers = (root / "cgroup.controllers").read_text().split()
        if "memory" in controllers:
            enable = " ".join(f"+{c}" for c in ("memory", "pids") if c in controllers)
            (root / "cgroup.subtree_control").write_text(enable)
            (root / "openfc").mkdir(exist_ok=True)
            (root / "openfc" / "cgroup.subtree_control").write_text(enable)
            return "v2"
    except OSError:
        return None
    return None


class Cgroup:
    """The cgroup(s) of one instance. All methods are best effort and never raise ``OSError``."""

    def __init__(self, mode: str, name: str, memory_mb: int, root: Path = ROOT) -> None:
        self.mode = mode
        if mode == "v1":
            self.memory = root / "memory" / "openfc" / name
            pids = root / "pids" / "openfc"
            self.pids: Path | None = pids / name if pids.is_dir() else None
        else:
            self.memory = root / "openfc" / name
            self.pids = None
        limit = str(memory_mb * 1024 * 1024)
        self.memory.mkdir()
        if mode == "v1":
            (self.memory / "memory.limit_in_bytes").write_text(limit)
            with contextlib.suppress(OSError):
                (self.memory / "memory.memsw.limit_in_bytes").write_text(limit)
            if self.pids is not None:
                with contextlib.suppress(OSError):
                    self.pids.mkdir()
                    (self.pids / "pids.max").write_text(str(PIDS_MAX))
        else:
            (self.memory / "memory.max").write_text(limit)
            with contextlib.suppress(OSError):
                (self.memory / "memory.swap.max").write_text("0")
            with contextlib.suppress(OSError):
                (self.memory / "pids.max").write_text(str(PIDS_MAX))

    def _groups(self) -> list[Path]:
        return [self.memory] if self.pids is None else [self.memory, self.pids]

    def attach(self, pid: int) -> None:
        """Move ``pid`` into the group(s); raises OSError if the memory group cannot take it."""
        (self.memory / "cgroup.procs").write_text(str(pid))
        if self.pids is not None:
            with contextlib.suppress(OSError):
                (self.pids / "cgroup.procs").write_text(str(pid))

    def procs(self) -> set[int]:
        found: set[int] = set()
        for group in self._groups():
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in (group / "cgroup.procs").read_text().split())
        return found

    def kill_all(self) -> int:
        """SIGKILL every process still in the group (catches children that left the process group)."""
        pids = self.procs()
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def oom_killed(self) -> bool:
        name = "memory.oom_control" if self.mode == "v1" else "memory.events"
        with contextlib.suppress(OSError, ValueError):
            for line in (self.memory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def max_usage_mb(self) -> float:
        names = ["memory.max_usage_in_bytes"] if self.mode == "v1" else ["memory.peak", "memory.current"]
        for name in names:
            with contextlib.suppress(OSError, ValueError):
                return int((self.memory / name).read_text()) / (1024 * 1024)
        return 0.0

    def remove(self) -> bool:
        """rmdir the group(s); False while processes remain."""
        ok = True
        for group in self._groups():
            try:
                group.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
        return ok
