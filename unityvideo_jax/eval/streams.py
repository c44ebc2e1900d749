"""The multi-stream rows of an evaluation (`evaluate(streams=...)`): several modalities in one pass.

estimate_streams: each held-out clip's modalities (those of its family) estimated together in one
    `pipeline.run_streams` pass from the clip's RGB, drawn, merged and scored per stream exactly as
    the single-stream estimate is (scores.score_draws). Methods: `streams` (the one pass) and `single`
    (the estimate task's score of the same clip and modality: one pass per modality).
joint_streams: RGB generated from the caption together with two of the family's modalities in one
    pass, scored by estimate-back consistency: each generated modality is estimated back from the
    generated RGB by a single-stream estimate (drawn as the estimate task draws) and that estimate is
    scored against the generated modality, both decoded the same way (scores.score_agreement, all
    pixels). Methods: `streams` (k = 2) and `single` (k = 1: RGB generated with that one modality, the
    joint task's generation of the same clip and modality when it ran, with the same consistency).
    The family's modalities are paired so that every one is in a pair ((m0, m1), (m2, m3), (m4, m0)),
    and clip i of the family takes pair i mod the number of pairs (settings.joint_streams_pairs).

A call holds at most 2 x `batch` streams (as `batch` single-stream pairs do): ⌊2 batch / (1 + k)⌋
clips of 1 + k streams, the clips of a family split into equal calls.
"""

from __future__ import annotations

from typing import Callable, Sequence

from unityvideo_jax.eval import scores
from unityvideo_jax.eval.work import Item, chunks, stack

STREAM_TASKS = ("estimate_streams", "joint_streams")
BASE_TASK = {"estimate_streams": "estimate", "joint_streams": "joint"}


def parse_streams(streams: bool | str | Sequence[str] | None, tasks: Sequence[str]) -> tuple[str, ...]:
    """The multi-stream rows to run: none (False, None), those of the tasks asked for (True), or the
    rows named (a comma-separated string or a sequence of STREAM_TASKS names)."""
    if streams is None or streams is False:
        return ()
    if streams is True:
        return tuple(row for row in STREAM_TASKS if BASE_TASK[row] in tasks)
    names = [s.strip() for s in streams.split(",")] if isinstance(streams, str) else list(streams)
    unknown = [s for s in names if s not in STREAM_TASKS]
    if unknown or not any(names):
        raise ValueError(f"streams {unknown or names}: expected True or some of {', '.join(STREAM_TASKS)}")
    return tuple(row for row in STREAM_TASKS if row in names)


def _clips(items: list[Item]) -> dict[tuple[str, int], tuple[Item, tuple[str, ...]]]:
    """{(family, clip index): (an item of the clip, the clip's modalities in order)}."""
    found: dict = {}
    for item in items:
        key = (item.clip.family, item.index)
        first, names = found.get(key, (item, ()))
        found[key] = (first, names + (item.modality,))
    return found


