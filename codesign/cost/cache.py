"""A persistent SQLite cache of layer costs keyed by engine, arch hash and layer shape."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from codesign.cost.layer_cost import LayerCost
from codesign.paths import cache_home

# Bump when a cost engine's numbers change, so stale entries are never served.
MODEL_VERSION = 2
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


def default_cache_path() -> Path:
    """$CODESIGN_CACHE, else ~/.cache/codesign/layer_costs.sqlite."""
    env = os.environ.get("CODESIGN_CACHE")
    if env:
        return Path(env)
    return cache_home() / "layer_costs.sqlite"


class CostCache:
    """Layer costs shared by every process on the machine (WAL mode: many readers, serialised writers)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        self._retry(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
        self._retry(lambda: self._db.execute(_SCHEMA))
        self._memory: dict[tuple[str, str, str], LayerCost] = {}

    @staticmethod
    def _retry(operation, attempts: int = 20):
        for attempt in range(attempts):
            try:
                return operation()
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    @staticmethod
    def key(engine: str, arch_digest: str, layer_key: tuple) -> tuple[str, str, str]:
        """The cache key of one layer's cost."""
        return f"{engine}/v{MODEL_VERSION}", arch_digest, json.dumps(list(layer_key))

    def get(self, key: tuple[str, str, str]) -> LayerCost | None:
        """The stored cost, or None."""
        hit = self._memory.get(key)
        if hit is not None:
            return hit
        row = self._retry(
            lambda: self._db.execute(
                "SELECT cost FROM layer_costs WHERE engine=? AND arch=? AND layer=?", key
            ).fetchone()
        )
        if row is None:
            return None
        cost = LayerCost.from_dict(json.loads(row[0]))
        self._memory[key] = cost
        return cost

    def put(self, key: tuple[str, str, str], cost: LayerCost) -> None:
        """Store a cost (last writer wins; all writers compute the same value)."""
        self._memory[key] = cost
        payload = json.dumps(cost.to_dict())
        self._retry(
            lambda: self._db.execute(
                "INSERT OR REPLACE INTO layer_costs VALUES (?, ?, ?, ?, ?)", (*key, payload, time.time())
            )
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM layer_costs").fetchone()[0]

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()
