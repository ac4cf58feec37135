"""Model package: card validation against the weights, ONNX Runtime vs PyTorch, the Classifier runtime, classify CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image as PILImage

from cxrkit.errors import InvalidImageError, ModelError
from cxrkit.models import create_model
from cxrkit.models.card import ModelCard, OperatingPoint
from cxrkit.models.classifier import load_classifier
from cxrkit.models.package import write_model_package
from cxrkit.service.cli import main
from cxrkit.synthetic import synthetic_chest

LABELS = ["Pneumonia", "Effusion", "Nodule"]


def _package(out, half):
    torch.manual_seed(0)
    model = create_model("efficientnet_lite0", num_classes=3)
    with torch.no_grad():  # non-trivial BN statistics and head
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        model.classifier.weight.normal_(0, 0.5)
    ops = {f: OperatingPoint(0.5, "youden", 0.8, 0.7, 0.5) for f in ("Pneumonia", "Effusion")}
    return write_model_package(model, out, name="tiny", architecture="efficientnet_lite0", labels=LABELS,
                               transform={"size": 64, "geometry": "resize", "intensity": "symmetric", "channels": 1},
                               half=half, reported_findings=["Pneumonia", "Effusion"], operating_points=ops,
                               limits=["test model"])


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg")
    _package(out, half=True)
    return out


def _images(n, seed=0):
    return [synthetic_chest((80 + 10 * i, 70), seed=seed + i) for i in range(n)]


def test_onnx_runtime_matches_pytorch(package):
    clf = load_classifier(package)
    imgs = _images(3)
    probs = clf.predict_all(imgs)
    with torch.no_grad():
        ref = torch.sigmoid(clf.torch_model()(torch.from_numpy(clf.preprocess(imgs)))).numpy()
    np.testing.assert_allclose(probs, ref, atol=2e-4)
    assert probs.shape == (3, 3) and probs.std() > 1e-3


def test_classifier_exposes_only_validated_findings(package):
    clf = load_classifier(package / "tiny.card.json")
    assert clf.findings == ["Pneumonia", "Effusion"] and clf.labels == LABELS
    assert clf.thresholds == {"Pneumonia": 0.5, "Effusion": 0.5}
    p = clf.predict(_images(2), batch_size=1)
    np.testing.assert_allclose(p, clf.predict_all(_images(2))[:, :2], atol=1e-6)
    found = clf.to_findings(p[0])
    assert [f.name for f in found] == clf.findings and found[0].positive == (p[0, 0] >= 0.5)
    m = clf.torch_model()
    assert m.features(torch.zeros(1, 1, 64, 64)).shape == (1, 1280, 2, 2) and m.classifier.out_features == 3
    assert clf.label_index("Nodule") == 2


def test_bad_arrays_are_refused(package):
    clf = load_classifier(package)
    with pytest.raises(InvalidImageError, match="2-D"):
        clf.predict([np.zeros((3, 8, 8), np.float32)])
    bad = np.zeros((32, 32), np.float32)
    bad[0, 0] = np.nan
    with pytest.raises(InvalidImageError, match="finite"):
        clf.predict([bad])
    assert clf.predict([]).shape == (0, 2)


def _copy(package, tmp_path):
    dst = tmp_path / "pkg"
    shutil.copytree(package, dst)
    return dst


def test_card_checksum_mismatch(package, tmp_path):
    dst = _copy(package, tmp_path)
    raw = bytearray((dst / "tiny.safetensors").read_bytes())
    raw[-1] ^= 0xFF
    (dst / "tiny.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="checksum mismatch for tiny.safetensors"):
        load_classifier(dst)


def test_card_labels_must_match_head_size(package, tmp_path):
    dst = _copy(package, tmp_path)
    d = json.loads((dst / "tiny.card.json").read_text())
    d["labels"] = LABELS + ["Mass"]
    (dst / "tiny.card.json").write_text(json.dumps(d))
    with pytest.raises(ModelError, match="head has 3 outputs but the card lists 4 labels"):
        load_classifier(dst)


@pytest.mark.parametrize("edit,match", [
    (lambda d: d.update(reported_findings=["Mass"]), "not among its labels"),
    (lambda d: d.update(transform={"size": 64, "geometry": "warp"}), "invalid transform"),
    (lambda d: d.update(colour="blue"), "unknown keys"),
    (lambda d: d.pop("weights_sha256"), "missing"),
    (lambda d: d["operating_points"]["Pneumonia"].update(threshold=1.5), "not in \\[0, 1\\]"),
])
def test_inconsistent_cards_are_refused(package, tmp_path, edit, match):
    dst = _copy(package, tmp_path)
    d = json.loads((dst / "tiny.card.json").read_text())
    edit(d)
    (dst / "tiny.card.json").write_text(json.dumps(d))
    with pytest.raises(ModelError, match=match):
        ModelCard.load(dst / "tiny.card.json")


def test_missing_files(package, tmp_path):
    dst = _copy(package, tmp_path)
    (dst / "tiny.onnx").unlink()
    with pytest.raises(ModelError, match="ONNX file"):
        load_classifier(dst)
    (dst / "tiny.safetensors").unlink()
    with pytest.raises(ModelError, match="weights file"):
        load_classifier(dst)
    with pytest.raises(ModelError, match="not found"):
        load_classifier(tmp_path / "nowhere.card.json")
    (tmp_path / "broken.card.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_classifier(tmp_path / "broken.card.json")


def test_classify_cli_folder_with_a_bad_file(package, tmp_path, capsys):
    folder = tmp_path / "imgs" / "sub"
    folder.mkdir(parents=True)
    for i, img in enumerate(_images(3)):
        PILImage.fromarray((img * 255).astype(np.uint8)).save(folder / f"x{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    PILImage.fromarray(np.full((64, 64), 128, np.uint8)).save(folder / "flat.png")  # not a radiograph
    out = tmp_path / "res.csv"
    rc = main(["classify", str(tmp_path / "imgs"), "--out", str(out), "--model", str(package), "--batch-size", "2"])
    assert rc == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["path", "Pneumonia", "Effusion", "error"]
    assert len(df) == 5
    bad = df[df["path"].str.endswith("broken.png")]
    assert bad["error"].str.len().iloc[0] > 0 and bad["Pneumonia"].isna().all()
    flat = df[df["path"].str.endswith("flat.png")]
    assert flat["error"].str.contains("Error").all() and flat["Pneumonia"].isna().all()
    good = df[~df["path"].str.endswith(("broken.png", "flat.png"))]
    assert good["error"].isna().all() and good["Pneumonia"].between(0, 1).all()
    assert not list(tmp_path.glob("*.tmp"))


def test_classify_cli_bad_inputs_get_error_rows_or_clean_errors(package, tmp_path, capsys):
    """Reviewer table: empty folder, missing path, text renamed .png, truncated PNG, CT DICOM, bad --model."""
    import io as _io

    from cxrkit.synthetic import synthetic_dicom

    (tmp_path / "empty").mkdir()
    assert main(["classify", str(tmp_path / "empty"), "--out", str(tmp_path / "e.csv"), "--model", str(package)]) == 1
    assert "no image files" in capsys.readouterr().err
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "text.png").write_text("hello, not a picture\n")
    buf = _io.BytesIO()
    PILImage.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(buf, "PNG")
    (folder / "trunc.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    synthetic_dicom(folder / "ct.dcm", modality="CT")
    out = tmp_path / "res.csv"
    rc = main(["classify", str(folder), str(tmp_path / "missing.png"), "--out", str(out), "--model", str(package)])
    assert rc == 1  # nothing classified
    df = pd.read_csv(out).set_index("path")
    expected = {"text.png": "InvalidImageError", "trunc.png": "InvalidImageError", "ct.dcm": "UnsupportedImageError",
                "missing.png": "InvalidImageError"}
    assert len(df) == 4
    for name, err in expected.items():
        row = df[df.index.str.endswith(name)]
        assert len(row) == 1 and row["error"].iloc[0].startswith(err) and row["Pneumonia"].isna().all(), name
    assert "Traceback" not in capsys.readouterr().err
    for model in (tmp_path / "nothing.card.json", folder / "text.png"):
        assert main(["classify", str(folder), "--out", str(out), "--model", str(model)]) == 1
        assert "error:" in capsys.readouterr().err
