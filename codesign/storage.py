"""A folder in a file system that pyarrow reaches: a local or shared path, or a URI (s3://, gs://, file://, ...).

What Ray Tune writes a search's checkpoints to (its `storage_path`), so that trials on any node of a cluster
and a user on another machine see the same files. Only copying whole small files is needed here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from codesign.errors import CodesignError


def is_uri(location: str | Path) -> bool:
    """Whether `location` names a file system by scheme (s3://bucket/x, file:///x) rather than a plain path."""
    return "://" in str(location)


@dataclass(frozen=True)
class Storage:
    """A folder given as an absolute path or a URI; its files are read and written through pyarrow.fs."""

    location: str

    @classmethod
    def at(cls, location: str | Path) -> Storage:
        """The folder at `location` (a relative path is made absolute: Ray and pyarrow need that)."""
        text = str(location)
        return cls(text.rstrip("/") if is_uri(text) else str(Path(text).resolve()))

    @cached_property
    def _fs_path(self) -> tuple[Any, str]:
        import pyarrow.fs

        try:
            fs, path = pyarrow.fs.FileSystem.from_uri(self.location)
        except Exception as exc:  # an unknown scheme, no credentials, no network: say where
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CodesignError(f"storage {self.location}: cannot reach it ({first})") from None
        return fs, path.rstrip("/") or "/"

    @property
    def fs(self) -> Any:
        """The pyarrow FileSystem."""
        return self._fs_path[0]

    @property
    def path(self) -> str:
        """The folder's path inside its file system (what Tune's Checkpoint.path is relative to)."""
        return self._fs_path[1]

    @property
    def local_path(self) -> Path | None:
        """The folder as a local path, when the file system is the local one."""
        import pyarrow.fs

        return Path(self.path) if isinstance(self.fs, pyarrow.fs.LocalFileSystem) else None

    def child(self, *parts: str) -> Storage:
        """A folder inside this one."""
        return Storage("/".join([self.location, *parts]))

    def relative(self, fs_path: str) -> str:
        """`fs_path` (a path in this file system, e.g. a checkpoint's) relative to this folder."""
        return posixpath.relpath(fs_path, self.path)

    def _file(self, name: str) -> str:
        return posixpath.join(self.path, name)

    @contextmanager
    def _reaching(self, name: str) -> Iterator[None]:
        """A file system error (no network, no permission) as one line naming the file."""
        try:
            yield
        except OSError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CodesignError(f"{self.location}/{name}: {first}") from None

    def make(self) -> None:
        """Create the folder (and its parents) if need be: one line when it cannot be reached or written."""
        with self._reaching(""):
            self.fs.create_dir(self.path, recursive=True)

    def exists(self, name: str) -> bool:
        """Whether the file `name` (relative) is there."""
        import pyarrow.fs

        with self._reaching(name):
            return bool(self.fs.get_file_info(self._file(name)).type == pyarrow.fs.FileType.File)

    def upload(self, local: Path, name: str) -> None:
        """Copy a local file to `name` (relative), replacing it whole (a reader never sees half a file)."""
        target = self._file(name)
        with self._reaching(name):
            self.fs.create_dir(posixpath.dirname(target), recursive=True)
            with self.fs.open_output_stream(target + ".part") as dst:
                dst.write(local.read_bytes())
            self.fs.move(target + ".part", target)

    def download(self, name: str, local: Path) -> bool:
        """Copy `name` (relative) to a local file; False when it is not there."""
        if not self.exists(name):
            return False
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        with self._reaching(name), self.fs.open_input_stream(self._file(name)) as src:
            tmp.write_bytes(src.read())
        tmp.replace(local)  # a reader never sees half a file
        return True
