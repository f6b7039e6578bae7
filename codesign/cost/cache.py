"""A persistent SQLite cache of layer costs keyed by engine, arch hash and layer shape.

The cache is disposable: a damaged file (garbage, a truncated or foreign database, an entry that does not
decode) is moved aside with one warning line naming it and a fresh cache takes its place; a file that
cannot be opened or written at all (a read-only folder, a full disk) leaves this process caching in
memory, again with one warning line. Neither ever stops a profile or a search.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from codesign.cost.layer_cost import LayerCost
from codesign.paths import cache_home

try:
    import fcntl
except ImportError:  # Windows: moving a damaged cache aside is then not serialised between processes
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")

# Bump when a cost engine's numbers change, so stale entries are never served.
MODEL_VERSION = 2
_COLUMNS = ("engine", "arch", "layer", "cost", "created")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS layer_costs (
    engine TEXT NOT NULL,
    arch TEXT NOT NULL,
    layer TEXT NOT NULL,
    cost TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (engine, arch, layer)
)
"""
_SIDE_FILES = ("-wal", "-shm", "-journal")
_ERRORS = (sqlite3.Error, OSError)


class DamagedCache(sqlite3.DatabaseError):
    """The cache file is not a layer-cost database in good order (internal: it is moved aside)."""


def default_cache_path() -> Path:
    """$CODESIGN_CACHE, else ~/.cache/codesign/layer_costs.sqlite."""
    env = os.environ.get("CODESIGN_CACHE")
    if env:
        return Path(env)
    return cache_home() / "layer_costs.sqlite"


def _damage(exc: Exception) -> bool:
    """Whether a database error means the file itself is bad (rather than busy, read-only or on a full disk)."""
    if isinstance(exc, DamagedCache):
        return True
    name = getattr(exc, "sqlite_errorname", "")
    # CORRUPT and NOTADB: a damaged or foreign file; ERROR from our own fixed statements: a foreign schema
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or name == "SQLITE_ERROR"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _busy(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def _warn(message: str) -> None:
    print(f"codesign: warning: {message}", file=sys.stderr, flush=True)


class CostCache:
    """Layer costs shared by every process on the machine (WAL mode: many readers, serialised writers)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_cache_path()
        self._memory: dict[tuple[str, str, str], LayerCost] = {}
        self._db: sqlite3.Connection | None = None
        self._inode: tuple[int, int] | None = None  # the file this connection opened (to move only that one)
        self._unusable = False  # the file could not be used: memory only from then on
        self._guard(lambda: None, None)

    # -- opening, checking and replacing the file

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        stat = self.path.stat()
        self._inode = (stat.st_dev, stat.st_ino)
        self._retry(lambda: self._sql("PRAGMA journal_mode=WAL"))
        # A disposable cache: commits need not wait for the disk (WAL keeps the file consistent; a power cut
        # loses at most the last entries). With the default FULL, each new layer's commit waited on an fsync.
        self._retry(lambda: self._sql("PRAGMA synchronous=NORMAL"))
        self._retry(lambda: self._sql(_SCHEMA))
        columns = tuple(row[1] for row in self._sql("PRAGMA table_info(layer_costs)").fetchall())
        if columns != _COLUMNS:
            raise DamagedCache(f"its layer_costs table has columns {', '.join(columns)}")
        # quick_check reads every page once (80 ms for 40 MB, 20,000 entries): damage shows here, not mid-search
        check = self._retry(lambda: self._sql("PRAGMA quick_check(1)").fetchone())
        if check is None or check[0] != "ok":
            found = " ".join(str(check[0] if check else "no answer").split())
            raise DamagedCache(f"SQLite's quick_check: {found[:120]}")

    def _sql(self, statement: str, parameters: tuple = ()) -> sqlite3.Cursor:
        if self._db is None:
            raise sqlite3.OperationalError("the cache is closed")
        return self._db.execute(statement, parameters)

    def _drop_connection(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise moving the file aside between processes (a lock file beside the cache)."""
        if fcntl is None:
            yield
            return
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _move_aside(self, why: str) -> None:
        """Move the damaged file aside (unless another process already did) and say so in one line."""
        opened, self._inode = self._inode, None
        self._drop_connection()
        with self._exclusive():
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                return
            if opened is not None and (stat.st_dev, stat.st_ino) != opened:
                return  # another process moved the damaged file away and started a fresh one already
            aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
            os.replace(self.path, aside)
            for suffix in _SIDE_FILES:  # the journal of a damaged database is of no use to a fresh one
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        _warn(f"layer-cost cache {self.path} is damaged ({why}); moved it to {aside.name} and started a fresh one")

    def _guard(self, operation: Callable[[], T], fallback: T) -> T:
        """Run a database operation (connecting first if needed). A damaged file is moved aside and the
        operation tried once more on a fresh one; an unusable file leaves this process caching in memory."""
        for fresh in (False, True):
            try:
                if self._db is None:
                    if self._unusable:
                        return fallback
                    self._connect()
                return operation()
            except _ERRORS as exc:
                why = _first_line(exc)
                if fresh or not _damage(exc):
                    break
            try:
                self._move_aside(why)
            except OSError as exc:
                why = f"{why}; moving it aside failed: {_first_line(exc)}"
                break
        self._unusable = True
        self._drop_connection()
        _warn(f"layer-cost cache {self.path}: {why}; costs are kept in memory only this run")
        return fallback

    @staticmethod
    def _retry(operation: Callable[[], T], attempts: int = 20) -> T:
        for attempt in range(attempts):
            try:
                return operation()
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- the cache itself

    @staticmethod
    def key(engine: str, arch_digest: str, layer_key: tuple) -> tuple[str, str, str]:
        """The cache key of one layer's cost."""
        return f"{engine}/v{MODEL_VERSION}", arch_digest, json.dumps(list(layer_key))

    def get(self, key: tuple[str, str, str]) -> LayerCost | None:
        """The stored cost, or None."""
        hit = self._memory.get(key)
        if hit is not None:
            return hit

        def read() -> LayerCost | None:
            row = self._retry(
                lambda: self._sql("SELECT cost FROM layer_costs WHERE engine=? AND arch=? AND layer=?", key).fetchone()
            )
            if row is None:
                return None
            try:
                return LayerCost.from_dict(json.loads(row[0]))
            except (ValueError, TypeError, KeyError) as exc:
                raise DamagedCache(f"an entry does not decode: {_first_line(exc)[:80]}") from None

        cost = self._guard(read, None)
        if cost is not None:
            self._memory[key] = cost
        return cost

    def put(self, key: tuple[str, str, str], cost: LayerCost) -> None:
        """Store a cost (last writer wins; all writers compute the same value)."""
        self._memory[key] = cost
        row = (*key, json.dumps(cost.to_dict()), time.time())
        self._guard(
            lambda: self._retry(lambda: self._sql("INSERT OR REPLACE INTO layer_costs VALUES (?, ?, ?, ?, ?)", row)),
            None,
        )

    def __len__(self) -> int:
        return self._guard(lambda: self._retry(lambda: self._sql("SELECT COUNT(*) FROM layer_costs").fetchone()[0]), 0)

    def close(self) -> None:
        """Close the database connection."""
        self._drop_connection()
