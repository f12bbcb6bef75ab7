"""The service's log: one line per record; a traceback only where there is a bug."""

from __future__ import annotations

import logging
import sys

from dock.errors import DockError
from dock.main import LOG_FORMAT, OneLineFormatter


def formatted(message: str, error: BaseException) -> str:
    try:
        raise error
    except BaseException:
        record = logging.LogRecord(
            "dock.x", logging.ERROR, __file__, 1, message, (), sys.exc_info()
        )
    return OneLineFormatter(LOG_FORMAT).format(record)


def test_an_expected_failure_is_logged_in_one_line_without_traceback():
    line = formatted("bay 2 failed", DockError("recorder storage 97% full; offload it"))
    assert "\n" not in line and "Traceback" not in line
    assert line.endswith("ERROR dock.x: bay 2 failed: recorder storage 97% full; offload it")


def test_a_bug_keeps_its_traceback_and_a_multi_line_message_becomes_one_line():
    text = formatted("first\nsecond", KeyError("oops"))
    head, _, rest = text.partition("\n")
    assert head.endswith("dock.x: first | second")
    assert rest.startswith("Traceback") and "KeyError: 'oops'" in rest
