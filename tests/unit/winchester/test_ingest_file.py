"""winchester.ingest_file: files and pipes, line numbers, idle ticks, memory."""

from __future__ import annotations

import io
import os
import threading
import tracemalloc
from pathlib import Path
from typing import cast

from winchester.ingest import IngestResult, TriggerManager
from winchester.ingest_file import ingest_lines, read_lines


def test_files_and_stdin_keep_their_own_line_numbers(tmp_path: Path) -> None:
    first = tmp_path / "a.jsonl"
    first.write_bytes(b"one\n\ntwo\n")
    stdin = io.BytesIO(b"three\nfour")
    assert list(read_lines([str(first), "-"], stdin, idle=0.1)) == [
        (str(first), 1, b"one\n"),
        (str(first), 3, b"two\n"),
        ("<stdin>", 1, b"three\n"),
        ("<stdin>", 2, b"four"),
    ]


def test_a_pipe_is_read_as_it_arrives_with_long_lines_and_idle_ticks() -> None:
    read_end, write_end = os.pipe()
    long_line = b"x" * 200_000 + b"\n"  # several reads
    quiet = threading.Event()

    def writer() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(b"first\n\n" + long_line[:1000])
            pipe.flush()
            pipe.write(long_line[1000:])
            pipe.flush()
            quiet.wait(10)  # until the reader has seen an idle tick
            pipe.write(b"last")

    thread = threading.Thread(target=writer)
    thread.start()
    got = []
    with os.fdopen(read_end, "rb") as stdin:
        for item in read_lines(["-"], stdin, idle=0.05):
            if item is None:
                quiet.set()
            got.append(item)
    thread.join(10)
    assert [item for item in got if item is not None] == [
        ("<stdin>", 1, b"first\n"),
        ("<stdin>", 3, long_line),
        ("<stdin>", 4, b"last"),
    ]
    assert got[-2] is None  # "last" came only after the pipe went quiet


class _Discarding:
    """Stands in for the trigger manager: counts each batch, keeps nothing."""

    def add_notifications(self, bodies: list[bytes]) -> IngestResult:
        return IngestResult(received=len(bodies), saved=len(bodies))


def _peak_bytes(path: Path) -> int:
    tracemalloc.start()
    try:
        summary = ingest_lines(
            cast(TriggerManager, _Discarding()),
            read_lines([str(path)], io.BytesIO()),
            batch_size=100,
            on_reject=lambda *_: None,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.lines == summary.saved > 0
    return peak


def test_memory_stays_flat_in_the_file_size(tmp_path: Path) -> None:
    line = b'{"event_type": "x", "payload": "' + b"p" * 1000 + b'"}\n'
    small, large = tmp_path / "2k.jsonl", tmp_path / "20k.jsonl"
    small.write_bytes(line * 2_000)  # 2 MB
    large.write_bytes(line * 20_000)  # 20 MB: reading it whole would show
    assert _peak_bytes(large) < 2 * _peak_bytes(small) + 256_000
