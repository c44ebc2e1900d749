"""Surface colour of UniSynth: named base colours, solid textures and Lambertian shading.

Textures are smooth functions of a surface point's coordinates in its own rigid frame, so a moving
point keeps its colour (what makes the ground-truth flow warp one frame onto the next). Their
contrast fades where one pixel spans a texture period, a cheap stand-in for mip-mapping that keeps
far ground from aliasing.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Caption words for base colours (linear RGB in [0, 1]).
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.82, 0.12, 0.10),
    "orange": (0.95, 0.50, 0.10),
    "yellow": (0.95, 0.85, 0.15),
    "green": (0.20, 0.65, 0.20),
    "blue": (0.15, 0.30, 0.85),
    "purple": (0.50, 0.20, 0.70),
    "pink": (0.95, 0.50, 0.70),
    "white": (0.92, 0.92, 0.90),
    "gray": (0.50, 0.50, 0.52),
    "brown": (0.50, 0.32, 0.16),
    "teal": (0.10, 0.60, 0.60),
    "black": (0.12, 0.12, 0.13),
}
COLOUR_NAMES = tuple(COLOURS)
SKIN_TONES = ((0.96, 0.80, 0.69), (0.87, 0.67, 0.50), (0.72, 0.52, 0.36), (0.48, 0.33, 0.22), (0.30, 0.20, 0.14))

PLAIN, STRIPES, CHECKER, MOTTLED = 0, 1, 2, 3
TEXTURES = (PLAIN, STRIPES, CHECKER, MOTTLED)


@dataclasses.dataclass(frozen=True)
class Material:
    colour: tuple[float, float, float]
    texture: int = PLAIN
    frequency: float = 1.0  # texture periods per metre
    contrast: float = 0.0  # 0 = plain colour, 1 = the pattern reaches black
    second: tuple[float, float, float] | None = None  # the pattern's other colour (default: darker base)


def random_material(rng: np.random.Generator, colour_name: str) -> Material:
    """A base colour with a random texture of moderate contrast."""
    texture = int(rng.choice(TEXTURES))
    return Material(COLOURS[colour_name], texture, float(rng.uniform(2.0, 6.0)), float(rng.uniform(0.25, 0.6)))


def _pattern(texture: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Pattern in [0, 1] (N,) of each point's texture kind over its scaled coordinates (N, 3)."""
    phase = 2.0 * np.pi * coords
    stripes = 0.5 + 0.5 * np.tanh(3.0 * np.sin(phase[:, 0] + 0.7 * phase[:, 2]))
    checker = 0.5 + 0.5 * np.tanh(4.0 * np.sin(phase[:, 0]) * np.sin(phase[:, 1]) * np.sin(phase[:, 2] + 0.5))
    x, y, z = phase[:, 0], phase[:, 1], phase[:, 2]
    mottled = 0.5 + 0.25 * (np.sin(x + 1.3 * y) + np.sin(0.8 * z - 1.1 * x + 2.0))
    table = np.stack([np.zeros(len(coords)), stripes, checker, mottled], -1)
    return np.take_along_axis(table, texture[:, None], -1)[:, 0]


def albedo(table: "MaterialTable", material: np.ndarray, coords: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Colours (N, 3) of points with material ids (N,) at frame coordinates (N, 3) in metres;
    `footprint` (N,) is the metres one pixel spans there."""
    freq = table.frequency[material]
    fade = np.clip(1.0 - 1.5 * freq * footprint, 0.0, 1.0)
    mix = (table.contrast[material] * fade * _pattern(table.texture[material], coords * freq[:, None]))[:, None]
    return (1.0 - mix) * table.colour[material] + mix * table.second[material]


@dataclasses.dataclass(frozen=True)
class MaterialTable:
    """Materials as arrays indexed by material id."""

    colour: np.ndarray  # (Q, 3)
    second: np.ndarray  # (Q, 3)
    texture: np.ndarray  # (Q,) int
    frequency: np.ndarray  # (Q,)
    contrast: np.ndarray  # (Q,)

    @classmethod
    def of(cls, materials: list[Material]) -> "MaterialTable":
        colour = np.array([m.colour for m in materials], np.float64)
        second = np.array([m.second if m.second is not None else tuple(0.35 * np.array(m.colour)) for m in materials])
        return cls(
            colour,
            second.astype(np.float64),
            np.array([m.texture for m in materials], np.int64),
            np.array([m.frequency for m in materials], np.float64),
            np.array([m.contrast for m in materials], np.float64),
        )


def shade(colour: np.ndarray, normals: np.ndarray, light: np.ndarray, ambient: float = 0.4) -> np.ndarray:
    """Lambertian shading (N, 3) of colours under a directional light (unit vector toward it)."""
    diffuse = np.clip(normals @ light, 0.0, 1.0)
    return colour * (ambient + (1.0 - ambient) * diffuse)[:, None]


def to_uint8(colour: np.ndarray) -> np.ndarray:
    return np.clip(np.round(colour * 255.0), 0, 255).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class Backdrop:
    """The painted cylinder that closes the world: a skyline of trees or buildings under a sky.

    It is a real surface at `radius` metres, so it has finite depth and moves in the flow exactly
    as the camera dictates.
    """

    sky: tuple[float, float, float]
    zenith: tuple[float, float, float]
    skyline: tuple[float, float, float]
    skyline_height: float  # metres
    bumps: int  # skyline undulations around the circle
    phases: tuple[float, float, float]
    radius: float = 30.0

    def albedo(self, points: np.ndarray) -> np.ndarray:
        azimuth = np.arctan2(points[:, 1], points[:, 0])
        z = points[:, 2]
        p0, p1, p2 = self.phases
        waves = 0.35 * np.sin(self.bumps * azimuth + p0) + 0.2 * np.sin(2.3 * self.bumps * azimuth + p1)
        line = self.skyline_height * (1.0 + waves)
        up = np.clip(z / (0.8 * self.radius), 0.0, 1.0)[:, None]
        sky = (1.0 - up) * np.array(self.sky) + up * np.array(self.zenith)
        detail = 0.8 + 0.2 * np.sin(37.0 * azimuth + p2) * np.sin(1.3 * z)
        wall = np.array(self.skyline) * detail[:, None]
        return np.where((z < line)[:, None], wall, sky)
