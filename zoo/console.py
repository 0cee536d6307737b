"""The command line's console: one-line errors with their exit status (:class:`ZooGroup`), and logging.

zoo's library code logs to the ``zoo`` logger and never configures it; the CLI calls
:func:`configure_logging` to show progress and warnings on stderr (results go to stdout)."""
from __future__ import annotations

import logging
import os
import sys
from typing import Any, List, Optional

import click

from .errors import Interrupted, ZooError, worded


class _LineFormatter(logging.Formatter):
    """Progress lines as they are; warnings and errors with their level in front."""

    def format(self, record: logging.LogRecord) -> str:
        message = worded(getattr(record, "zoo_raw", record.getMessage()), cli=True)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def configure_logging() -> None:
    """The ``zoo`` logger on the terminal: progress lines and warnings on stderr, so that stdout holds only a
    command's results (a table, JSON, the line saying what was written) whether or not it is piped."""
    logger = logging.getLogger("zoo")
    if logger.handlers:
        return
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(_LineFormatter())
    logger.addHandler(err)
    logger.setLevel(logging.INFO)


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _rank_prefix() -> str:
    """Under torchrun, errors of ranks other than 0 say which rank they come from."""
    rank, world = os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "1")
    return f"[rank {rank}] " if world not in ("", "0", "1") and rank.isdigit() and int(rank) > 0 else ""


def _fail(message: str, code: int) -> None:
    # one line whatever the message holds: a newline in a name must not print a second "Error:" line
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    click.echo(f"{_rank_prefix()}Error: {message}", err=True)
    sys.exit(code)


class ZooGroup(click.Group):
    """A click group whose errors are one line each (click's own usage errors included), and whose help lists
    every command as it is typed (``zoo eval NAME|PATH``), with its short help, in the order they were added."""

    def list_commands(self, ctx: click.Context) -> List[str]:
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            with click.Context(command, info_name=name, parent=ctx) as sub:
                pieces = [p for p in command.collect_usage_pieces(sub) if p != "[OPTIONS]"]
            rows.append((" ".join([ctx.command_path, name, *pieces]), command.get_short_help_str(limit=60)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # before click turns it into a bare Abort: keep what it says
            raise Interrupted(str(exc) or "interrupted") from None

    def main(self, args: Optional[List[str]] = None, prog_name: Optional[str] = None, **extra: Any) -> Any:
        configure_logging()
        try:
            result = super().main(args=args, prog_name=prog_name or "zoo", standalone_mode=False, **extra)
        except click.exceptions.Abort:
            _fail("aborted", 130)
        except _NO_ARGS_IS_HELP as exc:  # plain `zoo` (click >= 8.2): show help, as click does
            click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
            _fail(exc.format_message() + hint, exc.exit_code)
        except ZooError as exc:
            if exc.from_main:  # rank 0 printed this one already
                sys.exit(exc.exit_code)
            _fail(exc.cli_message(), exc.exit_code)
        except OSError as exc:  # disk full, permission denied...: the files written before stay intact
            where = f" ({exc.filename})" if exc.filename else ""
            _fail(f"{exc.strerror or exc}{where}; files written before this are intact", 1)
        except KeyboardInterrupt as exc:
            _fail(str(exc) or "interrupted", 130)
        if isinstance(result, int):
            sys.exit(result)
        return result
