"""``python -m klugman``: the same as the ``klugman`` command."""

from klugman.cli import main

main(prog_name="klugman")
