"""The house's limits on size: no module over MAX_FILE_LINES lines, no function that takes more than
MAX_POSITIONAL positional parameters (keyword-only options are fine), in the package."""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "unityvideo_jax"
MAX_FILE_LINES = 450
MAX_POSITIONAL = 8


def long_files(folder: pathlib.Path) -> list[str]:
    lengths = {p: len(p.read_text().splitlines()) for p in sorted(folder.rglob("*.py"))}
    return [f"{p.relative_to(folder)}: {n} lines" for p, n in lengths.items() if n > MAX_FILE_LINES]


def wide_functions(folder: pathlib.Path) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                positional = [a for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
                if len(positional) > MAX_POSITIONAL:
                    found.append(f"{path.relative_to(folder)}:{node.lineno} {node.name} takes {len(positional)}")
    return found


def test_no_module_is_too_long():
    assert long_files(PACKAGE) == [], f"split these modules (limit {MAX_FILE_LINES} lines)"


def test_no_function_takes_too_many_positional_parameters():
    assert wide_functions(PACKAGE) == [], f"make options keyword-only (limit {MAX_POSITIONAL} positional)"


def test_the_checks_see_a_planted_offender(tmp_path):
    (tmp_path / "wide.py").write_text("def f(a, b, c, d, e, f, g, h, i, *, j):\n    pass\n" + "\n" * MAX_FILE_LINES)
    assert wide_functions(tmp_path) == ["wide.py:1 f takes 9"]
    assert long_files(tmp_path) == [f"wide.py: {MAX_FILE_LINES + 2} lines"]
