"""Loss (NaN-masked class-weighted BCE), YAML config validation, radiograph augmentations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cxrkit.errors import ConfigError, DataFormatError
from cxrkit.train.augment import AugmentConfig, augment_batch
from cxrkit.train.config import load_config
from cxrkit.train.losses import (
    batch_balance_weights,
    class_balance_weights,
    masked_weighted_bce,
)

ROOT = Path(__file__).resolve().parents[2]


def test_class_balance_weights_follow_chestxray8():
    y = np.array([[1, 0], [0, 0], [0, np.nan], [0, 1]], dtype=np.float32)
    wp, wn = class_balance_weights(y)
    # finding 0: P=1, N=3 -> (P+N)/(2P)=2, (P+N)/(2N)=2/3 ; finding 1: P=1, N=2 -> 1.5, 0.75
    np.testing.assert_allclose(wp, [2.0, 1.5])
    np.testing.assert_allclose(wn, [2 / 3, 0.75])
    bp, bn = batch_balance_weights(torch.from_numpy(y))
    np.testing.assert_allclose(bp.numpy(), wp)
    np.testing.assert_allclose(bn.numpy(), wn)


def test_nan_labels_are_masked_from_loss_and_gradient():
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]], requires_grad=True)
    y = torch.tensor([[1.0, float("nan")], [0.0, float("nan")]])
    loss = masked_weighted_bce(logits, y)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0].detach(), y[:, 0])
    torch.testing.assert_close(loss.detach(), expected)
    loss.backward()
    assert torch.all(logits.grad[:, 1] == 0) and torch.all(logits.grad[:, 0] != 0)


def test_positive_weight_scales_positive_terms():
    logits = torch.zeros(2, 1)
    y = torch.tensor([[1.0], [0.0]])
    base = masked_weighted_bce(logits, y)
    heavy = masked_weighted_bce(logits, y, torch.tensor([3.0]), torch.tensor([1.0]))
    torch.testing.assert_close(heavy, base * 2)  # (3 + 1) / 2 vs (1 + 1) / 2


def test_all_nan_batch_gives_zero_differentiable_loss():
    logits = torch.zeros(2, 2, requires_grad=True)
    loss = masked_weighted_bce(logits, torch.full((2, 2), float("nan")))
    loss.backward()
    assert float(loss.detach()) == 0.0


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(DataFormatError, match="differ in shape"):
        masked_weighted_bce(torch.zeros(2, 3), torch.zeros(2, 2))


def test_default_config_parses():
    cfg = load_config(ROOT / "configs" / "default_classifier.yaml")
    assert "Pneumonia" in cfg.data.findings and cfg.model.name == "efficientnet_lite0"
    assert all(Path(r).is_absolute() for r in cfg.data.roots.values())


@pytest.mark.parametrize("text,match", [
    ("optim: {epocs: 3}", "did you mean 'epochs'"),
    ("optimizer: {epochs: 3}", "did you mean 'optim'"),
    ("optim: {epochs: 0}", "optim.epochs=0: Input should be greater than or equal to 1"),
    ("optim: {schedule: step}", "should be .cosine. or .onecycle."),
    ("data: {findings: [Pneumonia, Foo]}", "unknown finding 'Foo'"),
    ("optim: [1, 2]", "must be a mapping"),
    ("model: {feature_cache: true, frozen_blocks: 0}", "frozen_blocks"),
])
def test_bad_configs_are_refused(tmp_path, text, match):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(Exception, match=match) as ei:
        load_config(p)
    assert isinstance(ei.value, ConfigError)  # a DataFormatError naming the key and value


def test_missing_config_file(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_augment_is_seeded_in_range_and_keeps_up_down():
    img = torch.zeros(4, 1, 64, 64)
    img[:, :, 4:14, 20:44] = 1.0  # a bright band near the top
    a = augment_batch(img, torch.Generator().manual_seed(3))
    b = augment_batch(img, torch.Generator().manual_seed(3))
    c = augment_batch(img, torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    assert a.shape == img.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    rows = a.mean(dim=(0, 1, 3))
    assert float(rows[:32].sum()) > 5 * float(rows[32:].sum())  # never flipped upside down


def test_horizontal_flip_only_when_asked():
    img = torch.zeros(1, 1, 32, 32)
    img[..., :, :8] = 1.0
    no_change = AugmentConfig(rotate_deg=0, scale=(1, 1), translate=0, brightness=0, contrast=(1, 1), gamma=(1, 1))
    same = augment_batch(img, torch.Generator().manual_seed(0), no_change)
    assert float(same[..., :8].mean()) > 0.9
    flipped = augment_batch(img, torch.Generator().manual_seed(0), AugmentConfig(**{**no_change.__dict__, "hflip": 1.0}))
    assert float(flipped[..., -8:].mean()) > 0.9


def test_train_classifier_leaves_the_callers_global_rng_alone(tmp_path):
    """The trainer seeds torch / random for its own run only (here it fails early, after seeding)."""
    import random

    from cxrkit.train.api import train_classifier
    from cxrkit.train.config import config_from_dict

    cfg = config_from_dict({"data": {"roots": {}, "findings": ["Pneumonia"]},
                            "run": {"out_dir": str(tmp_path / "run"), "seed": 7}})
    torch.manual_seed(123)
    random.seed(123)
    t_state, p_state = torch.get_rng_state(), random.getstate()
    with pytest.raises(DataFormatError):
        train_classifier(cfg)
    assert torch.equal(torch.get_rng_state(), t_state) and random.getstate() == p_state


def test_config_round_trips_through_save(tmp_path):
    from cxrkit.train.config import config_from_dict, save_config

    cfg = load_config(ROOT / "configs" / "classifier_v2.yaml")
    save_config(cfg, tmp_path / "resolved.yaml")
    again = load_config(tmp_path / "resolved.yaml")
    assert again == cfg and config_from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        cfg.optim.schedule = "step"  # assignments are validated too
