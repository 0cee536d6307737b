"""Errors a user can act on: each carries one line of text and the exit status the CLI uses."""
from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Callable, Iterable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
SURFACE = {"cli": False}  # set by the command line: messages then name its flags, not Python's arguments


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


def did_you_mean_any(word: object, choices: Iterable[str]) -> str:
    """:func:`did_you_mean` for a value that may not be a string (then: no suggestion)."""
    return did_you_mean(word, choices) if isinstance(word, str) else ""


def option(flag: str, argument: str = "") -> str:
    """How a message names an option: the CLI's ``flag`` (``--out``) from the command line, else the
    Python ``argument`` of the function called (``out``; or with a value: ``force=True``)."""
    return flag if SURFACE["cli"] else (argument or flag.lstrip("-").replace("-", "_"))


def option_value(flag: str, value: object, argument: str = "") -> str:
    """An option with its value, as a message names it: ``--lr 0.001`` or ``lr=0.001``."""
    return f"{flag} {value}" if SURFACE["cli"] else f"{option(flag, argument)}={value!r}"


def checked_call(fn: F) -> F:
    """A public function that refuses an unknown keyword or a wrong number of arguments as a UsageError
    (one line naming the options it knows), not a raw TypeError."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            known = [p.name for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
            unknown = [k for k in kwargs if k not in signature.parameters]
            if unknown:
                hint = did_you_mean(unknown[0], known)
                raise UsageError(f"zoo.{fn.__name__}() has no option {unknown[0]!r}.{hint} "
                                 f"Its options: {', '.join(known)}") from None
            raise UsageError(f"zoo.{fn.__name__}(): {exc}") from None
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
