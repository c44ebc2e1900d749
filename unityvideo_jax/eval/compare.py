"""Several evaluation results side by side: the table an ablation prints.

`comparison_rows(runs)` lines up, for every (task, family, modality) the runs share, each
modality's headline numbers: the estimation metric, the conditional generation's consistency and
warping error, and the joint generation's agreement (the modality estimated back from the generated
video against the generated modality) and flicker. Each row has a reference: the training set's
average map for estimation (no input) and real clips for the warping error, the same for every run;
for conditional generation's consistency, each run's own estimate-back scored against an unrelated
clip of the family (what a video that ignored its condition scores), so that one is per run.
`pooled_rows(rows)` pools the rows over the families (each family counts once, as the evaluation
report pools). `comparison_table(runs)` is either as markdown, the best run in bold.
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


# References that depend on the model: each run is read against its own.
PER_RUN_REFERENCES = ("unrelated",)


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
    """[{task, family, modality, metric, scope, values: {run: value}, references: {run: value or None},
    reference: the first run's reference or None, per_run: whether references differ by run, best: run}]."""
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
            references = {name: None if method is None else _lookup(r, task, family, modality, method, where, metric)
                          for name, r in runs.items()}
            rows.append(_row(task, family, modality, metric, where, values, references,
                             per_run=method in PER_RUN_REFERENCES))
    return rows


def _row(task, family, modality, metric, scope, values, references, per_run) -> dict:
    top = best(list(values.values()), metric)
    return dict(task=task, family=family, modality=modality, metric=metric, scope=scope, values=values,
                references=references, reference=next((a for a in references.values() if a is not None), None),
                per_run=per_run, best=next((n for n, v in values.items() if v is not None and v == top), None))


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
        names = members[0]["values"]
        pooled.append(_row(task, f"pooled ({len(members)} families)", modality, metric, where,
                           {name: _mean([m["values"][name] for m in members]) for name in names},
                           {name: _mean([m["references"][name] for m in members]) for name in names},
                           per_run=members[0]["per_run"]))
    return pooled


def comparison_table(runs: Mapping[str, dict], scope: str = "object", pooled: bool = False) -> str:
    """Markdown comparison of two or more evaluation results {run name: evaluate() result}; with `pooled`,
    only the rows pooled over the families."""
    names = list(runs)
    header = ["task", "family", "modality", "metric", "scope"] + names + ["reference"]
    lines = ["↓ lower is better; best run in bold. Reference: for estimation the training set's average map (no "
             "input), for the warping error real clips'; conditional generation's consistency is shown as "
             "own / unrelated for each run: its estimate-back against its own condition / against an unrelated "
             "clip of the family (what a video that ignores its condition scores).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = comparison_rows(runs, scope)
    for row in pooled_rows(rows) if pooled else rows:
        cells = bold_best([row["values"][n] for n in names], row["metric"])
        reference = format_number(row["reference"])
        if row["per_run"]:
            cells = [cell if row["values"][n] is None or row["references"][n] is None
                     else f"{cell} / {format_number(row['references'][n])}" for cell, n in zip(cells, names)]
            reference = "per run (after /)"
        head = [row["task"], row["family"], row["modality"], metric_label(row["metric"]), row["scope"]]
        lines.append("| " + " | ".join(head + cells + [reference]) + " |")
    return "\n".join(lines)
