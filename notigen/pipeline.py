"""The generation pipeline: engine → anomalies → shape → line faults → count.

:func:`generate_lines` is the one place the stages are put together; the command
line and the benchmark both use it, then hand the lines to a sink.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from notigen.engine import Engine
from notigen.faults import FaultInjector
from notigen.render import Line, Renderer
from notigen.summary import Summary

__all__ = ["generate_lines", "without_gc"]


def _shaped(
    engine: Engine, renderer: Renderer, faults: FaultInjector | None
) -> Iterator[Line]:
    anomalies = faults is not None and faults.config.anomalies > 0
    make = renderer.line
    for original, hints in engine:
        message = original
        if anomalies:
            assert faults is not None
            spoiled = faults.anomaly(original)
            if spoiled is None:
                continue
            message = spoiled
        line = make(message, hints, engine.now)
        if line is not None:
            yield line


def generate_lines(
    engine: Engine,
    renderer: Renderer,
    *,
    faults: FaultInjector | None = None,
    count: int | None = None,
    summary: Summary | None = None,
) -> Iterator[Line]:
    """Yield output lines until the simulation ends or ``count`` lines are out.

    Every line is counted in ``summary`` (when given) by its event type.
    """
    stream = _shaped(engine, renderer, faults)
    if faults is not None:
        stream = faults.lines(stream, renderer)
    if count is not None and count <= 0:
        return
    for sent, line in enumerate(stream, 1):
        if summary is not None:
            summary.add(line.event_type, line.time)
        yield line
        if count is not None and sent >= count:
            break


@contextmanager
def without_gc() -> Iterator[None]:
    """Run the block with the cyclic garbage collector paused.

    The generator's hot path makes no reference cycles (reference counting frees
    every message), but it allocates so many containers that the collector's
    scans cost a fifth of the time. Entry freezes what exists (the world) and
    pauses collection; exit restores both.
    """
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
