"""openpose family (openpose, openpose_hand, openpose_face, openpose_faceonly, openpose_full).

The keypoint decoding, grouping, boxes and drawing are checked on synthetic maps whose answer is known. The
networks are built from files in the released key layout (tests/fixtures/annotators/*.json); through the
ControlNet service the body, hand and face files carry hand-set weights that turn coloured squares of the picture
into part heatmaps (and a constant affinity field), so the drawn skeleton can be checked pixel by pixel.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modules.extensions.manager import install_extensions
from tests.annotator_weights import controlnet_module, released_layout
from tests.checkpoint_factory import write_state_dict
from tests.helpers import make_backend

NAMES = ("openpose", "openpose_hand", "openpose_face", "openpose_faceonly", "openpose_full")

# COCO-18 body parts used below
NOSE, NECK, R_SHOULDER, R_ELBOW, R_WRIST, R_EYE = 0, 1, 2, 3, 4, 14


def openpose():
    return controlnet_module("annotator_openpose")


# --- synthetic network outputs -------------------------------------------------------------------------------


def standing_person(center_x: float, top: float, unit: float) -> list[tuple[float, float]]:
    """18 keypoints (x, y) of an upright figure, ``unit`` px per head height."""
    shape = [(0, 1), (0, 2), (-1, 2), (-1.5, 3.5), (-1.7, 5), (1, 2), (1.5, 3.5), (1.7, 5), (-0.6, 5), (-0.6, 7)]
    shape += [(-0.6, 9), (0.6, 5), (0.6, 7), (0.6, 9), (-0.3, 0.8), (0.3, 0.8), (-0.6, 1), (0.6, 1)]
    return [(center_x + unit * dx, top + unit * dy) for dx, dy in shape]


def body_maps_of(people, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (HxWx19: a Gaussian bump per part) and affinity fields (HxWx38: the limb's unit vector within
    2 px of each limb) of ``people``, at full size."""
    op = openpose()
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    heatmaps, fields = np.zeros((height, width, 19)), np.zeros((height, width, 38))
    for person in people:
        for part, (x, y) in enumerate(person):
            bump = np.exp(-((columns - x) ** 2 + (rows - y) ** 2) / (2 * 3.0**2))
            heatmaps[:, :, part] = np.maximum(heatmaps[:, :, part], bump)
        for (a, b), (cx, cy) in zip(op.LIMBS, op.LIMB_PAF_CHANNELS, strict=True):
            (x1, y1), (x2, y2) = person[a], person[b]
            length = np.hypot(x2 - x1, y2 - y1)
            ux, uy = (x2 - x1) / length, (y2 - y1) / length
            along = (columns - x1) * ux + (rows - y1) * uy
            across = np.abs((columns - x1) * uy - (rows - y1) * ux)
            inside = (along >= -2) & (along <= length + 2) & (across <= 2)
            fields[:, :, cx][inside], fields[:, :, cy][inside] = ux, uy
    return heatmaps, fields


def test_two_people_are_decoded_from_heatmaps_and_affinity_fields():
    op = openpose()
    truth = [standing_person(30, 4, 10.0), standing_person(100, 10, 10.0)]  # whole pixels: no tied peaks
    heatmaps, fields = body_maps_of(truth, 112, 140)
    peaks = op.find_peaks(heatmaps)
    assert [len(part) for part in peaks] == [2] * 18  # one peak per part and person, no spurious ones
    people = op.group_people(peaks, fields, 112)
    assert len(people) == 2
    found = sorted(([(p.x, p.y) for p in person] for person in people), key=lambda person: person[NECK][0])
    for person, expected in zip(found, truth, strict=True):
        assert np.abs(np.array(person) - np.array(expected)).max() < 1e-9  # every part of the right person


def test_people_with_few_parts_or_a_wrong_field_are_dropped():
    op = openpose()
    heatmaps, fields = body_maps_of([standing_person(60, 5, 10.0)], 112, 120)
    for part in range(3, 18):  # only nose, neck, right shoulder left: 3 parts are not a person
        heatmaps[:, :, part] = 0
    assert op.group_people(op.find_peaks(heatmaps), fields, 112) == []
    heatmaps, fields = body_maps_of([standing_person(60, 5, 10.0)], 112, 120)
    assert len(op.group_people(op.find_peaks(heatmaps), fields, 112)) == 1
    assert op.group_people(op.find_peaks(heatmaps), -fields, 112) == []  # fields pointing backwards join nothing


