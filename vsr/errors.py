"""The one exception type that the CLI turns into a one-line error and a non-zero exit."""


class VSRError(Exception):
    """A user-facing error: the message is one line that says what went wrong and what to do."""
