"""Instance masks as colours that an unsure prediction can still be read from, and back.

Instances are numbered by decreasing visible area over the clip (`by_area`: the largest is 1), and
instance i is drawn in palette colour i on black. The first three colours are the primaries red,
green and blue, so that the mean of what a pixel might be, which is what a model trained with a
squared error draws when it is unsure, is a mix of them and black whose channels are the chances:
(R, G, B) / 255 = (p1, p2, p3) and p_background = 1 - their sum. Most pixels of a clip belong to its
three largest instances; instances 4 and up take colours outside that mix (channel sum at least 1.5
x 255, on a grid of 0, 128, 255 so entries stay 128 apart).

Decoding, per pixel:
- a colour within DRAWN_RADIUS of a palette entry is that entry (a clean rendering, codec noise);
- any other colour inside the mix of black and the primaries (a channel sum up to 1 + MIX_SLACK
  times 255: a model's chances can overshoot) is read as chances: foreground where the background
  is less likely than not, then the likeliest of instances 1-3;
- any other colour is the nearest palette entry;
then an instance drawn mostly in blends, with fewer than max(MIN_PIXELS, MIN_SHARE x the foreground)
pixels over the clip, is a speck of an unsure prediction, and its pixels join the nearest entry among
the other instances. A clean rendering decodes exactly.
"""

from __future__ import annotations

import itertools

import numpy as np

from unityvideo_jax.data.render.colormaps import nearest_entry

PRIMARIES = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)


def _outside_the_mix() -> np.ndarray:
    """Colours from the 0/128/255 grid whose channel sum is at least 1.5 x 255, but no grey: brightest
    first, ties in grid order."""
    grid = np.array(list(itertools.product((255, 128, 0), repeat=3)))
    keep = (grid.sum(-1) >= 1.5 * 255) & ~((grid == grid[:, :1]).all(-1) & (grid[:, 0] < 255))
    grid = grid[keep]
    return grid[np.argsort(-grid.sum(-1), kind="stable")].astype(np.uint8)


INSTANCE_PALETTE = np.concatenate([PRIMARIES, _outside_the_mix()])  # instance i: INSTANCE_PALETTE[i - 1]
SEGMENTATION_PALETTE = np.concatenate([np.zeros((1, 3), np.uint8), INSTANCE_PALETTE])  # id 0: background
DRAWN_RADIUS = 25.0  # a fifth of the entries' least spacing (128): noise stays inside, blends fall outside
MIX_SLACK = 0.4  # channel sums up to (1 + MIX_SLACK) x 255 are mixes (a model overshoots); entries 4+ sum >= 1.5
MIN_PIXELS, MIN_SHARE = 4, 0.01


def by_area(instances: np.ndarray) -> np.ndarray:
    """`instances` (F, H, W) renumbered 1, 2, ... by decreasing pixel count over the clip (ties by id),
    background 0 kept, so an instance's colour follows from what the video shows, not from the order
    the scene was built in; scoring matches instances, so the ids do not matter there."""
    instances = np.asarray(instances)
    ids, counts = np.unique(instances[instances > 0], return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    lookup = np.zeros(int(instances.max(initial=0)) + 1, np.int64)
    lookup[order] = np.arange(1, len(order) + 1)
    return lookup[instances]


def render_instances(instances: np.ndarray) -> np.ndarray:
    """uint8 (F, H, W, 3): the instances of `instances` (F, H, W; 0 background) numbered by area, in
    their palette colours."""
    instances = np.asarray(instances)
    if instances.ndim != 3:
        raise ValueError(f"instances of shape {instances.shape}: expected (frames, height, width) integer ids")
    if instances.size and instances.min() < 0:
        raise ValueError(f"instance ids span {instances.min()}..{instances.max()}: expected 0 (background) and ids > 0")
    numbered = by_area(instances)
    if numbered.max(initial=0) > len(INSTANCE_PALETTE):
        raise ValueError(
            f"{numbered.max()} instances in one clip: the segmentation palette has {len(INSTANCE_PALETTE)} "
            "colours; merge or drop the smallest instances"
        )
    return SEGMENTATION_PALETTE[numbered]


def decode_instances(video: np.ndarray, min_pixels: int = MIN_PIXELS, min_share: float = MIN_SHARE) -> np.ndarray:
    """int32 (F, H, W) instance ids (0 background) of a rendering (float or uint8 in 0..255), read
    as the module doc says."""
    video = np.asarray(video, np.float32)
    palette = SEGMENTATION_PALETTE.astype(np.float32)
    ids = nearest_entry(video, SEGMENTATION_PALETTE).astype(np.int32)
    drawn = np.linalg.norm(video - palette[ids], axis=-1) <= DRAWN_RADIUS
    chances = video / 255.0
    mixed = ~drawn & (chances.sum(-1) <= 1.0 + MIX_SLACK)
    likeliest = np.where(chances.sum(-1) > 0.5, chances.argmax(-1) + 1, 0)
    ids = np.where(mixed, likeliest, ids)

    foreground = ids > 0
    counts = np.bincount(ids[foreground], minlength=len(SEGMENTATION_PALETTE))
    clean = np.bincount(ids[foreground & drawn], minlength=len(SEGMENTATION_PALETTE))
    unsure = clean < counts / 2  # mostly blends
    specks = (counts > 0) & unsure & (counts < max(min_pixels, min_share * foreground.sum()))
    kept = np.flatnonzero((counts > 0) & ~specks)
    if specks.any() and kept.size:
        moved = specks[ids]
        ids[moved] = kept[nearest_entry(video[moved], SEGMENTATION_PALETTE[kept])]
    return ids
