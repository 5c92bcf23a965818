"""The sandbox's processes, in ``screen`` or in the foreground, and stopping them.

The processes, as the original sandbox's screenrc had them (one window each,
session ``tach``): ``quince`` (the API), ``shell`` (a shell for klugman, screen
only), ``yagi1``/``yagi2`` (yagi-event), ``pipeline1``/``pipeline2``
(pipeline-worker) and ``notigen`` (a simulated cloud, faster than real time).

Every process runs with the repository root as its working directory and
writes its pid to ``var/run/<name>.pid`` (in screen, its window's script does;
each window is a session of its own, so the pid is also its process group).
:func:`running` reads those files to tell whether a sandbox is up;
:func:`stop` sends each group SIGTERM (SIGHUP to the shell), waits, then
SIGKILLs what is left and ends the screen session, so nothing stays behind.

In the foreground, :class:`Foreground` starts each process in a session of its
own, prints every line it writes prefixed by its name, and on Ctrl-C (or
SIGTERM) stops them all; a process that ends is reported and the others go
on.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sandbox.layout import Layout
from stacktach.processes import pid_exists

__all__ = [
    "SESSION",
    "Foreground",
    "Proc",
    "running",
    "screen_available",
    "start_screen",
    "stop",
]

#: The screen session name of the original sandbox (its screenrc.winchester).
SESSION = "tach"
#: Seconds processes get to exit after SIGTERM before SIGKILL.
GRACE = 20.0


@dataclass(frozen=True, slots=True)
class Proc:
    """One process of the sandbox: its window title and its command line."""

    name: str
    argv: list[str]
    #: The interactive shell window (screen only; stopped with SIGHUP).
    shell: bool = False
    #: May end on its own (notigen's simulated days run out).
    finite: bool = False
    env: dict[str, str] = field(default_factory=dict)


def screen_available() -> bool:
    """True when the ``screen`` command is installed."""
    return shutil.which("screen") is not None


def _alive(pid: int, root: Path) -> bool:
    """True when ``pid`` runs, and (where /proc tells) runs in ``root``."""
    if not pid_exists(pid):
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[-1].split()[0] == "Z":
                return False  # a zombie: dead, its parent has not reaped it yet
        return os.readlink(f"/proc/{pid}/cwd") == str(root)
    except OSError:
        return True


def _pid_files(layout: Layout) -> Iterator[tuple[str, int]]:
    if not layout.run.is_dir():
        return
    for path in sorted(layout.run.glob("*.pid")):
        with contextlib.suppress(ValueError, OSError):
            yield path.stem, int(path.read_text().strip())


def running(layout: Layout) -> dict[str, int]:
    """The sandbox's live processes, name -> pid (empty: not running)."""
    return {name: pid for name, pid in _pid_files(layout) if _alive(pid, layout.root)}


def _session_exists(session: str) -> bool:
    if not screen_available():
        return False
    done = subprocess.run(
        ["screen", "-ls", session], capture_output=True, text=True, check=False
    )
    return any(
        line.split()[0].split(".", 1)[-1] == session
        for line in done.stdout.splitlines()
        if line.startswith("\t") and line.split()
    )


