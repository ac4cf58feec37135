"""The shipped classifier's embedding on real NIH fixture films."""

from pathlib import Path

import numpy as np
import pytest

from cxrkit.io import read_image
from cxrkit.models.classifier import load_classifier
from cxrkit.retrieval.embed import EmbeddingSpec, l2_normalize, load_embedder
from cxrkit.retrieval.errors import EmbeddingMismatchError

FIX = Path(__file__).resolve().parents[1] / "fixtures"
FILMS = [FIX / "anatomy" / "00000001_000.png", FIX / "anatomy" / "00003659_015.png",
         FIX / "classifier" / "00000002_000.png", FIX / "io" / "00011322_006.png"]


@pytest.fixture(scope="module")
def emb():
    return load_embedder(threads=1, head=None)  # the pooled features themselves


@pytest.fixture(scope="module")
def emb_head():
    return load_embedder(threads=1)  # the default: with the shipped projection head


@pytest.fixture(scope="module")
def images():
    return [read_image(p) for p in FILMS]


def test_identity_comes_from_the_card(emb):
    card = load_classifier().card
    assert emb.spec.model == card.name and emb.spec.weights_sha256 == card.weights_sha256
    assert emb.spec.preprocessing == card.transform_spec.to_dict() and emb.spec.dim == 1280
    assert EmbeddingSpec.from_dict(emb.spec.to_dict()) == emb.spec


def test_unit_vectors_deterministic_and_batch_independent(emb, images):
    v = emb.embed(images)
    assert v.shape == (4, 1280) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    one = np.concatenate([emb.embed([im]) for im in images])
    np.testing.assert_allclose(v, one, atol=1e-5)
    assert np.all(v @ v.T < 0.9999 + np.eye(4))  # different films, different vectors


def test_preprocessing_is_the_classifiers(emb, images):
    clf = load_classifier()
    np.testing.assert_allclose(emb.embed_input(clf.preprocess(images)), emb.embed(images), atol=1e-6)


def test_features_are_the_shipped_models(emb, images):
    """The features come from the shipped network: the same graph's logits are the classifier's probabilities."""
    clf = load_classifier()
    x = clf.preprocess(images)
    if emb.spec.features_from.startswith("onnx:"):
        import onnxruntime as ort

        sess = ort.InferenceSession(str(clf.card.onnx_path()), providers=["CPUExecutionProvider"])
        logits, feats = sess.run(["logits", "features"], {sess.get_inputs()[0].name: x})
        assert emb.spec.features_from == f"onnx:{clf.card.onnx_sha256}"
        tol = 1e-5
    else:  # a model whose ONNX has no feature output: the same network exported in memory
        from cxrkit.explain.onnx_cam import feature_session

        logits, feats = feature_session(clf.torch_model(), clf.transform.size, clf.transform.channels).run(x)
        tol = 2e-2  # the in-memory export vs the shipped export: float rounding only
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), clf.predict_all(images), atol=tol)
    np.testing.assert_allclose(emb.embed(images), l2_normalize(feats.mean(axis=(2, 3))), atol=1e-5)


def test_another_embedding_is_refused(emb):
    from dataclasses import replace

    with pytest.raises(EmbeddingMismatchError, match="weights_sha256.*rebuild the index|rebuild"):
        emb.spec.check_same(replace(emb.spec, weights_sha256="0" * 64))


def test_default_embedding_applies_the_shipped_head(emb, emb_head, images):
    from cxrkit.retrieval.head import ProjectionHead, shipped_head_path

    stem = shipped_head_path(emb.spec.model)
    assert stem is not None, "the adopted head ships with the package"
    head = ProjectionHead.load(stem)
    assert emb_head.spec.dim == head.card.out_dim and emb_head.spec.head_sha256 == head.card.weights_sha256
    assert emb_head.spec.kind.endswith("+head") and head.card.base_weights_sha256 == emb.spec.weights_sha256
    v = emb_head.embed(images)
    np.testing.assert_allclose(v, head.apply(emb.embed(images)), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    with pytest.raises(EmbeddingMismatchError, match="head_sha256"):
        emb_head.spec.check_same(emb.spec)  # an index of raw features refuses head queries and vice versa


def test_bad_heads_are_refused(emb, tmp_path):
    from dataclasses import replace

    from cxrkit.errors import ModelError
    from cxrkit.retrieval.head import ProjectionHead, shipped_head_path

    head = ProjectionHead.load(shipped_head_path(emb.spec.model))
    other = ProjectionHead(head.weight, replace(head.card, base_weights_sha256="1" * 64))
    other.save(tmp_path / "other")
    with pytest.raises(EmbeddingMismatchError, match="trained for"):
        load_embedder(threads=1, head=str(tmp_path / "other"))
    head.save(tmp_path / "h")
    npz = tmp_path / "h.npz"
    npz.write_bytes(npz.read_bytes()[:-20])
    with pytest.raises(ModelError, match="checksum"):
        ProjectionHead.load(tmp_path / "h")
