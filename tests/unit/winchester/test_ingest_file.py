"""winchester.ingest_file.read_lines: files and pipes, line numbers, idle ticks."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

from winchester.ingest_file import read_lines


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