def _groups(entries: list, cap: int):
    """`entries` in equal calls of at most `cap` (padded by repeating the last): (chunk, used) pairs."""
    calls = -(-len(entries) // max(1, cap))
    return chunks(entries, -(-len(entries) // calls))


def _per_call(batch: int, k: int) -> int:
    return max(1, 2 * batch // (1 + k))


def estimate_streams(run, tally, items: list[Item], batch: int, estimates: dict,
                     on_draws: Callable | None = None) -> None:
    """The estimate_streams row (module doc); `estimates`: the estimate task's scores, {(family, index,
    modality): scored}; `on_draws(clip, index, {modality: [uint8 (F, H, W, 3) draws]})` per clip."""
    by_set: dict[tuple[str, tuple[str, ...]], list[Item]] = {}
    for (family, _), (item, names) in _clips(items).items():
        by_set.setdefault((family, names), []).append(item)
    for (family, names), clips in by_set.items():
        for chunk, used in _groups(clips, _per_call(batch, len(names))):
            draws = run.streams("estimate", chunk, names, estimate=True, video=stack([i.clip.rgb for i in chunk]))
            for j, item in enumerate(chunk[:used]):
                videos = {m: [d.aux[m][j] for d in draws] for m in names}
                if on_draws is not None:
                    on_draws(item.clip, item.index, videos)
                for m in names:
                    one = Item(item.clip, item.index, m)
                    tally.add("estimate_streams", one, "streams", scores.score_draws(m, videos[m], item.clip))
                    if (family, item.index, m) in estimates:
                        tally.add("estimate_streams", one, "single", estimates[(family, item.index, m)])


def modality_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs that hold every one of `names`: (0, 1), (2, 3), ... and the last with the first if odd."""
    k = len(names)
    return [(names[i], names[(i + 1) % k]) for i in range(0, k, 2)] if k >= 2 else []


def joint_pairs(items: list[Item]) -> dict[tuple[str, int], tuple[Item, tuple[str, str]]]:
    """{(family, clip index): (an item of the clip, the pair generated with its RGB)} (module doc)."""
    chosen = {}
    for key, (item, names) in _clips(items).items():
        pairs = modality_pairs(names)
        if pairs:
            chosen[key] = (item, pairs[item.index % len(pairs)])
    return chosen


def single_keys(pairs: dict) -> list[tuple[str, int, str]]:
    """The (family, clip index, modality) whose one-modality joint generation joint_streams compares."""
    return [(family, index, m) for (family, index), (_, pair) in pairs.items() for m in pair]


def pairs_setting(pairs: dict) -> dict[str, list[list[str]]]:
    """{family: [[m1, m2] of clip 0, of clip 1, ...]} for the results' settings."""
    out: dict[str, list] = {}
    for (family, _), (_, pair) in sorted(pairs.items(), key=lambda kv: kv[0]):
        out.setdefault(family, []).append(list(pair))
    return out


def joint_streams(run, tally, pairs: dict, batch: int, generated: dict) -> None:
    """The joint_streams row (module doc). `generated`: {(family, index, modality): (rgb, aux, agreement)}
    of the joint task's one-modality generations and their estimate-back agreement (reused as the
    `single` row); the missing ones are generated and scored here."""
    back = []  # (item, generated rgb, generated modality, method)
    by_pair: dict[tuple[str, str], list[Item]] = {}
    for item, pair in pairs.values():
        by_pair.setdefault(pair, []).append(item)
    for pair, clips in by_pair.items():
        for chunk, used in _groups(clips, _per_call(batch, len(pair))):
            out = run.streams("joint", chunk, pair)[0]
            for j, item in enumerate(chunk[:used]):
                back += [(Item(item.clip, item.index, m), out.rgb[j], out.aux[m][j], "streams") for m in pair]
    singles = [Item(item.clip, item.index, m) for item, pair in pairs.values() for m in pair]
    missing = [i for i in singles if generated.get((i.clip.family, i.index, i.modality)) is None]
    for chunk, used in chunks(missing, batch):
        out = run("joint", chunk)
        for j, item in enumerate(chunk[:used]):
            generated[(item.clip.family, item.index, item.modality)] = (out.rgb[j], out.aux[j], None)
    for item in singles:
        rgb, aux, agreement = generated[(item.clip.family, item.index, item.modality)]
        if agreement is not None:  # the joint task scored this very generation
            tally.add("joint_streams", item, "single", agreement)
        else:
            back.append((item, rgb, aux, "single"))
    for chunk, used in chunks(back, batch):
        draws = run.estimates([b[0] for b in chunk], video=stack([b[1] for b in chunk]))
        for j, (item, _, reference, method) in enumerate(chunk[:used]):
            agreement = scores.score_agreement(item.modality, [d.aux[j] for d in draws], reference)
            tally.add("joint_streams", item, method, agreement)
