"""The stderr summary and the progress line."""

from __future__ import annotations

import io

from notigen.clock import SECOND
from notigen.summary import Progress, Summary


def test_summary_counts_by_event_type_and_reports_a_rate() -> None:
    summary = Summary()
    for number in range(10):
        summary.add("compute.instance.update" if number % 2 else "", number * SECOND)
    summary.faults["malformed:not_json"] = 5
    summary.finish()
    data = summary.as_dict()
    assert data["notifications"] == 10
    assert data["by_event_type"] == {"<malformed>": 5, "compute.instance.update": 5}
    assert data["simulated_from"] == "1970-01-01 00:00:00.000000"
    assert data["simulated_to"] == "1970-01-01 00:00:09.000000"
    assert data["per_s"] > 0
    text = summary.format()
    assert text.startswith("notigen: 10 notifications in ")
    assert "malformed:not_json" in text


def test_progress_redraws_one_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream, interval=0.0)
    summary = Summary()
    summary.add("x", 0)
    progress.update(summary)
    progress.update(summary)
    progress.close()
    assert stream.getvalue().count("\r") == 2
    assert stream.getvalue().endswith("\n")
