"""Deterministic code packages: the same directory always zips to the same bytes (and checksum)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from openfc.control.code import checksum

#: Never packaged: caches and VCS metadata change without the code changing.
SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
SKIP_FILES = {".DS_Store"}
SKIP_SUFFIXES = (".pyc", ".pyo")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def files_of(root: Path) -> list[tuple[str, Path]]:
    """(archive name, path) of every file under ``root``, sorted by name; symlinks are followed."""
    out: list[tuple[str, Path]] = []
    for directory, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in names:
            if name in SKIP_FILES or name.endswith(SKIP_SUFFIXES):
                continue
            path = Path(directory) / name
            out.append((path.relative_to(root).as_posix(), path))
    return sorted(out)


def zip_dir(root: Path) -> bytes:
    """Zip ``root`` with sorted entries, a fixed timestamp and only the executable bit kept."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in files_of(root):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3  # unix, so the mode bits are honoured
            archive.writestr(info, path.read_bytes(), compresslevel=6)
    return buffer.getvalue()


class Package:
    """A zipped code directory and its FC checksum (CRC-64, as ``codeChecksum`` reports it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = zip_dir(root)
        self.checksum = checksum(self.data)

    @property
    def size(self) -> int:
        return len(self.data)
