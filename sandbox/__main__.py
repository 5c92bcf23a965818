"""``python -m sandbox``: see :mod:`sandbox.cli`."""

from sandbox.cli import main

main(prog_name="build.sh")
