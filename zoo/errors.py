"""Errors a user can act on: each carries one line of text and the exit status the CLI uses.

A message names an option the way the interface it reaches names it: ``--out`` on the command line, ``out`` (or
``force=True``) in Python. The core does not know which: :func:`option` writes both forms into the text, and the
interface picks one when it shows the message (``str(exc)`` and the ``zoo`` logger: Python's; the command line:
:meth:`ZooError.cli_message` and its log formatter). A message built from another (``f"...{exc}"``) keeps both.
"""
from __future__ import annotations

import difflib
import functools
import inspect
import logging
import re
from typing import Any, Callable, Iterable, Optional, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_START, _SPLIT, _END = "\x02", "\x1f", "\x03"  # an option's two wordings: START cli SPLIT python END
_WORDING = re.compile("\x02([^\x02\x03\x1f]*)\x1f([^\x02\x03\x1f]*)\x03")


def worded(text: str, *, cli: bool) -> str:
    """``text`` with each option named as the command line (``cli``) or Python names it."""
    return _WORDING.sub(lambda m: m.group(1) if cli else m.group(2), text)


def _both(cli: str, python: str) -> str:
    clean = lambda t: re.sub("[\x02\x03\x1f]", "?", t)  # noqa: E731  (a user's text cannot forge a wording)
    return f"{_START}{clean(cli)}{_SPLIT}{clean(python)}{_END}"


class ZooError(Exception):
    """Base class: the message is shown to the user as one line, without a traceback."""

    exit_code = 1
    from_main = False  # under torchrun: raised on every rank because rank 0 raised it (and said so)

    def raw(self) -> str:
        """The message with both wordings of each option in it."""
        return str(self.args[0]) if len(self.args) == 1 else Exception.__str__(self)

    def __str__(self) -> str:
        return worded(self.raw(), cli=False)

    def __format__(self, spec: str) -> str:
        return format(self.raw(), spec)  # both wordings: the message it goes into is shown later

    def cli_message(self) -> str:
        """The message as the command line shows it (its flags)."""
        return worded(self.raw(), cli=True)


class UsageError(ZooError):
    """The caller asked for something that cannot be (bad name, bad flag value): exit status 2."""

    exit_code = 2


class UnknownModelError(UsageError, KeyError):
    """A zoo name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return worded(self.raw(), cli=False)


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
    """How a message names an option: the CLI's ``flag`` (``--out``) on the command line, the Python
    ``argument`` of the function called (``out``; or with a value: ``force=True``) in Python."""
    return _both(flag, argument or flag.lstrip("-").replace("-", "_"))


def option_value(flag: str, value: object, argument: str = "") -> str:
    """An option with its value, as a message names it: ``--lr 0.001`` or ``lr=0.001``."""
    return _both(f"{flag} {value}", f"{argument or flag.lstrip('-').replace('-', '_')}={value!r}")


def setting(key: str) -> str:
    """A recipe setting as a message names it: ``--set KEY`` on the command line, ``settings['KEY']`` in Python."""
    return _both(f"--set {key}", f"settings[{key!r}]")


class _PythonWording(logging.Filter):
    """The ``zoo`` logger's records in Python's wording; the raw text kept (``zoo_raw``) for the command line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "zoo_raw"):
            record.zoo_raw = record.getMessage()
            record.msg, record.args = worded(record.zoo_raw, cli=False), ()
        return True


logging.getLogger("zoo").addFilter(_PythonWording())


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


def check_key(decorator: str, key: object) -> None:
    """A registry decorator's key: a non-empty string (one line otherwise)."""
    if not isinstance(key, str) or not key:
        raise RegistryError(f"{decorator} needs a non-empty string key, got {key!r}")


def check_registration(decorator: str, kind: str, table: dict, key: str, cls: object, base: type,
                       base_name: str, holder: Callable[[Any], type] = lambda value: value) -> None:
    """What zoo's class registries (architectures, objectives, data sources) check of a class decorated
    with ``decorator(key)``: ``key`` not taken yet (naming the class that holds it: ``holder`` of the table's
    value), and ``cls`` a subclass of ``base``; each refusal a RegistryError of one line."""
    if key in table:
        other = holder(table[key])
        raise RegistryError(f"{kind} is already registered under {key!r} ({other.__module__}.{other.__qualname__}); "
                            f"choose another key")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise RegistryError(f"{decorator}({key!r}) decorates a subclass of {base_name}, not {cls!r}")


def lookup(table: dict, key: str, kind: str, error: Optional[type] = None) -> Any:
    """``table[key]``, or one line: "Unknown <kind> 'x'. Did you mean ...?" (``error``: RegistryError by default)."""
    try:
        return table[key]
    except (KeyError, TypeError):
        hint = did_you_mean_any(key, table) or f" Known {kind}s: {', '.join(sorted(table))}."
        raise (error or RegistryError)(f"Unknown {kind} {key!r}.{hint}") from None
