"""Send A.I.R.'s standard-library log records to loguru, the logger lmms-eval prints through.

lmms-eval shows only what goes through loguru; our modules log with `logging` (no dependency on
loguru outside the lmms-eval shell). `route_logs_to_loguru()` is called when an lmms-eval model of
this package is constructed, never at import: it adds one bridge handler to the package loggers
("air", "baselines", "benchmark_utils"), lets their INFO records through when no level was set, and
stops them from also reaching the root logger's handlers (open_clip's first `logging.info` installs
one, which would print every line a second time). `restore_std_logging()` undoes all of it.
"""

from __future__ import annotations

import inspect
import logging

#: Top-level loggers of this package.
PACKAGE_LOGGERS = ("air", "baselines", "benchmark_utils")


class LoguruBridge(logging.Handler):
    """A logging.Handler that re-emits each record through loguru at the same level, with its traceback."""

    def emit(self, record: logging.LogRecord) -> None:
        from loguru import logger

        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # point loguru at the frame that called logging, so {name}:{function}:{line} are the caller's
        frame, depth = inspect.currentframe(), 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        try:
            logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())
        except Exception:  # a logging failure must never end a run
            self.handleError(record)


#: Loggers whose level route_logs_to_loguru set (restored to NOTSET by restore_std_logging).
_LEVEL_SET: set[str] = set()


def route_logs_to_loguru(names: tuple[str, ...] = PACKAGE_LOGGERS, level: int = logging.INFO) -> None:
    """Install the bridge once on each named logger, without propagation; set `level` where none was set."""
    for name in names:
        log = logging.getLogger(name)
        if not any(isinstance(handler, LoguruBridge) for handler in log.handlers):
            log.addHandler(LoguruBridge())
        log.propagate = False
        if log.level == logging.NOTSET:
            log.setLevel(level)
            _LEVEL_SET.add(name)


def restore_std_logging(names: tuple[str, ...] = PACKAGE_LOGGERS) -> None:
    """Remove the bridge: the named loggers propagate again, with the levels they had before routing."""
    for name in names:
        log = logging.getLogger(name)
        for handler in [h for h in log.handlers if isinstance(h, LoguruBridge)]:
            log.removeHandler(handler)
        log.propagate = True
        if name in _LEVEL_SET:
            log.setLevel(logging.NOTSET)
            _LEVEL_SET.discard(name)
