"""UniSynth's ground truth must agree with itself and with the geometry it was rendered from."""

from __future__ import annotations

import numpy as np
import pytest

from unityvideo_jax.data.unisynth import scene as scene_lib
from unityvideo_jax.data.unisynth.camera import Camera
from unityvideo_jax.data.unisynth.clips import (
    FAMILIES,
    NUM_PARTS,
    TRAIN_FAMILIES,
    ZERO_SHOT_FAMILIES,
    render_clip,
    render_scene,
)


def _bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """image (H, W, C) sampled at points xy (..., 2), clamped to the image."""
    h, w = image.shape[:2]
    x = np.clip(xy[..., 0], 0, w - 1.001)
    y = np.clip(xy[..., 1], 0, h - 1.001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def test_families_split_into_training_and_zero_shot():
    assert set(TRAIN_FAMILIES) == {"single_person", "two_person", "objects", "mixed"}
    assert set(ZERO_SHOT_FAMILIES) == {"three_person", "quadruped"}
    assert FAMILIES == TRAIN_FAMILIES + ZERO_SHOT_FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_renders_every_ground_truth(family):
    clip = render_clip(family, seed=3, frames=3, height=32, width=40)
    people = {"single_person": 1, "two_person": 2, "three_person": 3, "objects": 0, "quadruped": 1}
    f, h, w = 3, 32, 40
    p = clip.keypoints.shape[1]
    assert clip.rgb.shape == (f, h, w, 3) and clip.rgb.dtype == np.uint8
    assert clip.depth.shape == (f, h, w) and clip.depth.dtype == np.float32
    assert clip.flow.shape == (f, h, w, 2) and clip.flow.dtype == np.float32
    assert clip.instances.shape == (f, h, w) and clip.instances.dtype == np.int32
    assert clip.keypoints.shape == (f, p, 17, 2) and clip.visibility.shape == (f, p, 17)
    assert clip.parts.shape == (f, h, w) and clip.parts.dtype == np.uint8
    assert clip.uv.shape == (f, h, w, 2) and clip.uv.dtype == np.float32
    assert p == people.get(family, p) and len(clip.figure_kinds) == p
    assert clip.family == family and isinstance(clip.caption, str) and "camera" in clip.caption
    assert np.all(np.isfinite(clip.depth)) and clip.depth.min() > 0
    assert np.all(np.isfinite(clip.flow))
    assert clip.parts.max() <= NUM_PARTS and clip.uv.min() >= 0 and clip.uv.max() <= 1
    # Body parts exist exactly on figures, and never on ground, backdrop or objects.
    on_figure = (clip.instances >= 1) & (clip.instances <= p)
    assert np.all(on_figure[clip.parts > 0])
    assert np.all(clip.parts[on_figure] > 0)
    assert np.all(clip.uv[clip.parts == 0] == 0)
    if family == "quadruped":
        assert clip.figure_kinds == ("quadruped",) and "dog" in clip.caption


def test_unknown_family_raises_naming_it_and_the_valid_ones():
    with pytest.raises(ValueError, match="'five_person'.*single_person.*quadruped"):
        render_clip("five_person", seed=0)
    with pytest.raises(ValueError, match="frames=0"):
        render_clip("objects", seed=0, frames=0)
    with pytest.raises(ValueError, match="seed=-1"):
        render_clip("objects", seed=-1)


def test_same_seed_gives_the_same_clip_and_other_seeds_differ():
    a = render_clip("mixed", seed=11, frames=3, height=32, width=32)
    b = render_clip("mixed", seed=11, frames=3, height=32, width=32)
    c = render_clip("mixed", seed=12, frames=3, height=32, width=32)
    for name in ("rgb", "depth", "flow", "instances", "keypoints", "visibility", "parts", "uv"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.caption == b.caption
    assert not np.array_equal(a.rgb, c.rgb)
    assert not np.array_equal(a.depth, c.depth)


def test_same_seed_in_other_families_gives_other_scenes():
    a = render_clip("two_person", seed=5, frames=1, height=32, width=32)
    b = render_clip("three_person", seed=5, frames=1, height=32, width=32)
    assert not np.array_equal(a.rgb, b.rgb)


@pytest.mark.parametrize("family", ["single_person", "objects", "mixed", "quadruped"])
def test_flow_warps_the_next_frame_onto_this_one(family):
    """Sampling frame t+1 at x + flow(x) gives frame t wherever the point stays visible.

    Occlusion is a depth check: the four pixels the sample mixes must belong to the same instance,
    lie on one smooth surface, and be at about the depth the point had."""
    errors, zero_flow, warped_moving, valid_share = [], [], [], []
    for seed in range(2):
        clip = render_clip(family, seed, frames=4, height=80, width=80)
        h, w = clip.depth.shape[1:]
        ys, xs = np.mgrid[0:h, 0:w]
        for t in range(3):
            target = np.stack([xs, ys], -1) + clip.flow[t]
            tx, ty = target[..., 0], target[..., 1]
            inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
            x0 = np.clip(np.floor(target[..., 0]).astype(int), 0, w - 2)
            y0 = np.clip(np.floor(target[..., 1]).astype(int), 0, h - 2)
            corners = [(y0 + dy, x0 + dx) for dy in (0, 1) for dx in (0, 1)]
            ids = np.stack([clip.instances[t + 1][c] for c in corners])
            depths = np.stack([clip.depth[t + 1][c] for c in corners])
            same = (ids == clip.instances[t][None]).all(0)
            smooth = depths.max(0) - depths.min(0) < 0.05 * depths.min(0)
            near = np.abs(_bilinear(clip.depth[t + 1][..., None], target)[..., 0] - clip.depth[t]) < 0.1 * clip.depth[t]
            valid = inside & same & smooth & near
            warped = _bilinear(clip.rgb[t + 1].astype(np.float64), target)
            error = np.abs(warped - clip.rgb[t]).mean(-1)
            still = np.abs(clip.rgb[t + 1].astype(np.float64) - clip.rgb[t]).mean(-1)
            moving = valid & (np.linalg.norm(clip.flow[t], axis=-1) > 0.5) & (still > 2.0)  # textured and moving
            errors.append(error[valid])
            warped_moving.append(error[moving])
            zero_flow.append(still[moving])
            valid_share.append(valid.mean())
    errors = np.concatenate(errors)
    assert np.mean(valid_share) > 0.5
    assert errors.mean() < 1.5, errors.mean()  # 0..255 scale
    assert np.percentile(errors, 95) < 5.0
    # The flow is what explains the change: where pixels change, warping removes most of it.
    assert np.concatenate(warped_moving).mean() < 0.3 * np.concatenate(zero_flow).mean()


def test_last_frame_flow_is_the_true_flow_to_the_frame_after_the_clip():
    """Frames are centred in time, so frame 3 of a 5-frame clip is frame 4 of a 7-frame clip."""
    short = render_clip("single_person", seed=2, frames=5, height=32, width=32)
    long = render_clip("single_person", seed=2, frames=7, height=32, width=32)
    np.testing.assert_array_equal(short.rgb, long.rgb[1:6])
    np.testing.assert_allclose(short.flow[-1], long.flow[5], atol=1e-4)
    assert np.abs(short.flow[-1]).max() > 0.1


def _ground_depth(camera: Camera) -> np.ndarray:
    ys, xs = np.mgrid[0 : camera.height, 0 : camera.width]
    dirs = camera.ray_directions(np.stack([xs, ys], -1).astype(np.float64))
    with np.errstate(divide="ignore"):
        t = -camera.origin[2] / dirs[..., 2]
    return np.where(dirs[..., 2] < 0, t, np.inf)


def test_depth_agrees_with_the_geometry():
    """A ball's depth at its centre pixel is its camera distance minus its radius (as z), and
    ground pixels lie on the plane z = 0."""
    checked_balls = 0
    for seed in range(12):
        scene = scene_lib.sample_scene("objects", seed)
        clip = render_scene(scene, frames=1, height=96, width=96)
        camera = scene.camera.at(0.0, 96, 96)
        for index, obj in enumerate(scene.objects, start=1 + len(scene.figures)):
            if obj.shape != "ball":
                continue
            centre = obj.pose(0.0)[1][0]
            cam = (centre - camera.origin) @ camera.rotation
            xy, _ = camera.project(centre)
            x, y = np.round(xy).astype(int)
            if not (0 <= x < 96 and 0 <= y < 96) or clip.instances[0, y, x] != index:
                continue
            distance = np.linalg.norm(cam)
            expected = (distance - obj.half[0]) * cam[2] / distance
            assert clip.depth[0, y, x] == pytest.approx(expected, rel=5e-3)
            checked_balls += 1
        ground = _ground_depth(camera)
        on_ground = (clip.instances[0] == 0) & (ground < 20.0)
        np.testing.assert_allclose(clip.depth[0][on_ground], ground[on_ground], rtol=1e-4)
    assert checked_balls >= 3


@pytest.mark.parametrize("family", ["single_person", "three_person", "quadruped"])
def test_visible_keypoints_fall_on_their_figure(family):
    on_figure, on_part, visible = [], [], 0
    for seed in range(3):
        clip = render_clip(family, seed, frames=3, height=96, width=96)
        f_idx, p_idx, j_idx = np.nonzero(clip.visibility)
        xy = np.round(clip.keypoints[f_idx, p_idx, j_idx]).astype(int)
        on_figure.append(clip.instances[f_idx, xy[:, 1], xy[:, 0]] == p_idx + 1)
        on_part.append(clip.parts[f_idx, xy[:, 1], xy[:, 0]] > 0)
        visible += len(f_idx)
    assert visible > 40
    assert np.concatenate(on_figure).mean() > 0.97
    assert np.concatenate(on_part).mean() > 0.97


def test_foreground_covers_about_a_third_of_the_frame():
    """Ground and backdrop must not fill the frame, or a constant depth map would score well."""
    clips = [render_clip(FAMILIES[i % len(FAMILIES)], 100 + i, frames=3, height=40, width=40) for i in range(40)]
    shares = [(clip.instances > 0).mean() for clip in clips]
    assert 0.25 < np.mean(shares) < 0.45, np.mean(shares)
    assert np.mean(np.array(shares) < 0.05) < 0.1  # hardly any clip is nearly empty


def test_cameras_vary_in_height_pitch_and_field_of_view():
    paths = [scene_lib.sample_scene(FAMILIES[i % len(FAMILIES)], i).camera for i in range(30)]
    heights = [p.pose(0.0)[0][2] for p in paths]
    assert np.ptp(heights) > 1.0
    assert np.degrees(np.ptp([p.pitch for p in paths])) > 15
    assert np.degrees(np.ptp([p.vertical_fov for p in paths])) > 15
    assert len({p.motion for p in paths}) >= 4


def test_caption_describes_the_scene():
    two = render_clip("two_person", seed=1, frames=1, height=16, width=16).caption
    objects = render_clip("objects", seed=1, frames=1, height=16, width=16).caption
    assert "people" in two or two.count("person") == 2
    assert any(word in objects for word in ("ball", "box", "pillar")) and "person" not in objects


def test_caption_directions_match_the_flow():
    """Under a static camera, "walks right" means the figure's pixels flow right; a camera that
    pans or moves right makes the ground and backdrop flow left."""
    checked = 0
    for seed in range(40):
        scene = scene_lib.sample_scene("single_person", seed)
        if scene.camera.motion not in ("static", "pan", "truck"):
            continue
        clip = render_scene(scene, frames=2, height=48, width=48)
        text = clip.caption
        if scene.camera.motion == "static" and (" walks right" in text or " walks left" in text):
            person = clip.flow[0, ..., 0][clip.instances[0] == 1]
            assert np.sign(person.mean()) == (1 if " walks right" in text else -1), text
            checked += 1
        if scene.camera.motion != "static":
            background = clip.flow[0, ..., 0][clip.instances[0] == 0]
            assert np.sign(background.mean()) == (-1 if text.rstrip(".").endswith("right") else 1), text
            checked += 1
    assert checked >= 8
