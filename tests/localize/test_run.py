"""localize(): boxes in original pixels for any image size, JSON shape, both box methods."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "explain"))
from _cam_models import LesionNet, lesion_image  # noqa: E402

from cxrkit.data.transforms import TransformSpec  # noqa: E402
from cxrkit.localize.metrics import iobb  # noqa: E402
from cxrkit.localize.run import boxes_json, localize  # noqa: E402

NET = LesionNet()  # one instance: its ONNX export is made once and cached


@pytest.mark.parametrize("geometry", ["resize", "center_crop", "pad"])
@pytest.mark.parametrize("shape,centre", [((400, 700), (200, 420)), ((900, 500), (500, 260))])
def test_box_lands_on_the_lesion_in_original_pixels(geometry, shape, centre, rng) -> None:
    spec = TransformSpec(size=64, geometry=geometry)
    img = lesion_image(shape, centre=centre, radius=40, rng=rng)
    truth = (centre[1] - 40, centre[0] - 40, centre[1] + 40, centre[0] + 40)
    for box_method in ("default", "chestxray8"):
        (res,) = localize(NET, [img], ["Nodule"], box_method=box_method, max_side=256, transform=spec)
        boxes = res.boxes["Nodule"]
        assert boxes, box_method
        best = boxes[0]
        assert 0 <= best.x_min < best.x_max <= shape[1] and 0 <= best.y_min < best.y_max <= shape[0]
        # the coarse grid (8x8 cells over the model input) makes boxes larger than the lesion, but the best box
        # must contain the lesion centre and overlap it
        assert best.x_min <= centre[1] <= best.x_max and best.y_min <= centre[0] <= best.y_max, (box_method, best)
        assert max(iobb(b, truth) for b in boxes) > 0.1, (box_method, boxes)  # chestxray8: the 180-level box


def test_boxes_json_has_exact_keys(rng) -> None:
    img = lesion_image((128, 128), centre=(40, 40), radius=10, rng=rng)
    (res,) = localize(NET, [img], ["Nodule", "Effusion"], transform=TransformSpec(size=64))
    js = boxes_json(res)
    assert set(js) == {"Nodule", "Effusion"}
    for boxes in js.values():
        for b in boxes:
            assert list(b) == ["x_min", "y_min", "x_max", "y_max", "score"]
            assert all(isinstance(v, float) for v in b.values())
