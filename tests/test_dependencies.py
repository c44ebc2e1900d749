"""Every third-party module the package imports is declared in setup.py (install_requires or an extra)."""

from __future__ import annotations

import ast
import importlib.metadata
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def imported_top_modules(folders) -> dict[str, pathlib.Path]:
    """{top-level module name: a file that imports it} for every import in `folders`, lazy ones included."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], path)
    return found


def declared_distributions(setup_text: str) -> set[str]:
    """Normalised distribution names in setup.py's requirement strings."""
    names = re.findall(r'"([A-Za-z0-9_.\-]+)\s*(?:[<>=!~\[;][^"]*)?"', setup_text)
    return {re.sub(r"[-_.]+", "-", n).lower() for n in names}


def test_every_import_is_declared():
    ours = {"unityvideo_jax"}
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    providers = importlib.metadata.packages_distributions()
    declared = declared_distributions((REPO / "setup.py").read_text())
    missing = []
    for module, where in sorted(imported_top_modules([REPO / "unityvideo_jax", REPO / "configs"]).items()):
        if module in stdlib or module in ours:
            continue
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [module])}
        if not dists & declared:
            missing.append(f"{module} (imported in {where.relative_to(REPO)}; provided by {sorted(dists)})")
    assert missing == [], "declare these in setup.py: " + "; ".join(missing)


def test_the_check_sees_an_undeclared_import(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    import yaml.loader\n")
    assert "yaml" in imported_top_modules([tmp_path])
    assert "pyyaml" not in declared_distributions('install_requires=["numpy>=1.26", "jax[cpu]>=0.10"]')
    assert {"numpy", "jax"} <= declared_distributions('install_requires=["numpy>=1.26", "jax[cpu]>=0.10"]')