def test_limbs_pair_the_best_aligned_peaks_once_each():
    op = openpose()
    field = np.zeros((60, 80, 2))
    field[:, :, 0] = 1.0  # everything points right
    starts = [op.Peak(10, 10, 1.0, 0), op.Peak(10, 40, 1.0, 1)]
    ends = [op.Peak(40, 40, 1.0, 2), op.Peak(40, 12, 1.0, 3), op.Peak(5, 40, 1.0, 4)]
    pairs = op.connect_limb(field, starts, ends, 60)
    assert [(a.index, b.index) for a, b, _ in pairs] == [(1, 2), (0, 3)]  # horizontal first; a leftward end never
    assert pairs[0][2] == pytest.approx(1.0) and 0.95 < pairs[1][2] < 1.0


def test_body_is_drawn_with_a1111_colours():
    op = openpose()
    height, width = 64, 96
    keypoints = [None] * 18
    keypoints[NECK], keypoints[R_SHOULDER], keypoints[R_ELBOW] = (
        (20 / 96, 32 / 64),
        (50 / 96, 32 / 64),
        (80 / 96, 32 / 64),
    )
    canvas = op.draw_poses([op.Pose(keypoints)], height, width)
    assert canvas.shape == (height, width, 3) and canvas.dtype == np.uint8
    assert canvas[32, 35].tolist() == [153, 0, 0]  # neck-shoulder limb: red at 60 %
    assert canvas[32, 65].tolist() == [153, 102, 0]  # shoulder-elbow limb: orange at 60 %
    assert canvas[32, 20].tolist() == [255, 85, 0]  # neck disc
    assert canvas[32, 50].tolist() == [255, 170, 0]  # right shoulder disc
    assert canvas[32, 80].tolist() == [255, 255, 0]  # right elbow disc
    assert canvas[35, 35].tolist() == [153, 0, 0] and not canvas[38, 35].any()  # 4 px half-thickness
    assert not canvas[10].any() and not canvas[:, :14].any()
    assert not op.draw_poses([op.Pose(keypoints)], height, width, body=False).any()


def test_hands_and_faces_are_drawn_as_in_a1111():
    op = openpose()
    height, width = 64, 64
    hand = [(-1 / width, -1 / height)] * 21  # nothing found
    hand[0], hand[1], hand[5] = (10 / 64, 50 / 64), (30 / 64, 50 / 64), (10 / 64, 20 / 64)
    face = [(40 / 64, 10 / 64), (-1 / 64, 12 / 64)]
    canvas = op.draw_poses([op.Pose([None] * 18, right_hand=hand, face=face)], height, width, hands=True, face=True)
    assert canvas[50, 20].tolist() == [255, 0, 0]  # bone 0 (wrist-thumb): hue 0
    assert canvas[35, 10].tolist() == [204, 255, 0]  # bone 4 (wrist-index): hue 0.2
    assert canvas[50, 10].tolist() == [0, 0, 255] and canvas[50, 30].tolist() == [0, 0, 255]  # joints: blue
    assert canvas[10, 40].tolist() == [255, 255, 255]  # face point: white
    assert not canvas[12, :5].any() and not canvas[:3, :3].any()  # points at -1 are not drawn
    lit = {tuple(c) for c in canvas.reshape(-1, 3)}
    assert {tuple(round(v) for v in op.hand_edge_color(e)) for e in (0, 4)} <= lit


def test_hand_and_face_boxes_follow_the_arm_and_head():
    op = openpose()
    person = [None] * 18
    person[R_SHOULDER], person[R_ELBOW], person[R_WRIST] = (100, 20), (100, 60), (100, 100)
    # a third of the forearm past the wrist, 1.5 x the longer segment wide: centre (100, 113.2), side 60
    assert op.hand_boxes(person, 200, 200) == [(70, 83, 60, False)]
    assert op.hand_boxes(person, 200, 130) == [(70, 83, 46, False)]  # cut at the bottom edge
    assert op.hand_boxes(person, 200, 100) == []  # nothing of it left in the picture
    person[5], person[6], person[7] = (10, 10), (10, 20), (10, 30)  # a left arm too short for a 20 px box
    assert op.hand_boxes(person, 200, 200) == [(70, 83, 60, False)]
    person[NOSE], person[R_EYE] = (50, 50), (56, 46)
    assert op.face_box(person, 200, 200) == (32, 32, 36)  # 3 x the nose-eye distance either side
    person[17] = (80, 50)  # an ear 30 px away: 1.5 x 30 wins
    assert op.face_box(person, 200, 200) == (5, 5, 90)
    person[R_EYE] = person[17] = None
    assert op.face_box(person, 200, 200) is None


