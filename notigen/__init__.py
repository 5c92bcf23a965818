"""notigen: a simulator of a nova deployment's legacy notification traffic.

For the sandbox, tests and benchmarks. A seeded, simulated clock interleaves
nova operations (scenarios kept as data in :mod:`notigen.scenarios`) over a world
of cells, hosts, tenants and instances, emits the end-of-day
``compute.instance.exists`` the usage audit needs, and can shape the output as
legacy, versioned or enveloped messages with optional injected faults.

Programmatic use::

    from notigen import Engine, SimConfig
    for message, hints in Engine(SimConfig(seed=1)):
        ...

The ``notigen`` command (:mod:`notigen.cli`) writes JSON lines or publishes to a
broker.
"""

from notigen.engine import Engine, SimConfig
from notigen.faults import FaultConfig, FaultInjector, FaultLog
from notigen.pipeline import generate_lines
from notigen.render import Line, Renderer

__all__ = [
    "Engine",
    "FaultConfig",
    "FaultInjector",
    "FaultLog",
    "Line",
    "Renderer",
    "SimConfig",
    "generate_lines",
]
