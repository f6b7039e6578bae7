"""User-facing errors: each one prints as a single line naming the file or field and what to do."""


class CodesignError(Exception):
    """A problem with the user's input, reported as one line (the CLI exits with code 2)."""
