"""Errors a user can act on: each carries one line of text and the exit status the CLI uses."""
from __future__ import annotations

import difflib
from typing import Iterable


class ZooError(Exception):
    """Base class: the message is shown to the user as one line, without a traceback."""

    exit_code = 1
    from_main = False  # under torchrun: raised on every rank because rank 0 raised it (and said so)


class UsageError(ZooError):
    """The caller asked for something that cannot be (bad name, bad flag value): exit status 2."""

    exit_code = 2


class UnknownModelError(UsageError, KeyError):
    """A zoo name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class RegistryError(UsageError):
    """registry.json (or a model's embedded entry) is malformed."""


class DataError(ZooError):
    """A data file is missing, corrupted or truncated."""


class WeightsError(ZooError):
    """A weights file is missing, unreadable or belongs to another model."""


class TrainingError(ZooError):
    """Training cannot go on (non-finite loss, unusable state)."""


class Interrupted(ZooError):
    """Ctrl-C: exit status 130, as a shell reports a process ended by SIGINT."""

    exit_code = 130


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' Did you mean 'x'?' (or 'x' or 'y'), built like click's, or '' when nothing is close."""
    matches = difflib.get_close_matches(word, sorted(choices), n=3, cutoff=0.6)
    if not matches:
        return ""
    quoted = [repr(m) for m in matches]
    if len(quoted) == 1:
        return f" Did you mean {quoted[0]}?"
    return f" Did you mean {', '.join(quoted[:-1])} or {quoted[-1]}?"


def shown(value: object) -> str:
    """A name or path as an error message shows it: as it is when it is plain, quoted with escapes
    when it holds a control character (a newline in a name must not fake a second line)."""
    text = str(value)
    return text if text.isprintable() else repr(text)


def first_line(exc: BaseException) -> str:
    """An exception's message as one line (its type's name when it has none)."""
    text = str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__
