"""Several evaluation results side by side: the table an ablation prints.

`comparison_rows(runs)` lines up, for every (task, family, modality) the runs share, each
modality's headline numbers: the estimation metric, the conditional generation's consistency and
warping error, and the joint generation's agreement (the modality estimated back from the generated
video against the generated modality) and flicker. Beside the runs stands each row's reference (from
the first run that has it): the training set's average map for estimation (no input), the same
estimate on an unrelated clip of the family for conditional generation's consistency (a video that
ignored its condition scores this), and real clips for the warping error. `pooled_rows(rows)` pools
the rows over the families (each family counts once, as the evaluation report pools).
`comparison_table(runs)` is either as markdown, the best run in bold.
"""

from __future__ import annotations

import math
from typing import Mapping

from unityvideo_jax.eval.report import best, bold_best, format_number, metric_label
from unityvideo_jax.eval.scores import HEADLINE

# (task, metric or None for the modality's headline metric, scope or None for the table's scope);
# joint generation has no ground-truth layout, so its flicker exists on all pixels only.
COMPARED = (("estimate", None, None), ("condition", None, None), ("condition", "warp_error", None),
            ("joint", None, "all"), ("joint", "flicker", "all"))


def reference_method(task: str, metric: str) -> str | None:
    """The method a row's runs are read against (None: joint generation has no reference)."""
    if task == "estimate":
        return "average"
    if task == "condition":
        return "real" if metric == "warp_error" else "unrelated"
    return None


def _lookup(results: dict, task: str, family: str, modality: str, method: str, scope: str, metric: str):
    entry = results["tasks"].get(task, {}).get(family, {}).get(modality, {})
    return entry.get(method, {}).get(scope, {}).get(metric)


def _keys(runs: Mapping[str, dict]) -> list[tuple[str, str, str]]:
    """(task, family, modality) in first-seen order over all runs."""
    seen: dict = {}
    for results in runs.values():
        for task, by_family in results["tasks"].items():
            for family, by_modality in by_family.items():
                seen.update(dict.fromkeys((task, family, m) for m in by_modality))
    return list(seen)


def comparison_rows(runs: Mapping[str, dict], scope: str = "object") -> list[dict]:
    """[{task, family, modality, metric, scope, values: {run: value}, reference: value or None, best: run}]."""
    if len(runs) < 1:
        raise ValueError("comparison needs at least one evaluation result ({name: results})")
    rows = []
    keys = _keys(runs)
    for task, fixed, fixed_scope in COMPARED:
        for key_task, family, modality in keys:
            if key_task != task:
                continue
            metric, where = fixed or HEADLINE[modality], fixed_scope or scope
            values = {name: _lookup(r, task, family, modality, "model", where, metric) for name, r in runs.items()}
            if all(v is None for v in values.values()):
                continue
            method = reference_method(task, metric)
            references = [] if method is None else [_lookup(r, task, family, modality, method, where, metric)
                                                    for r in runs.values()]
            top = best(list(values.values()), metric)
            rows.append(dict(task=task, family=family, modality=modality, metric=metric, scope=where, values=values,
                             reference=next((a for a in references if a is not None), None),
                             best=next((n for n, v in values.items() if v is not None and v == top), None)))
    return rows


def _mean(values: list) -> float | None:
    return None if not values or any(v is None for v in values) else math.fsum(values) / len(values)


def pooled_rows(rows: list[dict]) -> list[dict]:
    """Each (task, modality, metric, scope) of `rows` pooled over its families: a run's value is the mean of
    its family values (each family counts once), or None where the run lacks a family. A row that only one
    family has is kept as it is, so the pooled table still shows every modality."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["modality"], row["metric"], row["scope"]), []).append(row)
    pooled = []
    for (task, modality, metric, where), members in groups.items():
        if len(members) < 2:
            pooled.append(members[0])
            continue
        values = {name: _mean([m["values"][name] for m in members]) for name in members[0]["values"]}
        top = best(list(values.values()), metric)
        pooled.append(dict(task=task, family=f"pooled ({len(members)} families)", modality=modality, metric=metric,
                           scope=where, values=values, reference=_mean([m["reference"] for m in members]),
                           best=next((n for n, v in values.items() if v is not None and v == top), None)))
    return pooled


def comparison_table(runs: Mapping[str, dict], scope: str = "object", pooled: bool = False) -> str:
    """Markdown comparison of two or more evaluation results {run name: evaluate() result}; with `pooled`,
    only the rows pooled over the families."""
    names = list(runs)
    header = ["task", "family", "modality", "metric", "scope"] + names + ["reference"]
    lines = ["↓ lower is better; best run in bold. Reference: estimation, the training set's average map (no "
             "input); conditional generation, the same estimate on an unrelated clip of the family (a video that "
             "ignores its condition), and real clips' warping error.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = comparison_rows(runs, scope)
    for row in pooled_rows(rows) if pooled else rows:
        cells = bold_best([row["values"][n] for n in names], row["metric"])
        head = [row["task"], row["family"], row["modality"], metric_label(row["metric"]), row["scope"]]
        lines.append("| " + " | ".join(head + cells + [format_number(row["reference"])]) + " |")
    return "\n".join(lines)
