"""User-facing errors: the CLI turns each into one line and a non-zero exit.

The library says what went wrong in its own terms; it never names a command-line flag. Where an error is about one
setting, `setting` names it (the config field, e.g. "scale", "overwrite") and the CLI shows it as the flag the
user typed; `value` is the value given for it, when the message is about that value. `hint` says what to do,
in words that hold for library callers too.
"""

from __future__ import annotations


class VSRError(Exception):
    """A user-facing error: a one-line message, an optional hint (what to do) and the setting it is about."""

    def __init__(self, message: str, *, hint: str | None = None, setting: str | None = None,
                 value: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.setting = setting
        self.value = value

    def render(self, setting_name: str | None = None, hint: str | None = None) -> str:
        """The one line, with the setting shown as `setting_name` (the CLI passes the flag) and `hint` in place
        of the library's own, when given."""
        text = self.message
        if self.setting is not None and self.value is not None:
            text = f"{setting_name or self.setting} {self.value}: {text}"
        hint = hint or self.hint
        return f"{text}; {hint}" if hint else text

    def __str__(self) -> str:
        return self.render()


class InputError(VSRError):
    """A path or value given by the caller that cannot be used: missing file, bad size, output over the input."""


class MediaError(VSRError):
    """A file or stream that cannot be probed, decoded, encoded or muxed."""


class ModelError(VSRError):
    """A model name, weights file or checkpoint that does not exist, does not load or does not fit."""


class ConfigError(VSRError):
    """Settings that do not fit together or do not fit this machine."""
