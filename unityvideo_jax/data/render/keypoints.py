"""Keypoint sets of UniSynth's figures: COCO's 17 for people, AP-10K's 17 for four-legged animals.

Both have 17 points, so a clip's keypoint array is (F, P, 17, 2) whatever its figures are; the
skeleton renderer looks a figure's limbs up by its kind.
"""

from __future__ import annotations

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO_LIMBS = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
)  # fmt: skip

AP10K_KEYPOINTS = (
    "left_eye", "right_eye", "nose", "neck", "root_of_tail",
    "left_shoulder", "left_elbow", "left_front_paw", "right_shoulder", "right_elbow", "right_front_paw",
    "left_hip", "left_knee", "left_back_paw", "right_hip", "right_knee", "right_back_paw",
)  # fmt: skip
AP10K_LIMBS = (
    (0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (3, 5), (5, 6), (6, 7), (3, 8), (8, 9), (9, 10),
    (4, 11), (11, 12), (12, 13), (4, 14), (14, 15), (15, 16),
)  # fmt: skip

NUM_KEYPOINTS = 17
LIMBS = {"human": COCO_LIMBS, "quadruped": AP10K_LIMBS}
