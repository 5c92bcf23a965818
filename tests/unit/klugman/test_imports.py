"""klugman imports nothing of ours but stacktach (DESIGN.md §2): it talks HTTP."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import klugman

OURS = {"distiller", "notabene", "notigen", "quince", "shoebox", "winchester", "yagi"}
ALLOWED = {"klugman", "stacktach", "click", "__future__"}


def test_klugman_imports_only_stacktach_of_ours_and_the_standard_library() -> None:
    folder = Path(klugman.__file__).parent
    seen: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                seen.setdefault(name.split(".")[0], set()).add(path.name)
    assert not OURS & set(seen), {k: seen[k] for k in OURS & set(seen)}
    others = set(seen) - ALLOWED - set(sys.stdlib_module_names)
    assert not others, {k: seen[k] for k in others}
