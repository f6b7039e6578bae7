"""User-facing errors: each one prints as a single line naming the file or field and what to do."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


class CodesignError(Exception):
    """A problem with the user's input, reported as one line (the CLI exits with code 2)."""


class ConfigError(CodesignError):
    """A bad value in a user's file: the file, the field path inside it and what is wrong.

    `message` may hold `{field}` where the field's name goes; without it the message follows the name.
    """

    def __init__(self, source: str, path: str, message: str):
        self.source, self.path, self.message = source, path, message
        super().__init__(self._render())

    def _render(self) -> str:
        field = f"`{self.path}`" if self.path else "the file"
        if "{field}" in self.message:
            body = self.message.replace("{field}", field)
        else:
            body = f"{field} {self.message}" if self.path else self.message
        return f"{self.source}: {body}"

    def rerooted(self, source: str | None = None, prefix: str = "") -> ConfigError:
        """The same error inside field `prefix` of `source` (e.g. a spec inside a trials.csv row)."""
        path = ".".join(p for p in (prefix, self.path) if p).replace(".[", "[")
        return type(self)(source or self.source, path, self.message)


class UnbuildableDesign(ConfigError):
    """A well-formed design that cannot be built (its stages shrink the image to nothing, say).

    The search's sampler catches it and records the design as infeasible; everywhere else it is an error.
    """


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the search: its outputs are written, every finished trial is kept, --resume
    continues it. `signum` is the signal (the CLI exits with 128 + signum: 130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, trials: pd.DataFrame, signum: int = 2):
        super().__init__(message)
        self.trials = trials  # the trials table as written to trials.csv
        self.signum = signum