def _signal(pid: int, sig: int) -> None:
    """Send ``sig`` to ``pid``'s process group (or ``pid`` alone if it leads none)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop(layout: Layout, session: str = SESSION, grace: float = GRACE) -> list[str]:
    """Stop every process of the sandbox; return the names that were running."""
    live = running(layout)

    def left() -> list[int]:
        # The pids found at first, not the pid files: the foreground runner
        # removes those before it has quite exited.
        return [pid for pid in live.values() if _alive(pid, layout.root)]

    for name, pid in live.items():
        _signal(pid, signal.SIGHUP if name == "shell" else signal.SIGTERM)
    deadline = time.monotonic() + grace
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left():
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while left() and time.monotonic() < deadline:
        time.sleep(0.1)
    session_file = layout.run / "session"
    if session_file.is_file():
        session = session_file.read_text().strip() or session
    if _session_exists(session):
        subprocess.run(["screen", "-S", session, "-X", "quit"], check=False)
    for path in layout.run.glob("*.pid"):
        path.unlink(missing_ok=True)
    session_file.unlink(missing_ok=True)
    return sorted(live)


# --------------------------------------------------------------------- screen


def _window_script(layout: Layout, proc: Proc) -> Path:
    """``var/run/<name>.sh``: record the pid, then become the command."""
    lines = [
        "#!/bin/sh",
        f"# {proc.name} window of the StackTach sandbox (written by ./build.sh)",
        f"cd {shlex.quote(str(layout.root))} || exit 1",
        f"echo $$ > {shlex.quote(str(layout.run / (proc.name + '.pid')))}",
    ]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in proc.env.items()]
    lines.append("exec " + shlex.join(proc.argv))
    script = layout.run / f"{proc.name}.sh"
    script.write_text("\n".join(lines) + "\n")
    return script


def start_screen(layout: Layout, procs: list[Proc], session: str = SESSION) -> None:
    """Start ``procs`` in a detached screen session, one window each."""
    if _session_exists(session):
        raise RuntimeError(
            f"a screen session named {session!r} already exists (not this "
            f"sandbox's): end it with 'screen -S {session} -X quit', or set "
            "STACKTACH_SANDBOX_SESSION to another name"
        )
    rc = [
        "# The StackTach sandbox's screen layout (written by ./build.sh).",
        "startup_message off",
        "defscrollback 10000",
        "hardstatus alwayslastline '%{= kw}%-w%{= bw}%n %t%{-}%+w'",
        f"logfile {layout.log}/%t.log",
        "logfile flush 1",
        "deflog on",
    ]
    for proc in procs:
        script = _window_script(layout, proc)
        rc.append(f"screen -t {proc.name} /bin/sh {script}")
    rc.append("select shell" if any(p.shell for p in procs) else "select 0")
    screenrc = layout.run / "screenrc"
    screenrc.write_text("\n".join(rc) + "\n")
    (layout.run / "session").write_text(session + "\n")
    subprocess.run(
        ["screen", "-dmS", session, "-c", str(screenrc)],
        cwd=layout.root,
        check=True,
    )


# ----------------------------------------------------------------- foreground


class Foreground:
    """Run ``procs`` here, each line prefixed by its name, until Ctrl-C."""

    def __init__(self, layout: Layout, procs: list[Proc], out: IO[str]) -> None:
        self.layout = layout
        self.procs = [p for p in procs if not p.shell]
        self.out = out
        self.width = max(len(p.name) for p in self.procs)
        self.lock = threading.Lock()
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()

    def say(self, name: str, line: str) -> None:
        """Print one line of ``name``."""
        with self.lock:
            self.out.write(f"{name:<{self.width}} | {line}\n")
            self.out.flush()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(name, raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    def start(self) -> None:
        """Start every process and the threads that print their output."""
        (self.layout.run / "sandbox.pid").write_text(f"{os.getpid()}\n")
        for proc in self.procs:
            child = subprocess.Popen(
                proc.argv,
                cwd=self.layout.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **proc.env},
            )
            self.children[proc.name] = child
            (self.layout.run / f"{proc.name}.pid").write_text(f"{child.pid}\n")
            assert child.stdout is not None
            threading.Thread(
                target=self._pump, args=(proc.name, child.stdout), daemon=True
            ).start()

    def wait(self) -> int:
        """Report processes that end; return when all did or a stop was asked."""
        reported: set[str] = set()
        while not self.stopping.is_set():
            for name, child in self.children.items():
                code = child.poll()
                if code is not None and name not in reported:
                    reported.add(name)
                    self.say(name, f"-- exited with status {code}")
            if len(reported) == len(self.children):
                return 0
            self.stopping.wait(0.5)
        return 0

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL after the grace period."""
        self.stopping.set()
        for child in self.children.values():
            if child.poll() is None:
                _signal(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        for child in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            if child.poll() is None:
                _signal(child.pid, signal.SIGKILL)
                child.wait()
        for name in [*self.children, "sandbox"]:
            (self.layout.run / f"{name}.pid").unlink(missing_ok=True)

    def run(self) -> int:
        """Start, wait for Ctrl-C (SIGINT) or SIGTERM, stop everything."""

        def on_signal(signum: int, frame: object) -> None:
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGHUP, on_signal)
        try:
            self.start()
            self.wait()
        except KeyboardInterrupt:
            pass
        finally:
            with contextlib.suppress(KeyboardInterrupt):
                self.say("sandbox", "stopping every process ...")
                self.stop()
                self.say("sandbox", "stopped")
        return 0


def python_bin() -> Path:
    """The folder of the running interpreter's commands (the venv's bin/)."""
    return Path(sys.executable).parent
