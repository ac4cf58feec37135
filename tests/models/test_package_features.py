"""One model package: the ONNX graph returns logits and the pooled feature map, CAM from it needs no PyTorch and
equals the PyTorch CAM; load_package dispatches on the card's kind; the stage runner records failures."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from cxrkit.errors import DataFormatError, ModelError
from cxrkit.explain.heatmaps import explain_batch
from cxrkit.models import create_model
from cxrkit.models.card import ModelCard, OperatingPoint
from cxrkit.models.classifier import Classifier, default_model_path, load_classifier
from cxrkit.models.load import load_package
from cxrkit.models.onnx import FEATURES, add_features_output, ort_session
from cxrkit.models.package import write_model_package
from cxrkit.stages import StageRunner
from cxrkit.synthetic import synthetic_chest

LABELS = ["Pneumonia", "Effusion", "Nodule"]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg")
    torch.manual_seed(1)
    model = create_model("efficientnet_lite0", num_classes=3)
    with torch.no_grad():
        model.classifier.weight.normal_(0, 0.5)
    ops = {f: OperatingPoint(0.5, "youden") for f in LABELS}
    write_model_package(model, out, name="tiny", architecture="efficientnet_lite0", labels=LABELS,
                        transform={"size": 64, "geometry": "resize", "intensity": "symmetric", "channels": 1},
                        reported_findings=LABELS, operating_points=ops, limits=["test model"])
    return out


def test_package_graph_returns_features_that_the_head_pools(package):
    clf = load_classifier(package)
    assert clf.has_features
    x = clf.preprocess([synthetic_chest((90, 80), seed=s) for s in range(2)])
    logits, feats = clf.run(x, features=True)
    w, b = clf.head()
    assert feats.ndim == 4 and feats.shape[:2] == (2, w.shape[1])
    np.testing.assert_allclose(feats.mean(axis=(2, 3)) @ w.T + b, logits, atol=1e-4)
    only_logits, none = clf.run(x)
    assert none is None and np.array_equal(only_logits, logits)


def test_package_cam_needs_no_torch_and_equals_the_torch_cam(package):
    clf = load_classifier(package)
    imgs = [synthetic_chest((90, 80), seed=3)]
    onnx_maps = explain_batch(clf, imgs, None, "cam", backend="onnx")[0]
    assert clf._torch is None  # the package path never built the PyTorch module
    torch_maps = explain_batch(clf, imgs, None, "cam", backend="torch")[0]
    for f in LABELS:
        np.testing.assert_allclose(onnx_maps.maps[f], torch_maps.maps[f], atol=2e-3)


def test_shipped_graphs_have_features_and_add_is_idempotent(tmp_path):
    card = ModelCard.load(default_model_path())
    onnx = card.onnx_path()
    assert FEATURES in [o.name for o in ort_session(onnx, threads=1).get_outputs()]
    copy = tmp_path / onnx.name
    shutil.copyfile(onnx, copy)
    add_features_output(copy)
    assert copy.read_bytes() == onnx.read_bytes()


def test_load_package_dispatches_on_kind(package, tmp_path):
    from cxrkit.anatomy.segment import DEFAULT_CARD, Segmenter, load_segmenter

    assert isinstance(load_package(package), Classifier)
    assert isinstance(load_package(DEFAULT_CARD), Segmenter)
    with pytest.raises(ModelError, match="not a segmenter"):
        load_segmenter(package)
    with pytest.raises(ModelError, match="not a classifier"):
        load_classifier(DEFAULT_CARD)
    bad = tmp_path / "bad"
    shutil.copytree(package, bad)
    card = next(bad.glob("*.card.json"))
    d = json.loads(card.read_text())
    d["kind"] = "detector"
    card.write_text(json.dumps(d))
    with pytest.raises(ModelError, match="kind must be one of"):
        load_package(bad)


def test_stage_runner_records_time_status_and_typed_failures():
    stages = StageRunner()
    ok, value = stages.run("segmenter", lambda: 41 + 1, timing="segment")
    assert ok and value == 42 and "segment" in stages.timings

    def bad():
        raise DataFormatError("mask of the wrong shape")

    ok, value = stages.run("measure", bad)
    assert not ok and value is None and "measure" not in stages.timings
    stages.record("localize", "skipped", "disabled")
    assert [(c.name, c.status) for c in stages.components] == [
        ("segmenter", "ran"), ("measure", "failed"), ("localize", "skipped")]
    assert stages.components[1].detail == "mask of the wrong shape"
    with pytest.raises(ZeroDivisionError):  # a bug is not a recorded failure
        stages.run("classifier", lambda: 1 / 0)
    with pytest.raises(ValueError, match="status"):
        stages.record("qc", "maybe")
