"""What `tts-local serve` prints: the service's own lines (the handlers' JSON logs, the summary), and
moto's HTTP access log only when asked (`--aws-log`): it is a line per S3 or Lambda call, most of a
session's output. The API front logs no access lines of its own (tts_local.http_api._QuietHandler), so
werkzeug's logger carries moto's alone. Its colour codes are kept for a terminal only."""

from __future__ import annotations

import logging
import re
import sys

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
ACCESS_LOGGER = "werkzeug"  # the logger moto's server (werkzeug's) writes its access log to


class _NoColour(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = _ANSI.sub("", record.getMessage()), None
        return True


def configure_access_log(show: bool) -> None:
    log = logging.getLogger(ACCESS_LOGGER)
    log.propagate = False
    if not show:  # its warnings and errors still show
        log.setLevel(logging.WARNING)
        log.addHandler(logging.StreamHandler(sys.stderr))
        return
    log.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    if not sys.stderr.isatty():
        handler.addFilter(_NoColour())
    log.addHandler(handler)
