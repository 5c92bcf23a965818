"""The two record formats: exact round trips and corruption reports."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import orjson
import pytest

import shoebox
from shoebox.formats import BinaryFormat, JsonFormat, Record
from shoebox.formats.binary import HEADER

from .conftest import BODIES, NOTIFICATION

META = {"queue": "monitor.info", "ключ": "значение", "empty": ""}


@pytest.mark.parametrize("fmt", [JsonFormat(), BinaryFormat()], ids=["json", "bin"])
def test_every_body_comes_back_byte_for_byte(fmt: object, tmp_path: Path) -> None:
    assert isinstance(fmt, JsonFormat | BinaryFormat)
    records = [Record(body, META if i % 2 else {}) for i, body in enumerate(BODIES)]
    path = tmp_path / f"f{fmt.suffix}"
    path.write_bytes(b"".join(fmt.encode(r) for r in records))
    assert list(shoebox.read(path)) == records


def test_json_lines_are_one_record_each_and_parse_as_json() -> None:
    fmt = JsonFormat()
    lines = [fmt.encode(Record(body, META)) for body in BODIES]
    for line in lines:
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        parsed = json.loads(line)
        assert list(parsed) == ["metadata", parsed and list(parsed)[1]]
        assert parsed["metadata"] == META
    shapes = [list(json.loads(line))[1] for line in lines]
    assert shapes == [
        "notification",
        "notification",
        "notification",
        "body",  # several lines
        "body",
        "body",  # NaN is not JSON
        "body",
        "body_b64",
        "body",
        "body",
        "body",
        "body",
    ]
    assert json.loads(lines[0])["notification"]["message_id"] == "m-1"
    assert lines[0] == (
        b'{"metadata":{"queue":"monitor.info",'
        b'"\\u043a\\u043b\\u044e\\u0447":"\\u0437\\u043d\\u0430\\u0447\\u0435'
        b'\\u043d\\u0438\\u0435","empty":""},"notification":' + NOTIFICATION + b"}\n"
    )


def test_json_reads_the_original_bare_notification_lines(tmp_path: Path) -> None:
    path = tmp_path / "old.json.gz"
    path.write_bytes(gzip.compress(NOTIFICATION + b"\n" + b'{"a": 1}\n'))
    assert list(shoebox.read(path)) == [
        Record(NOTIFICATION, {}),
        Record(b'{"a": 1}', {}),
    ]


def test_json_reads_bodies_an_older_writer_embedded() -> None:
    # It checked bodies with Python's parser, which takes these; orjson does not.
    fmt = JsonFormat()
    for body in (b'{"huge": 1e400}', b'{"lone": "\\ud800"}', b"[" * 900 + b"]" * 900):
        line = b'{"metadata":{"queue":"q"},"notification":' + body + b"}\n"
        assert fmt.decode_line(line, "old.json", 1) == Record(body, {"queue": "q"})


def test_json_embeds_a_body_only_as_deep_as_its_line_can_be_read() -> None:
    fmt = JsonFormat()
    for depth, shape in ((1023, "notification"), (1024, "body")):
        body = b"[" * depth + b"]" * depth
        line = fmt.encode(Record(body, {}))
        assert line.startswith(b'{"metadata":{},"' + shape.encode())
        assert fmt.decode_line(line, "x.json", 1) == Record(body, {})


def test_a_body_known_to_parse_gives_the_line_a_checked_one_gives() -> None:
    fmt = JsonFormat()
    deep = [b"[" * depth + b"]" * depth for depth in (998, 999, 1023, 1024, 1025)]
    wide = b"[" + b",".join([b"{}"] * 1200) + b"]"  # many brackets, shallow
    known = [b for b in [*BODIES, *deep, wide, b'{"a":\n1}'] if _orjson_parses(b)]
    assert len(known) > 5
    for body in known:
        assert fmt.encode(Record(body, META), parsed=True) == fmt.encode(
            Record(body, META)
        ), body[:40]


def _orjson_parses(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


def test_json_metadata_is_written_compact_and_ascii_whatever_its_text() -> None:
    """Every character: the metadata's text is the standard library's compact,
    ASCII-escaping form of it (what readers of the original format expect)."""
    texts = [chr(c) for c in range(0x250)] + ["\u2028", "\U0001f600", 'q"\\/']
    for text in texts:
        metadata = {"queue": f"a{text}b", f"k{text}": "v"}
        line = JsonFormat().encode(Record(b"{}", metadata))
        want = json.dumps(metadata, ensure_ascii=True, separators=(",", ":"))
        assert line == b'{"metadata":' + want.encode("ascii") + b',"notification":{}}\n'
        assert orjson.loads(line)["metadata"] == metadata


def test_json_reports_the_line_of_a_bad_record(tmp_path: Path) -> None:
    fmt = JsonFormat()
    path = tmp_path / "x.json"
    path.write_bytes(
        fmt.encode(Record(b"{}")) + b"{broken\n" + fmt.encode(Record(b"1"))
    )
    with pytest.raises(shoebox.CorruptArchive, match=r"x\.json: line 2: not JSON") as e:
        list(shoebox.read(path))
    assert e.value.line == 2


def test_json_reports_a_truncated_last_line(tmp_path: Path) -> None:
    fmt = JsonFormat()
    path = tmp_path / "x.json"
    path.write_bytes(fmt.encode(Record(b"{}")) + fmt.encode(Record(b"[1]"))[:-5])
    reader = shoebox.read(path)
    assert next(reader) == Record(b"{}")
    with pytest.raises(shoebox.CorruptArchive, match="line 2: truncated record"):
        next(reader)


def test_binary_layout_is_little_endian_and_versioned() -> None:
    data = BinaryFormat().encode(Record(b"body", {"k": "v"}))
    magic, version, flags, meta_len, body_len, _crc = HEADER.unpack_from(data)
    assert (magic, version, flags) == (b"EVNT", 2, 0)
    assert meta_len == 4 + 4 + 1 + 4 + 1 and body_len == 4
    assert data[20:24] == struct.pack("<I", 1)
    assert data.endswith(b"body")


def _binary_file(tmp_path: Path, count: int = 3) -> tuple[Path, list[bytes]]:
    fmt = BinaryFormat()
    chunks = [fmt.encode(Record(b"x" * (10 * n), {"n": str(n)})) for n in range(count)]
    path = tmp_path / "events.dat"
    path.write_bytes(b"".join(chunks))
    return path, chunks


def test_binary_bad_magic_names_the_record_offset(tmp_path: Path) -> None:
    path, chunks = _binary_file(tmp_path)
    data = bytearray(path.read_bytes())
    offset = len(chunks[0]) + len(chunks[1])
    data[offset : offset + 4] = b"XXXX"
    path.write_bytes(bytes(data))
    with pytest.raises(shoebox.CorruptArchive) as e:
        list(shoebox.read(path))
    assert e.value.offset == offset
    assert f"byte offset {offset}: bad magic b'XXXX'" in str(e.value)


def test_binary_bad_magic_at_the_start_even_without_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "noext"
    path.write_bytes(b"\x00\x01garbage" * 4)
    with pytest.raises(shoebox.CorruptArchive, match="byte offset 0: bad magic"):
        list(shoebox.read(path))


def test_binary_truncated_record_names_its_offset(tmp_path: Path) -> None:
    path, chunks = _binary_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    reader = shoebox.read(path)
    assert [r.metadata["n"] for r in (next(reader), next(reader))] == ["0", "1"]
    with pytest.raises(shoebox.CorruptArchive) as e:
        next(reader)
    offset = len(chunks[0]) + len(chunks[1])
    assert e.value.offset == offset
    assert "truncated record" in str(e.value)


def test_binary_truncated_header(tmp_path: Path) -> None:
    path, chunks = _binary_file(tmp_path, 1)
    path.write_bytes(chunks[0] + chunks[0][:9])
    with pytest.raises(
        shoebox.CorruptArchive, match=rf"offset {len(chunks[0])}: truncated record: 9"
    ):
        list(shoebox.read(path))


def test_binary_flipped_bit_fails_the_checksum(tmp_path: Path) -> None:
    path, chunks = _binary_file(tmp_path, 2)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(
        shoebox.CorruptArchive, match=rf"offset {len(chunks[0])}: checksum mismatch"
    ):
        list(shoebox.read(path))


def test_binary_unknown_version(tmp_path: Path) -> None:
    path, _ = _binary_file(tmp_path, 1)
    data = bytearray(path.read_bytes())
    data[4:6] = struct.pack("<H", 9)
    path.write_bytes(bytes(data))
    with pytest.raises(shoebox.CorruptArchive, match="unsupported format version 9"):
        list(shoebox.read(path))


def test_valid_length_stops_before_a_torn_tail() -> None:
    for fmt in (JsonFormat(), BinaryFormat()):
        good = fmt.encode(Record(b'{"a":1}', {"k": "v"})) * 2
        torn = fmt.encode(Record(b'{"b":2}'))[:-3]
        assert fmt.valid_length(io.BytesIO(good + torn)) == (2, len(good))


def test_gzip_damage_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.json.gz"
    data = gzip.compress(JsonFormat().encode(Record(NOTIFICATION)) * 50)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(shoebox.CorruptArchive, match="gzip"):
        list(shoebox.read(path))


def test_json_nested_too_deep_for_python_is_archived_as_received(
    tmp_path: Path,
) -> None:
    body = b'{"event_type":"a.b","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with shoebox.Archive(tmp_path / "out", tmp_path / "work", fmt="json") as archive:
        archive.write([(body, {"queue": "q"})])
    (path,) = sorted((tmp_path / "out").glob("*.json.gz"))
    assert [r.body for r in shoebox.read(path)] == [body]
    from shoebox.summary import examine

    assert examine(path).ok
