"""CAM family: exactness, agreement with captum, lesion localization, batching, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _cam_models import LesionNet, RandomNet, TimmStyleNet, lesion_image

from cxrkit.data.transforms import TransformSpec, preprocess
from cxrkit.errors import ModelError, UnknownNameError
from cxrkit.explain import explain_batch, heatmaps, method_names
from cxrkit.explain.cam import forward_pass, get_method

SPEC = TransformSpec(size=64, geometry="resize", intensity="unit")
ALL = ["cam", "gradcam", "gradcam++", "hirescam", "eigencam"]


def _x(rng: np.random.Generator, n: int = 2) -> torch.Tensor:
    return torch.from_numpy(rng.random((n, 1, 64, 64)).astype(np.float32))


def test_registry_lists_methods_and_suggests() -> None:
    assert method_names() == sorted(ALL)
    assert get_method("Grad-CAM")[0] == "gradcam"
    with pytest.raises(UnknownNameError, match="did you mean 'gradcam'"):
        get_method("gradcan")


@pytest.mark.parametrize("net", [RandomNet, TimmStyleNet])
def test_cam_is_exact_decomposition_of_logit(net, rng) -> None:
    model = net().eval()
    p = forward_pass(model, _x(rng), grad=False)
    assert p.head_weight is not None and p.pooled_relu == (net is RandomNet)
    _, cam = get_method("cam")
    for k in range(3):
        m = cam(p, k)
        np.testing.assert_allclose((m.mean(dim=(1, 2)) + p.head_bias[k]).numpy(), p.logits[:, k].detach().numpy(),
                                   rtol=1e-5, atol=1e-5)


def test_gradcam_matches_captum_layergradcam(rng) -> None:
    from captum.attr import LayerGradCam

    model = RandomNet().eval()
    x = _x(rng, 3)
    p = forward_pass(model, x, grad=True)
    _, ours = get_method("gradcam")
    lgc = LayerGradCam(model, model.features)
    for k in range(3):
        theirs = lgc.attribute(x, target=k, relu_attributions=True).squeeze(1).detach()
        np.testing.assert_allclose(ours(p, k).numpy(), theirs.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["cam", "gradcam", "gradcam++", "hirescam", "eigencam"])
def test_map_peaks_on_the_lesion_driving_the_logit(method, rng) -> None:
    img = lesion_image((96, 128), centre=(30, 90), radius=9, rng=rng)
    maps = heatmaps(LesionNet(), img, ["Nodule"], method, transform=SPEC)
    m = maps["Nodule"]
    assert m.shape == img.shape and m.dtype == np.float32
    assert m.min() >= 0.0 and m.max() <= 1.0
    r, c = np.unravel_index(np.argmax(m), m.shape)
    assert abs(r - 30) <= 8 and abs(c - 90) <= 8, (method, r, c)


def test_negative_finding_cam_points_away_and_gradcam_is_empty(rng) -> None:
    img = lesion_image((64, 64), centre=(20, 20), radius=6, rng=rng)
    cam = heatmaps(LesionNet(), img, ["Effusion"], "cam", transform=SPEC)["Effusion"]
    r, c = np.unravel_index(np.argmax(cam), cam.shape)
    assert abs(r - 20) > 10 or abs(c - 20) > 10  # the negated lesion is the coolest place
    # Grad-CAM of a logit that only decreases with the lesion: every weight negative → ReLU → all zeros
    g = heatmaps(LesionNet(), img, ["Effusion"], "gradcam", transform=SPEC)["Effusion"]
    assert float(g.max()) == 0.0


def test_batched_multilabel_equals_one_by_one(rng) -> None:
    model = RandomNet()
    imgs = [rng.random(shape).astype(np.float32) for shape in ((80, 60), (64, 64), (50, 90))]
    batch = explain_batch(model, imgs, None, "gradcam", batch_size=3, transform=SPEC)
    for img, got in zip(imgs, batch):
        single = explain_batch(model, [img], ["Pneumonia"], "gradcam", transform=SPEC)[0]
        assert got.maps["Pneumonia"].shape == img.shape
        np.testing.assert_allclose(got.maps["Pneumonia"], single.maps["Pneumonia"], atol=1e-5)
        assert got.probabilities["Pneumonia"] == pytest.approx(single.probabilities["Pneumonia"], abs=1e-6)
        assert set(got.maps) == {"Atelectasis", "Cardiomegaly", "Pneumonia"}


def test_probabilities_are_the_models_sigmoid(rng) -> None:
    model = RandomNet().eval()
    img = rng.random((64, 64)).astype(np.float32)
    e = explain_batch(model, [img], None, "cam", transform=SPEC)[0]
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.from_numpy(preprocess(img, SPEC))[None]))[0].numpy()
    np.testing.assert_allclose([e.probabilities[n] for n in RandomNet.labels], expected, rtol=1e-5)


def test_unknown_finding_lists_available(rng) -> None:
    with pytest.raises(UnknownNameError, match="Options: Atelectasis, Cardiomegaly, Pneumonia"):
        heatmaps(RandomNet(), rng.random((64, 64)).astype(np.float32), ["Pneumothorax"], transform=SPEC)


def test_synonym_is_accepted(rng) -> None:
    maps = heatmaps(LesionNet(), rng.random((64, 64)).astype(np.float32), ["Pleural Effusion"], transform=SPEC)
    assert list(maps) == ["Effusion"]


def test_cam_refuses_non_gap_head(rng) -> None:
    class MaxHead(RandomNet):
        def forward(self, x):
            return self.classifier(torch.relu(self.features(x)).amax(dim=(2, 3)))

    with pytest.raises(ModelError, match="gradcam"):
        heatmaps(MaxHead(), rng.random((64, 64)).astype(np.float32), ["Pneumonia"], "cam", transform=SPEC)
    m = heatmaps(MaxHead(), rng.random((64, 64)).astype(np.float32), ["Pneumonia"], "gradcam", transform=SPEC)
    assert m["Pneumonia"].shape == (64, 64)


def test_model_without_features_is_a_clear_error(rng) -> None:
    with pytest.raises(ModelError, match="features"):
        heatmaps(torch.nn.Linear(3, 2), rng.random((64, 64)).astype(np.float32), ["a"], transform=SPEC, labels=["a", "b"])


@pytest.mark.parametrize("net", [RandomNet, TimmStyleNet])
def test_onnx_cam_equals_torch_cam(net, rng) -> None:
    imgs = [rng.random((70, 90)).astype(np.float32), rng.random((64, 64)).astype(np.float32)]
    model = net()
    a = explain_batch(model, imgs, None, "cam", backend="onnx", transform=SPEC)
    b = explain_batch(model, imgs, None, "cam", backend="torch", transform=SPEC)
    for x, y in zip(a, b):
        for f in x.maps:
            np.testing.assert_allclose(x.maps[f], y.maps[f], atol=1e-4)
            assert x.probabilities[f] == pytest.approx(y.probabilities[f], abs=1e-5)


def test_max_side_gives_a_smaller_grid_with_scale(rng) -> None:
    img = lesion_image((300, 200), centre=(100, 150), radius=12, rng=rng)
    (e,) = explain_batch(LesionNet(), [img], ["Nodule"], "cam", max_side=60, transform=SPEC)
    assert e.maps["Nodule"].shape == (60, 40) and e.scale == (5.0, 5.0)
    (full,) = explain_batch(LesionNet(), [img], ["Nodule"], "cam", transform=SPEC)
    np.testing.assert_allclose(e.maps["Nodule"], full.maps["Nodule"][2::5, 2::5], atol=0.05)
