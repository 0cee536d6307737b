"""The command line's logging: zoo's library code logs to the ``zoo`` logger and never configures it;
``zoo`` (the CLI) calls :func:`configure_logging` to show progress on stdout and warnings on stderr."""
from __future__ import annotations

import logging
import sys


class _LineFormatter(logging.Formatter):
    """Progress lines as they are; warnings and errors with their level in front."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def configure_logging() -> None:
    """The ``zoo`` logger on the terminal: progress lines on stdout, warnings on stderr."""
    logger = logging.getLogger("zoo")
    if logger.handlers:
        return
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(lambda record: record.levelno < logging.WARNING)
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.WARNING)
    for handler in (out, err):
        handler.setFormatter(_LineFormatter())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
