"""User-facing errors: the CLI turns each into one line and a non-zero exit.

The library says what went wrong in its own terms and never spells a command-line flag. It names a setting by its
config name in braces (`"pass {weights} PATH"`); `str()` shows the plain name ("weights"), the CLI shows the flag
the user types ("--weights"). Where an error is about the value given for one setting, `setting` and `value` say
so and the line starts with them ("compile fast: ..."). `hint` says what to do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_SETTING = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class VSRError(Exception):
    """A user-facing error: a one-line message, an optional hint (what to do) and the setting it is about."""

    exit_code = 2  # the command line's exit status for it

    def __init__(self, message: str, *, hint: str | None = None, setting: str | None = None,
                 value: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.setting = setting
        self.value = value

    def render(self, names: Mapping[str, str] | None = None) -> str:
        """The one line, with each setting shown as `names[setting]` (the CLI passes its flags) or its own name."""
        names = names or {}

        def name(match: re.Match) -> str:
            return names.get(match.group(1), match.group(1))

        text = self.message
        if self.setting is not None and self.value is not None:
            text = f"{{{self.setting}}} {self.value}: {text}"
        if self.hint:
            text = f"{text}; {self.hint}"
        return _SETTING.sub(name, text)

    def __str__(self) -> str:
        return self.render()

    def __reduce__(self):
        # keeps hint/setting/value across pickling (a Ray worker's error reaches the driver whole)
        return (self.__class__, (self.message,), self.__dict__)


class InputError(VSRError):
    """A path or value given by the caller that cannot be used: missing file, bad size, output over the input."""


class MediaError(VSRError):
    """A file or stream that cannot be probed, decoded, encoded or muxed."""


class ModelError(VSRError):
    """A model name, weights file or checkpoint that does not exist, does not load or does not fit."""


class ConfigError(VSRError):
    """Settings that do not fit together or do not fit this machine."""


class PipeClosed(MediaError):
    """The reader of the output pipe went away (a player closed, `| head`): the stream is cut short. Its exit code
    is a shell's for a program that SIGPIPE ended (128 + 13), which is what the same run without Python's SIGPIPE
    handling would have ended with, and what scripts that watch pipelines test for."""

    exit_code = 141
