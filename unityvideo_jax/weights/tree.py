"""Nested parameter dicts <-> flat {"a.b.c": leaf} dicts, the form weight files and name tables use."""

from __future__ import annotations

from typing import Mapping


def flatten(tree: Mapping, prefix: str = "") -> dict[str, object]:
    """Nested dict -> {"a.b.c": leaf}."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def unflatten(flat: Mapping[str, object]) -> dict:
    """{"a.b.c": leaf} -> nested dict."""
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree
