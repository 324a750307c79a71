"""Writing an index directory: the writer lock, staging, publishing and garbage collection.

Both kinds of lock are ``fcntl.flock`` locks, which the kernel drops when the holding process
exits or is killed, so a crashed job can never leave a lock that blocks the next one forever.

* The **writer lock** is an exclusive flock on ``DIR/.lock``. While it is held the file holds the
  holder's PID (for the message a waiting writer prints); it is emptied on release. A writer
  that finds the lock taken polls until ``wait`` seconds have passed, then fails with
  :class:`IndexLockedError`.
* A **reader lock** is a shared flock on a generation's ``manifest.json``
  (:func:`xenc.index.store.pin`). A writer removes an old generation only after taking an exclusive,
  non-blocking flock on that same file, so a generation somebody reads is never deleted.

A writer (:func:`index_writer`) takes the lock, removes what killed writers left behind
(``gen-*.tmp-*``, ``CURRENT.tmp-*``) and unread old generations, stages the next generation
under a temporary name, and publishes it (:meth:`IndexWriter.publish`): every file and the
manifest fsynced, the directory renamed to ``gen-NNNNNN``, then ``CURRENT`` replaced by an
atomic rename, then the ``manifest.json`` symlink. A crash at any point leaves the previous
generation live and intact.

A lock file may be unlinked by the process that holds it (a failed first build removes its
directory). Whoever acquires a lock therefore checks that the file it locked is still the one
at the path, and starts again otherwise.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from xenc.errors import IndexLockedError, UsageError, param
from xenc.index import digests, store
from xenc.index.contain import corrupted, plain_name, real_directory
from xenc.index.store import CURRENT, GEN_PREFIX, GEN_RE, LOCK, MANIFEST

# The only files a format-1 index (files at the top level, replaced whole) ever held.
V1_FILES = re.compile(r"docs\.sqlite|chunk_doc\.npy|embeddings\.npy|hnsw\.bin|"
                      r"bm25_(indptr|rows|tf|doc_len|idf)\.npy|bm25_vocab\.json")

POLL_SECONDS = 0.05


def _same_file(fh: IO[bytes], path: Path) -> bool:
    """Whether the open file ``fh`` is still the file at ``path`` (not unlinked or replaced)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fh.fileno())
    return (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)


