"""stacktach.logsetup: one logging set-up for every command."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacktach.exceptions import ConfigError
from stacktach.logsetup import check_logging_config, setup_logging

VALID = """\
[loggers]
keys = root
[handlers]
keys = file
[formatters]
keys = plain
[logger_root]
level = INFO
handlers = file
[handler_file]
class = FileHandler
args = ({path!r},)
formatter = plain
[formatter_plain]
format = %(levelname)s %(message)s
"""


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_log_file_follows_logrotate(tmp_path: Path) -> None:
    log = tmp_path / "yagi.log"
    setup_logging(level="INFO", file=str(log))
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.handlers.WatchedFileHandler)
    logging.getLogger("t").info("before")
    log.rename(tmp_path / "yagi.log.1")
    logging.getLogger("t").info("after")
    assert "after" in log.read_text()
    assert "after" not in (tmp_path / "yagi.log.1").read_text()


def test_debug_forces_debug_level() -> None:
    setup_logging(level="WARNING", debug=True)
    assert logging.getLogger().level == logging.DEBUG


def test_a_valid_file_config_is_used(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    config = tmp_path / "logging.conf"
    config.write_text(VALID.format(path=str(log)))
    setup_logging(config_file=config)
    logging.getLogger("x").warning("hello")
    assert "WARNING hello" in log.read_text()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (None, "not found"),
        ("[loggers]\nkeys=root\n", "no [handlers], [formatters] section"),
        ("[loggers]\nkeys=x\n[handlers]\nkeys=\n[formatters]\nkeys=\n", "root"),
        (VALID.replace("[handler_file]", "[handler_other]"), "[handler_file]"),
        (VALID.replace("formatter = plain", "formatter = fancy"), "'fancy'"),
        ("\x00\x01 not ini", "not a logging configuration file"),
    ],
)
def test_a_missing_or_broken_file_is_one_config_error(
    tmp_path: Path, text: str | None, words: str
) -> None:
    config = tmp_path / "logging.conf"
    if text is not None:
        config.write_text(text.replace("{path!r}", "'x.log'"))
    with pytest.raises(ConfigError) as caught:
        check_logging_config(config, source="yagi.conf", key="[logging] config_file")
    message = str(caught.value)
    assert words in message
    assert message.startswith("yagi.conf: [logging] config_file: ")
    assert "\n" not in message


def test_an_unwritable_log_file_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot open log file"):
        setup_logging(file=str(blocker / "x.log"), key="log_file")
