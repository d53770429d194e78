"""Content-addressed cache of unpacked code: ``<root>/<sha256>/``, unpacked once, never changed.

A zip is fetched, checked against its digest and unpacked in a worker thread into a temporary directory,
then renamed into place, so readers only ever see complete trees. Concurrent cold starts of one digest
share a per-digest lock and unpack once. Entries that would land outside the tree (absolute paths, ``..``,
symlinks pointing out) reject the whole package.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import posixpath
import shutil
import stat
import sys
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from openfc.errors import InstanceError

MAX_UNPACKED = 1 << 30  #: bytes, all files of one package together


class CodeError(InstanceError):
    """A code package is corrupt, unsafe or too large."""

    code = "InvalidCodePackage"


class CodeCache:
    """Unpacked code packages under ``root``.

    root: the cache directory (created 0711: traversable by sandbox uids, not listable).
    fetch: ``fetch(digest)`` returns the zip bytes.
    compile_pyc: precompile ``.py`` files (the interpreter instances run has the platform's bytecode magic).
    """

    def __init__(self, root: Path, fetch: Callable[[str], Awaitable[bytes]], *, compile_pyc: bool = False) -> None:
        self.root = root
        self._fetch = fetch
        self._compile = compile_pyc
        self._locks: dict[str, asyncio.Lock] = {}
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o711)

    async def get(self, digest: str, *, group: int | None = None, shared: bool = False) -> Path:
        """The directory holding ``digest``'s files, unpacking it first if needed.

        group: make the tree root-owned with this group, 0550/0440 (sandbox); None keeps the current owner.
        shared: world-readable (0555/0444), for layers used by many functions.
        """
        path = self.root / digest
        if path.is_dir():
            return path
        if not digest or not all(c in "0123456789abcdef" for c in digest):
            raise CodeError(f"invalid code checksum {digest!r}")
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            if path.is_dir():
                return path
            data = await self._fetch(digest)
            await asyncio.to_thread(self._unpack, digest, data, path, group, shared)
        return path

    def _unpack(self, digest: str, data: bytes, path: Path, group: int | None, shared: bool) -> None:
        if hashlib.sha256(data).hexdigest() != digest:
            raise CodeError(f"code package does not match its checksum {digest}")
        tmp = self.root / f".tmp-{digest}-{os.getpid()}-{id(data):x}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o700)
        try:
            extract(data, tmp)
            if self._compile:
                import compileall

                compileall.compile_dir(tmp, quiet=2, workers=1)
            seal(tmp, group=group, shared=shared)
            try:
                os.rename(tmp, path)
            except OSError:
                if not path.is_dir():
                    raise
        finally:
            if tmp.exists():
                _force_rmtree(tmp)


def extract(data: bytes, dest: Path) -> None:
    """Unpack zip ``data`` into the empty directory ``dest`` safely (see the module docstring)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise CodeError(f"code package is not a valid zip file: {e}") from e
    with archive:
        infos = archive.infolist()
        if sum(i.file_size for i in infos) > MAX_UNPACKED:
            raise CodeError(f"code package unpacks to more than {MAX_UNPACKED >> 20} MB")
        for info in infos:
            name = info.filename.replace("\\", "/")
            norm = posixpath.normpath(name)
            if name.startswith("/") or norm == ".." or norm.startswith("../") or (len(name) > 1 and name[1] == ":"):
                raise CodeError(f"code package entry {info.filename!r} points outside the code directory")
            if norm in (".", ""):
                continue
            target = dest / norm
            mode = info.external_attr >> 16
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISLNK(mode):
                link = archive.read(info).decode()
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(norm), link))
                if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
                    raise CodeError(f"code package symlink {info.filename!r} -> {link!r} escapes the code directory")
                os.symlink(link, target)
                continue
            with archive.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            if mode & 0o111:
                os.chmod(target, 0o700)


def seal(tree: Path, *, group: int | None, shared: bool) -> None:
    """Make ``tree`` read-only: dirs 0550 (0555 shared), files 0440 (+x kept), root:group when given."""
    dmode, fmode = (0o555, 0o444) if shared else (0o550, 0o440)
    if group is None and not shared:
        dmode, fmode = 0o500, 0o400
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in filenames + dirnames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                if group is not None:
                    os.lchown(p, 0, group)
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            os.chmod(p, fmode | (0o111 & (dmode if st.st_mode & 0o100 else 0)))
            if group is not None:
                os.chown(p, 0, group)
        os.chmod(dirpath, dmode)
        if group is not None:
            os.chown(dirpath, 0, group)


def _force_rmtree(path: Path) -> None:
    def onerror(func: object, p: str, exc: object) -> None:
        os.chmod(os.path.dirname(p), 0o700)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, 0o700)
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.unlink(p)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=onerror)
    else:
        shutil.rmtree(path, onerror=onerror)
