"""A daemon stopped during its start-up exits 0, not by the signal's default action."""

from __future__ import annotations

import signal
import subprocess
import sys

SCRIPT = """
import sys, time
from notabene.signals import exit_on_stop_signals
exit_on_stop_signals()
print("ready", flush=True)
time.sleep(60)
"""


def test_sigterm_during_start_up_exits_zero() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
