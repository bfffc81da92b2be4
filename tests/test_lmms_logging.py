"""air/lmms_logging.py: the package's logging records reach loguru (lmms-eval's output) exactly once."""

import logging

import pytest

loguru = pytest.importorskip("loguru")

from air.lmms_logging import LoguruBridge, restore_std_logging, route_logs_to_loguru  # noqa: E402


@pytest.fixture
def loguru_lines():
    lines: list[str] = []
    sink = loguru.logger.add(lambda message: lines.append(str(message)), level="DEBUG",
                             format="{level}|{name}:{function}|{message}")
    yield lines
    loguru.logger.remove(sink)
    restore_std_logging()


def test_records_reach_loguru_once_with_level_and_caller(loguru_lines, caplog):
    root_seen = []

    class RootSpy(logging.Handler):
        def emit(self, record):
            root_seen.append(record.getMessage())

    spy = RootSpy()
    logging.getLogger().addHandler(spy)  # like the handler open_clip's first logging.info installs
    try:
        route_logs_to_loguru()
        route_logs_to_loguru()  # idempotent: one bridge per logger
        assert sum(isinstance(h, LoguruBridge) for h in logging.getLogger("air").handlers) == 1

        def some_function():
            logging.getLogger("air.hvp").info("resume: %d reused {not a format field}", 3)
            logging.getLogger("benchmark_utils.recognition").warning("unknown task")
            logging.getLogger("air.traces").debug("below INFO")

        some_function()
    finally:
        logging.getLogger().removeHandler(spy)
    assert loguru_lines == ["INFO|test_lmms_logging:some_function|resume: 3 reused {not a format field}\n",
                            "WARNING|test_lmms_logging:some_function|unknown task\n"]
    assert root_seen == [], "no second copy through the root logger's handlers"


def test_restore_gives_back_plain_logging(loguru_lines, caplog):
    route_logs_to_loguru()
    restore_std_logging()
    assert not any(isinstance(h, LoguruBridge) for h in logging.getLogger("air").handlers)
    assert logging.getLogger("air").propagate and logging.getLogger("air").level == logging.NOTSET
    with caplog.at_level("INFO", logger="air"):
        logging.getLogger("air.hvp").info("plain again")
    assert "plain again" in caplog.text and loguru_lines == []


def test_an_explicit_level_is_kept(loguru_lines):
    logging.getLogger("baselines").setLevel(logging.ERROR)
    try:
        route_logs_to_loguru()
        logging.getLogger("baselines.uniform").warning("hidden by the user's level")
        assert loguru_lines == []
        restore_std_logging()
        assert logging.getLogger("baselines").level == logging.ERROR
    finally:
        logging.getLogger("baselines").setLevel(logging.NOTSET)