def test_hand_points_take_the_strongest_blob_and_face_points_skip_empty_maps():
    op = openpose()
    rows, columns = np.mgrid[0:128, 0:128]
    heatmaps = np.zeros((128, 128, 22))
    heatmaps[:, :, 0] = 0.6 * np.exp(-((columns - 30) ** 2 + (rows - 40) ** 2) / 18.0)
    heatmaps[:, :, 0] += 0.8 * np.exp(-((columns - 100) ** 2 + (rows - 90) ** 2) / 2.0)  # higher but smaller
    heatmaps[:, :, 1] = 0.5 * np.exp(-((columns - 64) ** 2 + (rows - 10) ** 2) / 18.0)
    points = op.hand_points(heatmaps, 64, 96)
    assert points[0] == (15, 30) and points[1] == (32, 7)  # 128x128 map scaled to the 64x96 crop
    assert points[2:] == [(0, 0)] * 19
    face_maps = np.zeros((71, 30, 40))
    face_maps[0, 5, 7] = face_maps[2, 20, 30] = 0.9
    face_maps[1, 3, 3] = 0.04  # below 0.05: left out
    assert op.face_peaks(face_maps) == [(7, 5), (30, 20)]


def random_state(stem: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors in the released file's layout (keys and shapes from the fixture, not from the module)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in released_layout(stem).items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        state[key] = torch.randn(shape, generator=generator) / fan_in**0.5 if len(shape) > 1 else torch.zeros(shape)
    return state


def test_networks_build_from_the_released_layouts_only():
    op = openpose()
    body = op.build("openpose/body_pose_model.pth", random_state("body_pose_model")).eval()
    hand = op.build("openpose/hand_pose_model.pth", random_state("hand_pose_model")).eval()
    face = op.build("openpose/facenet.pth", random_state("facenet")).eval()
    assert sum(p.numel() for p in body.parameters()) == 52_311_446
    with torch.inference_mode():
        fields, heatmaps = body(torch.rand(1, 3, 64, 48) - 0.5)
        assert fields.shape == (1, 38, 8, 6) and heatmaps.shape == (1, 19, 8, 6)
        assert heatmaps.min() >= 0 and fields.min() < 0  # A1111 ends the heatmaps (not the fields) with a ReLU
        assert hand(torch.zeros(1, 3, 64, 64)).shape == (1, 22, 8, 8)
        assert face(torch.zeros(1, 3, 64, 64)).shape == (1, 71, 8, 8)
    with pytest.raises(RuntimeError, match="size mismatch"):  # same names, 71 instead of 22 maps
        op.build("openpose/hand_pose_model.pth", random_state("facenet"))
    with pytest.raises(KeyError, match="conv4_3"):
        op.build("openpose/hand_pose_model.pth", random_state("body_pose_model"))
    with pytest.raises(ValueError):
        op.build("openpose/other.pth", {})


# --- through the ControlNet service --------------------------------------------------------------------------

# A colour indicator: +-1 per BGR channel and bias -1 gives ~0.5 on that colour and <= 0 on the other corners of
# the RGB cube; the indicators are then carried through every layer (a 1 at the kernel centre, channel to channel).
BODY_COLOURS = {  # RGB -> body part whose heatmap it drives
    (255, 255, 255): NECK,
    (255, 0, 0): R_SHOULDER,
    (0, 255, 0): R_ELBOW,
    (0, 0, 255): R_WRIST,
    (255, 255, 0): NOSE,
    (0, 255, 255): R_EYE,
}
FACE_COLOUR = (255, 0, 255)  # drives face point 0 and hand point 0
POINTING_RIGHT = (12, 14, 16, 28, 30)  # x channels of neck-shoulder, shoulder-elbow, elbow-wrist, neck-nose, nose-eye


def _indicator(state, layer: str, channel: int, rgb: tuple[int, int, int]) -> None:
    state[f"{layer}.weight"][channel, :, 1, 1] = torch.tensor([1.0 if v else -1.0 for v in reversed(rgb)])
    state[f"{layer}.bias"][channel] = -1.0


def _carry(state, layers, channels) -> None:
    for name in layers:
        weight = state[f"{name}.weight"]
        for channel in channels:
            weight[channel, channel, weight.shape[2] // 2, weight.shape[3] // 2] = 1.0


def painted_body_weights() -> dict[str, torch.Tensor]:
    op = openpose()
    state = {key: torch.zeros(shape) for key, shape in released_layout("body_pose_model").items()}
    channels = range(len(BODY_COLOURS))
    for channel, rgb in enumerate(BODY_COLOURS):
        _indicator(state, "conv1_1", channel, rgb)
        state["Mconv1_stage6_L2.weight"][channel, 57 + channel, 3, 3] = 1.0  # the features after paf + heatmaps
        state["Mconv7_stage6_L2.weight"][BODY_COLOURS[rgb], channel, 0, 0] = 2.0
    _carry(state, [layer[0] for layer in op.BODY_FRONT if layer != op.POOL][1:], channels)
    _carry(state, [f"Mconv{i}_stage6_L2" for i in range(2, 7)], channels)
    for channel in POINTING_RIGHT:
        state["Mconv7_stage6_L1.bias"][channel] = 1.0
    return {key: value.half() for key, value in state.items()}


def painted_crop_weights(stem: str, channels: int, colour: tuple[int, int, int]) -> dict[str, torch.Tensor]:
    """Hand or face network whose point 0 heatmap lights up on squares of ``colour``."""
    op = openpose()
    state = {key: torch.zeros(shape) for key, shape in released_layout(stem).items()}
    _indicator(state, "conv1_1", 0, colour)
    _carry(state, [layer[0] for layer in op.CROP_FRONT if layer != op.POOL][1:], [0])
    state["Mconv1_stage6.weight"][0, channels, 3, 3] = 1.0  # the stage input is (previous maps, features)
    _carry(state, [f"Mconv{i}_stage6" for i in range(2, 7)], [0])
    state["Mconv7_stage6.weight"][0, 0, 0, 0] = 2.0
    return {key: value.half() for key, value in state.items()}


def squares(size: tuple[int, int], placed: list[tuple[tuple[int, int, int], int, int]]) -> Image.Image:
    image = Image.new("RGB", size, (0, 0, 0))
    draw = ImageDraw.Draw(image)
    for colour, x, y in placed:
        draw.rectangle((x - 6, y - 6, x + 5, y + 5), fill=colour)
    return image


def near(canvas: np.ndarray, x: int, y: int, rgb: tuple[int, int, int], reach: int = 2) -> bool:
    window = canvas[y - reach : y + reach + 1, x - reach : x + reach + 1].reshape(-1, 3)
    return bool((window == np.array(rgb)).all(axis=1).any())


@dataclasses.dataclass
class Setup:
    service: object
    settings: object
    annotators: Path  # with the three openpose files
    empty: Path  # without them

    def use(self, folder: Path):
        self.settings.update({"control_net_modules_path": str(folder)}, save=False)
        return self.service


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data = tmp_path_factory.mktemp("openpose")
    backend = make_backend(data)
    install_extensions(backend)
    folder = data / "annotators" / "openpose"
    write_state_dict(painted_body_weights(), folder / "body_pose_model.pth", fmt="ckpt", wrap=False)
    face = painted_crop_weights("facenet", 71, FACE_COLOUR)
    write_state_dict(face, folder / "facenet.pth", fmt="ckpt", wrap=False)
    hand = painted_crop_weights("hand_pose_model", 22, FACE_COLOUR)
    write_state_dict(hand, folder / "hand_pose_model.pth", fmt="ckpt", wrap=False)
    (data / "empty").mkdir()
    return Setup(backend.offers.find("controlnet"), backend.settings, folder.parent, data / "empty")


def test_openpose_needs_its_files(setup):
    service = setup.use(setup.empty)
    assert not set(NAMES) & set(service.module_names())
    with pytest.raises(ValueError, match=r"openpose/body_pose_model\.pth"):
        service.detect("openpose", squares((64, 64), []), 64)
    assert set(NAMES) <= set(setup.use(setup.annotators).module_names())


def test_openpose_draws_the_painted_people(setup):
    service = setup.use(setup.annotators)
    arm = [((255, 255, 255), 24), ((255, 0, 0), 48), ((0, 255, 0), 72), ((0, 0, 255), 96)]
    picture = squares((128, 128), [(colour, x, y) for y in (32, 96) for colour, x in arm])
    detected, res, *_ = service.detect("openpose", picture, 128)
    assert res == 128 and detected.shape == (128, 128, 3) and detected.dtype == np.uint8
    for y in (32, 96):  # both people, each neck - right shoulder - elbow - wrist
        assert near(detected, 24, y, (255, 85, 0)) and near(detected, 48, y, (255, 170, 0))
        assert near(detected, 72, y, (255, 255, 0)) and near(detected, 96, y, (170, 255, 0))
        assert near(detected, 36, y, (153, 0, 0)) and near(detected, 60, y, (153, 102, 0))
        assert near(detected, 84, y, (153, 153, 0))
    assert not detected[45:83].any() and not detected[:, :12].any()  # nothing between or beside them
    palette = {(0, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (153, 0, 0), (153, 102, 0)}
    assert {tuple(c) for c in detected.reshape(-1, 3)} == palette | {(153, 153, 0)}
    small, *_ = service.detect("openpose", picture.resize((256, 256)), 96)  # the short side is the resolution
    assert small.shape == (96, 96, 3) and small.any()


def test_face_points_come_from_the_face_box(setup):
    service = setup.use(setup.annotators)
    # neck, right shoulder, nose up and to the right, right eye beyond it: a 120 px face box at the top left
    body = [((255, 255, 255), 30, 100), ((255, 0, 0), 60, 100), ((255, 255, 0), 50, 70), ((0, 255, 255), 70, 66)]
    picture = squares((128, 128), [*body, (FACE_COLOUR, 40, 30)])
    face_only, *_ = service.detect("openpose_faceonly", picture, 128)
    lit = np.argwhere(face_only.any(axis=2))
    assert len(lit) and {tuple(c) for c in face_only[face_only.any(axis=2)]} == {(255, 255, 255)}
    dot_y, dot_x = lit.mean(axis=0)  # one dot, on the magenta square (its map is flat there: the first maximum)
    assert np.ptp(lit, axis=0).max() <= 6 and 34 <= dot_x <= 45 and 24 <= dot_y <= 35
    with_body, *_ = service.detect("openpose_face", picture, 128)
    body_only, *_ = service.detect("openpose", picture, 128)
    assert near(body_only, 30, 100, (255, 85, 0)) and near(body_only, 50, 70, (255, 0, 0))  # neck, nose
    assert np.array_equal(with_body[face_only.any(axis=2)], face_only[face_only.any(axis=2)])
    assert np.array_equal(with_body[~face_only.any(axis=2)], body_only[~face_only.any(axis=2)])
    # no elbow or wrist, so no hand box: the hand network is loaded but the map is the body's
    hand, *_ = service.detect("openpose_hand", picture, 128)
    assert np.array_equal(hand, body_only)


def test_hand_points_come_from_the_box_beyond_the_wrist(setup):
    service = setup.use(setup.annotators)
    arm = [((255, 255, 255), 24), ((255, 0, 0), 48), ((0, 255, 0), 72), ((0, 0, 255), 96)]
    picture = squares((128, 96), [(colour, x, 40) for colour, x in arm] + [(FACE_COLOUR, 110, 40)])
    body_only, *_ = service.detect("openpose", picture, 96)
    with_hand, *_ = service.detect("openpose_hand", picture, 96)  # the hand network runs at four sizes
    changed = np.argwhere((with_hand != body_only).any(axis=2))
    assert len(changed), "no hand point drawn"
    dot_y, dot_x = changed.mean(axis=0)
    assert np.ptp(changed, axis=0).max() <= 8  # one joint disc (a single point draws no bones)
    # on the magenta square beyond the wrist (its map is flat there: the first maximum, near the corner)
    assert 102 <= dot_x <= 116 and 32 <= dot_y <= 46
    assert {tuple(c) for c in with_hand[tuple(changed.T)]} == {(0, 0, 255)}  # A1111's blue hand joints


def test_a_wrong_file_is_named(setup, tmp_path):
    folder, released = tmp_path / "openpose", setup.annotators / "openpose"
    folder.mkdir()
    (folder / "body_pose_model.pth").symlink_to(released / "body_pose_model.pth")
    (folder / "facenet.pth").symlink_to(released / "hand_pose_model.pth")  # the hand model under the face's name
    service = setup.use(tmp_path)
    try:
        with pytest.raises(ValueError, match=r"facenet\.pth"):
            service.detect("openpose_face", squares((64, 64), []), 64)
    finally:
        setup.use(setup.annotators)
