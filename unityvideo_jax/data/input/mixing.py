"""Which sample fills each position of each global batch: source groups, curriculum and modality.

Everything is a pure function of (step, position), so a batch never depends on what came before
it: a curriculum stage switch needs no rebuild, a restart resumes exactly, and hosts agree.

Position p of global batch `step` belongs to source group p % S (S sources of the current stage),
so every batch holds exactly B / S samples per source, and any contiguous host slice whose size is
a multiple of S is balanced too. Within a source, samples follow that source's own stream
(stream position k; pipeline.py shuffles each stream per epoch): `slot` counts the samples the
source has used in earlier batches, through every earlier curriculum stage, so none is skipped.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from unityvideo_jax import modalities


@dataclasses.dataclass(frozen=True)
class Stage:
    start: int  # the first step of the stage
    sources: tuple[int, ...]  # indices into config.data.sources
    modalities: tuple[int, ...]  # modality ids allowed in this stage


def _curriculum(config, sources: tuple[str, ...]) -> tuple[Stage, ...]:
    entries = tuple(config.train.curriculum) or ((0, (), ()),)
    stages = []
    for entry in entries:
        if len(entry) != 3:
            raise ValueError(
                f"config.train.curriculum entry {entry!r}: expected (start_step, modalities, sources), "
                "e.g. (0, ('depth', 'flow'), ('single_person',))"
            )
        start, names, stage_sources = int(entry[0]), tuple(entry[1]), tuple(entry[2])
        for name in stage_sources:
            if name not in sources:
                raise ValueError(f"config.train.curriculum: source {name!r} is not in config.data.sources {sources}")
        ids = tuple(sorted({modalities.index(n) for n in names})) or tuple(range(modalities.NUM_MODALITIES))
        chosen = tuple(sources.index(n) for n in stage_sources) or tuple(range(len(sources)))
        stages.append(Stage(start, chosen, ids))
    starts = [s.start for s in stages]
    if starts[0] != 0 or starts != sorted(set(starts)):
        raise ValueError(f"config.train.curriculum starts at steps {starts}: start the first at 0, then increase")
    return tuple(stages)


class Mixer:
    """The batch plan of a config: `slot(step, position)` and `draw(step, position, allowed)`."""

    def __init__(self, config):
        data = config.data
        self.sources = tuple(data.sources)
        self.global_batch = int(data.global_batch)
        self.seed = int(data.seed)
        self.fewer_streams = float(data.get("fewer_streams", 0.0))
        if not self.sources:
            raise ValueError("config.data.sources is empty: name at least one source")
        if self.global_batch % len(self.sources):
            raise ValueError(
                f"config.data.global_batch={self.global_batch} is not divisible by the {len(self.sources)} sources "
                f"{self.sources}: every batch is split into equal groups, one per source; use a multiple of "
                f"{len(self.sources)}"
            )
        self.weights = np.zeros(modalities.NUM_MODALITIES)
        for name, weight in dict(data.modality_weights).items():
            self.weights[modalities.index(name)] = float(weight)
        self.has = []  # per source: the modality ids it has
        for name in self.sources:
            if name not in data.source_modalities:
                raise ValueError(f"config.data.source_modalities has no entry for source {name!r}: add its modalities")
            self.has.append(tuple(sorted({modalities.index(m) for m in data.source_modalities[name]})))
        self.stages = _curriculum(config, self.sources)
        for stage in self.stages:
            self._check(stage)

    def _check(self, stage: Stage) -> None:
        if self.global_batch % len(stage.sources):
            raise ValueError(
                f"curriculum stage at step {stage.start} has {len(stage.sources)} sources, which does not divide "
                f"config.data.global_batch={self.global_batch}: every batch has equal source groups"
            )
        for s in stage.sources:
            if not self.choices(stage, s):
                raise ValueError(
                    f"curriculum stage at step {stage.start}: source {self.sources[s]!r} has no modality with a "
                    "positive weight among those the stage allows; add one to config.data.source_modalities, "
                    "config.data.modality_weights or the stage"
                )

    def stage_at(self, step: int) -> Stage:
        return next(s for s in reversed(self.stages) if s.start <= step)

    def choices(self, stage: Stage, source: int) -> tuple[int, ...]:
        """Modality ids source `source` may draw in `stage` (its own, the stage's, positive weight)."""
        return tuple(m for m in self.has[source] if m in stage.modalities and self.weights[m] > 0)

    def _used(self, source: int, step: int) -> int:
        """Samples of `source` in all global batches before `step`."""
        used = 0
        for stage, end in zip(self.stages, [s.start for s in self.stages[1:]] + [None]):
            stop = step if end is None else min(step, end)
            if source in stage.sources and stop > stage.start:
                used += (stop - stage.start) * (self.global_batch // len(stage.sources))
        return used

    def slot(self, step: int, position: int) -> tuple[int, int]:
        """(source index, position in that source's stream) of batch `step`, position `position`."""
        sources = self.stage_at(step).sources
        group, within = position % len(sources), position // len(sources)
        source = sources[group]
        return source, self._used(source, step) + within

    def draw(self, step: int, position: int, allowed: Sequence[int]) -> int:
        """A modality id from `allowed` by weight, fixed by (seed, step, position)."""
        weights = self.weights[list(allowed)]
        u = np.random.default_rng([self.seed, step, position]).random()
        index = int(np.searchsorted(np.cumsum(weights), u * weights.sum(), side="right"))
        return int(allowed[min(index, len(allowed) - 1)])

    def draw_several(self, step: int, position: int, allowed: Sequence[int], streams: int) -> list[int]:
        """Up to `streams` distinct modality ids from `allowed`, drawn by weight without replacement, in a
        random order and fixed by (seed, step, position); a share `fewer_streams` of the samples keeps
        fewer (at least one)."""
        rng = np.random.default_rng([self.seed, step, position, streams])
        pool = list(allowed)
        count = min(streams, len(pool))
        if count > 1 and rng.random() < self.fewer_streams:
            count = int(rng.integers(1, count))
        chosen = []
        for _ in range(count):
            weights = self.weights[pool]
            index = int(np.searchsorted(np.cumsum(weights), rng.random() * weights.sum(), side="right"))
            chosen.append(int(pool.pop(min(index, len(pool) - 1))))
        # Streams in random order: drawn by weight, the heavy modalities would come first and a modality
        # would seldom train in a late stream (its RoPE offset), which then estimates it worse.
        return [chosen[i] for i in rng.permutation(count)]
