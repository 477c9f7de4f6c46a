"""Where evidence bytes live: content-addressed by sha256, behind a small storage interface.

:class:`LocalStorage` (the default) keeps ``<root>/<aa>/<bb>/<sha256>``. A file is written to a
temporary file in ``<root>/.tmp`` (the same file system), flushed to disk, and only then renamed
to its final name with ``os.replace`` — atomic, so a process killed mid-upload (``kill -9``,
power loss) leaves at most a temporary file, never a partial object under a final name. Stale
temporary files are removed when a process first opens the storage.

Uploading is two-phase (:meth:`Storage.stage`, then :meth:`Staged.commit` or
:meth:`Staged.discard`) so the caller can refuse a file after reading it — by its content or a
limit checked in the database — without anything reaching the store.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


class ObjectMissing(LookupError):
    """No object is stored under that sha256."""


def valid_key(sha256: str) -> str:
    """A storage key is exactly 64 lowercase hex digits (nothing path-like ever reaches a path)."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError("not a sha256 hex digest")
    return sha256


@runtime_checkable
class Staged(Protocol):
    """Bytes received and hashed, not yet in the store."""

    sha256: str
    size: int

    async def commit(self) -> bool:
        """Put the object in the store under its sha256 (``False`` when it was there already)."""

    async def discard(self) -> None:
        """Forget the bytes; nothing remains."""


@runtime_checkable
class Storage(Protocol):
    async def stage(self, chunks: AsyncIterable[bytes]) -> Staged:
        """Receive a stream; any exception raised while reading it leaves nothing behind."""

    async def put(self, chunks: AsyncIterable[bytes]) -> tuple[str, int]:
        """Stage and commit: ``(sha256, size)``. The same content is stored once."""

    async def open(self, sha256: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; raises :class:`ObjectMissing` before the first chunk."""

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> None:
        """Remove an object (no error when it is already gone)."""

    def objects(self) -> Iterator[tuple[str, float]]:
        """``(sha256, last modified as a Unix time)`` of every stored object (for sweeping)."""


@dataclass
class LocalStaged:
    storage: LocalStorage
    temp: Path
    sha256: str
    size: int
    _done: bool = False

    async def commit(self) -> bool:
        if self._done:
            raise RuntimeError("already committed or discarded")
        self._done = True
        return await asyncio.to_thread(self.storage._install, self.temp, self.sha256, self.size)

    async def discard(self) -> None:
        if not self._done:
            self._done = True
            _unlink(self.temp)


class LocalStorage:
    """Evidence in a local folder (mount a volume there; it must not be a served directory)."""

    #: temporary files untouched for this long are removed even when their writer looks alive.
    stale_after_seconds = 3600.0

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True):
        self.root = Path(root).resolve()  # absolute: a later chdir changes nothing
        self.tmp = self.root / ".tmp"
        self.fsync = fsync

    def path_for(self, sha256: str) -> Path:
        key = valid_key(sha256)
        return self.root / key[:2] / key[2:4] / key

    # --- writing -------------------------------------------------------------------------------

    async def stage(self, chunks: AsyncIterable[bytes]) -> LocalStaged:
        self.tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The name says which process writes it, so a restarted one can tell its dead peers' files.
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix=f"up-{_HOST}-{os.getpid()}-", suffix=".part")
        temp = Path(name)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                if self.fsync:
                    await asyncio.to_thread(os.fsync, out.fileno())
        except BaseException:
            _unlink(temp)
            raise
        return LocalStaged(self, temp, digest.hexdigest(), size)

    async def put(self, chunks: AsyncIterable[bytes]) -> tuple[str, int]:
        staged = await self.stage(chunks)
        try:
            await staged.commit()
        except BaseException:
            await staged.discard()
            raise
        return staged.sha256, staged.size

    def _install(self, temp: Path, sha256: str, size: int) -> bool:
        final = self.path_for(sha256)
        try:
            if final.stat().st_size == size:
                _unlink(temp)  # stored once: same content, same name
                os.utime(final)  # fresh again, so an orphan sweep running now leaves it alone
                return False
        except FileNotFoundError:
            pass
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            os.replace(temp, final)
        except BaseException:
            _unlink(temp)
            raise
        if self.fsync:
            _fsync_dir(final.parent)
        return True

    # --- reading -------------------------------------------------------------------------------

    async def open(self, sha256: str) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(open, self.path_for(sha256), "rb")  # closed by _chunks
        except FileNotFoundError:
            raise ObjectMissing(sha256) from None
        return _chunks(handle)

    async def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    async def delete(self, sha256: str) -> None:
        path = self.path_for(sha256)
        _unlink(path)
        for parent in (path.parent, path.parent.parent):
            try:
                parent.rmdir()  # only when empty
            except OSError:
                break

    def objects(self) -> Iterator[tuple[str, float]]:
        if not self.root.is_dir():
            return
        for first in self.root.iterdir():
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in first.iterdir():
                if not second.is_dir():
                    continue
                for item in second.iterdir():
                    if _SHA256.fullmatch(item.name):
                        try:
                            yield item.name, item.stat().st_mtime
                        except FileNotFoundError:
                            continue

    # --- crash leftovers -----------------------------------------------------------------------

    def temp_files(self) -> list[Path]:
        return sorted(self.tmp.glob("*.part")) if self.tmp.is_dir() else []

    def clean_temp(self, *, stale_after: float | None = None) -> int:
        """Remove temporary files of writers that died (this host, process gone) and any not
        touched for ``stale_after`` seconds. Returns how many were removed."""
        stale_after = self.stale_after_seconds if stale_after is None else stale_after
        now, removed = time.time(), 0
        for path in self.temp_files():
            parts = path.name.split("-")
            dead = (len(parts) >= 4 and parts[1] == _HOST and parts[2].isdigit()
                    and int(parts[2]) != os.getpid() and not _alive(int(parts[2])))
            try:
                stale = now - path.stat().st_mtime > stale_after
            except FileNotFoundError:
                continue
            if dead or stale:
                _unlink(path)
                removed += 1
        if removed:
            log.info("removed %d unfinished evidence upload(s) from %s", removed, self.tmp)
        return removed


async def _chunks(handle) -> AsyncIterator[bytes]:
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (the directory entry), where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems refuse fsync on directories
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


_opened: dict[Path, LocalStorage] = {}


def local_storage(root: str | os.PathLike[str]) -> LocalStorage:
    """The process's storage for ``root``; leftovers of dead writers are cleaned the first time."""
    path = Path(root).resolve()
    storage = _opened.get(path)
    if storage is None:
        storage = _opened[path] = LocalStorage(path)
        try:
            storage.clean_temp()
        except OSError:
            log.exception("could not clean unfinished uploads in %s", storage.tmp)
    return storage
