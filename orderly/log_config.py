"""How the process logs: text (as before) or JSON lines (ORDERLY_LOG_FORMAT=json), for Orderly and uvicorn alike.

Text is the default everywhere, on a terminal or not: an operator who pipes today's lines to
a file keeps them, and JSON is one setting away for a log collector. In JSON every line goes
to stderr, uvicorn's access log included (uvicorn writes it to stdout in text); stdout keeps
only what the commands print for people (the address `orderly serve` listens on).
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from uvicorn.config import LOGGING_CONFIG

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, log_format: str) -> None:
    """Configure the root logger (and uvicorn's) for the format."""
    if log_format == "json":
        logging.config.dictConfig(json_logging(level))
    else:
        logging.basicConfig(level=level, format=TEXT_FORMAT)


def uvicorn_log_config(log_format: str, level: str) -> dict[str, Any]:
    """uvicorn's log_config for the format: in text, uvicorn's own (colours on a terminal), as before."""
    return json_logging(level) if log_format == "json" else LOGGING_CONFIG


def json_logging(level: str) -> dict[str, Any]:
    """A dictConfig: every logger's records as JSON lines on stderr, the access log with its fields."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "orderly.log_format.JsonFormatter"},
            "access": {"()": "orderly.log_format.JsonAccessFormatter"},
        },
        "handlers": {
            "json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stderr"},
        },
        "root": {"handlers": ["json"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
        },
    }
