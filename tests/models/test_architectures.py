"""Architectures: registry, shapes, ImageNet weight loading, first-conv adaptation, head reset."""

from __future__ import annotations

import pytest
import torch

from cxrkit.errors import ModelError, UnknownNameError
from cxrkit.models import create_model, list_models
from cxrkit.models.efficientnet import EfficientNetLite0, convert_lite0_state_dict, imagenet_weights_path


def test_registry_lists_builtin_models():
    assert {"efficientnet_lite0", "densenet121"} <= set(list_models())


def test_unknown_model_name_suggests_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'densenet121'"):
        create_model("densnet121")


@pytest.mark.parametrize("name,size,feat_ch", [("efficientnet_lite0", 64, 1280), ("densenet121", 32, 1024)])
def test_every_model_offers_features_classifier_reset(name, size, feat_ch):
    torch.manual_seed(0)
    m = create_model(name, num_classes=3).eval()
    x = torch.rand(2, 1, size, size)
    with torch.no_grad():
        feats = m.features(x)
        out = m(x)
    assert feats.shape == (2, feat_ch, size // 32, size // 32)
    assert out.shape == (2, 3)
    assert m.classifier.out_features == 3
    m.reset_classifier(5)
    with torch.no_grad():
        assert m(x).shape == (2, 5)


def test_imagenet_weights_load_with_gray_stem_equal_to_rgb_sum():
    rgb = EfficientNetLite0(num_classes=1000, in_chans=3).eval()
    sd = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    rgb.load_state_dict(convert_lite0_state_dict(sd, in_chans=3))
    gray = create_model("efficientnet_lite0", "imagenet", num_classes=1000).eval()
    x = torch.rand(1, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        a = rgb(x.repeat(1, 3, 1, 1))
        b = gray(x)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # The pretrained network is not a random one: ImageNet logits on any input are far from uniform.
    assert float(a.softmax(1).max()) > 1.5 / 1000


def test_imagenet_weights_keep_custom_head():
    m = create_model("efficientnet_lite0", "imagenet", num_classes=4)
    assert m.classifier.out_features == 4
    torch.testing.assert_close(m.classifier.bias, torch.zeros(4))


def test_split_trunk_top_equals_full_forward():
    m = create_model("efficientnet_lite0", num_classes=2).eval()
    trunk, top = m.split(11)
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(top(trunk(x)), m(x))


def test_bad_state_dict_keys_raise_model_error():
    with pytest.raises(ModelError, match="unexpected key"):
        convert_lite0_state_dict({"foo.weight": torch.zeros(1)})


def test_weights_file_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        create_model("efficientnet_lite0", tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="cannot read"):
        create_model("efficientnet_lite0", bad)


def test_weights_of_another_head_size_are_refused(tmp_path):
    from safetensors.torch import save_file

    m = create_model("efficientnet_lite0", num_classes=3)
    p = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(p))
    with pytest.raises(ModelError, match="classifier.weight"):
        create_model("efficientnet_lite0", p, num_classes=4)