def _try_lock(fh: IO[bytes], mode: int) -> bool:
    try:
        fcntl.flock(fh.fileno(), mode | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (held by PID {pid})" if pid.isdigit() else ""


def _open_lock(path: Path) -> IO[bytes]:
    """Open (create) the lock file without following a symlink; refuse anything but a
    regular file, so that truncating it can never touch a file elsewhere."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise corrupted(path, "is a symlink; a writer lock must be a regular file") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise corrupted(path, "is not a regular file; a writer lock must be one")
    return os.fdopen(fd, "r+b")


class WriterLock:
    """The exclusive writer lock of one index directory (``DIR/.lock``).

    Args:
        path: The lock file; created if missing.
        wait: Seconds to wait for another writer to finish; 0 fails at once.
    """

    def __init__(self, path: Path, wait: float = 0.0) -> None:
        self.path = Path(path)
        self.wait = max(float(wait), 0.0)
        self._fh: IO[bytes] | None = None

    def acquire(self) -> WriterLock:
        """Take the lock, waiting up to ``wait`` seconds.

        Raises:
            IndexLockedError: Another process still holds it after ``wait`` seconds.
        """
        deadline = time.monotonic() + self.wait
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = _open_lock(self.path)
            if _try_lock(fh, fcntl.LOCK_EX):
                if _same_file(fh, self.path):
                    fh.truncate(0)
                    fh.write(f"{os.getpid()}\n".encode())
                    fh.flush()
                    self._fh = fh
                    return self
                fh.close()  # the holder removed the file before releasing it: start again
                continue
            fh.close()
            if time.monotonic() >= deadline:
                raise IndexLockedError(
                    f"{self.path.parent} is locked by another xenc writer{_holder(self.path)}; "
                    f"gave up after waiting {self.wait:g}s (use {param('wait')} SECONDS)"
                )
            time.sleep(POLL_SECONDS)

    def release(self, *, unlink: bool = False) -> None:
        """Release the lock; with ``unlink``, remove the lock file first (while still held)."""
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            if unlink:
                self.path.unlink(missing_ok=True)
            else:
                fh.truncate(0)
                fh.flush()
        finally:
            fh.close()  # closing the descriptor drops the flock

    @property
    def held(self) -> bool:
        return self._fh is not None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_claim(manifest: Path) -> IO[bytes] | None:
    """An exclusive, non-blocking lock on a generation's manifest: None while anyone reads it.

    A missing manifest (a generation left half-deleted) is claimable: returns an open handle
    on ``/dev/null`` so the caller's cleanup is uniform.
    """
    try:
        fh = open(manifest, "rb")  # noqa: SIM115 - closed by the caller
    except (FileNotFoundError, NotADirectoryError):
        return open(os.devnull, "rb")  # noqa: SIM115
    if _try_lock(fh, fcntl.LOCK_EX):
        return fh
    fh.close()
    return None


def generation_name(number: int) -> str:
    return f"{GEN_PREFIX}{number:06d}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _owned(name: str) -> bool:
    """Whether an entry of an index directory is one xenc writes."""
    return name in (LOCK, CURRENT, MANIFEST) or name.startswith(
        (GEN_PREFIX, f"{CURRENT}.tmp", f"{MANIFEST}.tmp")
    )


def format1_files(target: Path) -> list[str] | None:
    """The files of a format-1 index in ``target`` (its ``manifest.json`` is a plain file),
    or None when there is no such manifest.

    Raises:
        UsageError: ``manifest.json`` is not a valid format-1 xenc manifest (a foreign file is
            never cleaned up), or lists a file that format 1 never wrote.
    """
    path = target / MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    refuse = (f"{param('index_dir')} {target}: {path.name} is not an xenc index manifest; "
              "refusing to write there (move it away, or choose another directory)")
    try:
        manifest = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        raise UsageError(refuse) from None
    if not isinstance(manifest, dict) or manifest.get("format") != store.FORMAT:
        raise UsageError(refuse)
    files = manifest.get("files", {})
    if manifest.get("format_version") != 1 or not isinstance(files, dict) or any(
            not plain_name(n) or not V1_FILES.fullmatch(n) for n in files):
        raise UsageError(f"{param('index_dir')} {target}: {path.name} is no format-1 xenc "
                         "manifest this version can replace; refusing to write there")
    return list(files)


def _check_replaceable(target: Path) -> None:
    if not target.is_dir():
        return
    lost = store.orphaned(target)
    if lost is not None and store.live_generation(target) is None:
        raise lost
    if format1_files(target) is not None or store.live_generation(target) is not None:
        return
    if any(not _owned(p.name) for p in target.iterdir()):
        raise UsageError(
            f"{param('index_dir')} {target} exists, is not empty and is not an xenc index; "
            "refusing to replace it"
        )


class IndexWriter:
    """Stages and publishes generations of one index directory; made by :func:`index_writer`.

    Only one exists per directory at a time (it holds the writer lock).
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self._staged: Path | None = None
        v1 = format1_files(target)  # a format-1 index, replaced whole once published
        self._v1_files: list[str] = [] if v1 is None else [*v1, MANIFEST]

    def live(self) -> Path | None:
        """The published generation (the one readers open), if any."""
        return store.live_generation(self.target)

    def clean(self) -> None:
        """Remove what killed writers left (temporary names) and generations nobody reads.

        Raises:
            IndexFormatError: ``CURRENT`` is missing while generations exist, or names a
                generation that is not there: nothing is removed or built over.
        """
        live = store.live_generation(self.target)
        if live is None:
            lost = store.orphaned(self.target)
            if lost is not None:
                raise lost
        elif not real_directory(live):
            raise corrupted(self.target / CURRENT, f"names {live.name}, which is missing")
        for p in self.target.iterdir():
            if ".tmp" in p.name and _owned(p.name):
                _remove(p)
        self.collect_garbage()

    def collect_garbage(self) -> None:
        """Remove every generation but the live one, unless a reader holds it open."""
        live = store.live_generation(self.target)
        for p in store.generations(self.target):
            if p != live:
                claim = try_claim(p / MANIFEST)
                if claim is not None:
                    try:
                        shutil.rmtree(p, ignore_errors=True)
                    finally:
                        claim.close()

    def stage(self) -> Path:
        """A new, empty temporary directory for the next generation."""
        numbers = [int(m.group(1)) for p in self.target.iterdir() if (m := GEN_RE.match(p.name))]
        name = f"{generation_name(max(numbers, default=0) + 1)}.tmp-{os.getpid()}"
        self._staged = self.target / name
        self._staged.mkdir()
        return self._staged

    def publish(self, staged: Path, manifest: dict[str, Any]) -> Path:
        """Record file digests, write the manifest last, fsync, and switch ``CURRENT`` to it."""
        manifest["files"] = {
            p.name: digests.file_digest(p) for p in sorted(staged.iterdir()) if p.name != MANIFEST
        }
        (staged / MANIFEST).write_bytes(
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )
        for p in staged.iterdir():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(staged)
        store.kill_point("staged")
        final = self.target / staged.name.split(".tmp", 1)[0]
        os.replace(staged, final)
        self._staged = None
        _fsync_dir(self.target)
        store.kill_point("renamed")
        self._point(CURRENT, final.name + "\n")
        store.kill_point("published")
        self._link_manifest(final)
        self.collect_garbage()
        return final

    def _point(self, name: str, text: str) -> None:
        tmp = self.target / f"{name}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.target / name)
        _fsync_dir(self.target)

    def _link_manifest(self, generation: Path) -> None:
        """Point ``DIR/manifest.json`` at the live manifest (for people and tools)."""
        tmp = self.target / f"{MANIFEST}.tmp-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(f"{generation.name}/{MANIFEST}", tmp)
        os.replace(tmp, self.target / MANIFEST)
        for name in self._v1_files:
            path = self.target / name
            if name != MANIFEST and path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
        self._v1_files = []

    def discard(self) -> None:
        if self._staged is not None:
            _remove(self._staged)
            self._staged = None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def index_writer(
    target: str | os.PathLike[str], *, wait: float = 0.0
) -> Iterator[IndexWriter]:
    """Hold the writer lock of ``target`` (created if needed) and yield its :class:`IndexWriter`.

    Stale temporary directories of killed writers are removed first. On the way out an
    unpublished staging directory is removed; if the directory then holds no index at all, the
    lock file goes too, and so does the directory if this call created it.

    Raises:
        UsageError: ``target`` is a file, or a non-empty directory that is not an xenc index.
        IndexLockedError: Another writer holds the lock for more than ``wait`` seconds.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{param('index_dir')} {target} exists and is not a directory")
    _check_replaceable(target)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    lock = WriterLock(target / LOCK, wait)
    try:
        lock.acquire()
    except BaseException:
        if created:
            _rmdir_quietly(target)
        raise
    writer = IndexWriter(target)
    try:
        writer.clean()
        yield writer
    finally:
        writer.discard()
        empty = store.live_generation(target) is None and not (target / MANIFEST).exists()
        lock.release(unlink=empty)
        if empty and created:
            _rmdir_quietly(target)


def _rmdir_quietly(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


