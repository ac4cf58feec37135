"""Run the shipped anatomy segmenter (ONNX Runtime) on radiographs.

>>> from cxrkit.anatomy.segment import load_segmenter   # doctest: +SKIP
>>> seg = load_segmenter()                              # the model shipped in cxrkit/anatomy/weights
>>> masks = seg.predict(image.pixels)                   # {"right_lung": bool (H, W), ...}

Mask names use the PATIENT's side (see :mod:`cxrkit.anatomy.postprocess`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from cxrkit.anatomy.postprocess import clean_masks, side_consistency
from cxrkit.anatomy.preprocess import resize_float, to_model_input
from cxrkit.errors import ModelError
from cxrkit.models.card import ModelCard

__all__ = ["WEIGHTS_DIR", "DEFAULT_CARD", "Segmentation", "Segmenter", "load_segmenter", "mask_confidence"]

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CARD = WEIGHTS_DIR / "anatomy_unet.card.json"


def mask_confidence(prob: np.ndarray, threshold: float = 0.5) -> float:
    """Self-consistency of a probability map: soft Dice between ``prob`` and its own thresholded mask.

    1.0 when every pixel is 0 or 1; falls as more of the outline is uncertain. 0.0 for an empty mask.
    """
    m = prob > threshold
    denom = float(prob.sum() + m.sum())
    if m.sum() == 0 or denom == 0:
        return 0.0
    return float(2.0 * (prob * m).sum() / denom)


@dataclass(frozen=True)
class Segmentation:
    """Result of segmenting one image.

    Attributes:
        masks: structure -> boolean ``(H, W)`` at the input image's resolution, post-processed.
        probabilities: structure -> float32 ``(S, S)`` sigmoid probabilities at the model's input size
            (probabilities of each pixel belonging to the structure, not a diagnosis).
        confidence: structure -> :func:`mask_confidence` in [0, 1].
        side_consistent: True when the patient's right lung is on the image left, False if swapped, None
            when a lung is missing.
    """

    masks: dict[str, np.ndarray]
    probabilities: dict[str, np.ndarray]
    confidence: dict[str, float]
    side_consistent: bool | None


class Segmenter:
    """An anatomy segmenter: its model card (``kind == "segmenter"``) + an ONNX Runtime session.

    Parameters
    ----------
    card:
        the verified model card: structures (``labels``), input transform, mask threshold (operating points).
    threads:
        ONNX Runtime intra-op threads (None: the one thread policy, :func:`cxrkit.models.onnx.default_threads`).

    The ONNX graph takes ``image (N, 1, S, S)`` float32 and returns ``logits (N, C, S, S)``.
    """

    def __init__(self, card: ModelCard, *, threads: int | None = None) -> None:
        from cxrkit.models.onnx import ort_session

        if card.kind != "segmenter":
            raise ModelError(f"model {card.name!r} is a {card.kind}, not a segmenter")
        onnx_path = card.onnx_path()
        if onnx_path is None:
            raise ModelError(f"model card {card.name!r} lists no ONNX file")
        self.card = card
        self.onnx_path = onnx_path
        self._session = ort_session(onnx_path, threads=threads)
        self._input = self._session.get_inputs()[0].name

    @property
    def structures(self) -> tuple[str, ...]:
        """Output structure names, in channel order."""
        return tuple(self.card.labels)

    @property
    def input_size(self) -> int:
        """Side of the square model input, in pixels."""
        return int(self.card.transform_spec.size)

    @property
    def threshold(self) -> float:
        """Probability threshold of the masks (the card's operating point, the same for every structure)."""
        return float(self.card.threshold(self.structures[0]))

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """Sigmoid probabilities for preprocessed inputs ``(N, S, S)`` float32 → ``(N, C, S, S)`` float32."""
        x = np.ascontiguousarray(inputs, dtype=np.float32)[:, None]
        logits = self._session.run(None, {self._input: x})[0]
        return expit(logits).astype(np.float32)

    def segment_batch(self, images: Sequence[np.ndarray], *, postprocess: bool = True) -> list[Segmentation]:
        """Segment several radiographs (each float32 ``(H, W)`` in [0, 1], dark lungs; sizes may differ).

        Raises
        ------
        InvalidImageError
            an image is not 2-D, smaller than 64 px on a side, or has non-finite values.
        """
        if len(images) == 0:
            return []
        s = self.input_size
        inputs = np.stack([to_model_input(np.asarray(p), s) for p in images])
        probs = self.probabilities(inputs)
        thr = self.threshold
        results = []
        for pixels, pr in zip(images, probs, strict=True):
            shape = np.asarray(pixels).shape
            p_small = {name: pr[j] for j, name in enumerate(self.structures)}
            # full-resolution probabilities one structure at a time; only the lungs' are kept (the overlap rule
            # of clean_masks needs them): on a 3,500-pixel film that is 100 MB instead of 250 MB
            raw, p_lungs = {}, {}
            for name, p in p_small.items():
                full = resize_float(p, shape)
                raw[name] = full > thr
                if name in ("right_lung", "left_lung"):
                    p_lungs[name] = full
                del full
            masks = clean_masks(raw, p_lungs if len(p_lungs) == 2 else None) if postprocess else raw
            del p_lungs
            conf = {name: round(mask_confidence(p, thr), 4) for name, p in p_small.items()}
            results.append(Segmentation(masks, p_small, conf, side_consistency(masks)))
        return results

    def segment(self, pixels: np.ndarray, *, postprocess: bool = True) -> Segmentation:
        """Segment one radiograph; see :meth:`segment_batch`."""
        return self.segment_batch([pixels], postprocess=postprocess)[0]

    def predict(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """Boolean masks ``(H, W)`` at the input's resolution, keyed by structure (patient sides)."""
        return self.segment(pixels).masks

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """:meth:`predict` for several images in one ONNX Runtime call."""
        return [r.masks for r in self.segment_batch(images)]

    def torch_model(self) -> Any:
        """The same network as a PyTorch module (eval mode), from the card's ``.safetensors`` weights."""
        from safetensors.torch import load_file

        from cxrkit.anatomy.unet import CompactUNet

        widths = tuple(int(w) for w in self.card.architecture_params.get("widths", ()))
        model = CompactUNet(out_channels=len(self.structures), widths=widths) if widths else \
            CompactUNet(out_channels=len(self.structures))
        model.load_state_dict(load_file(str(self.card.weights_path())))
        return model.eval()


def load_segmenter(path: str | Path | None = None, *, threads: int | None = None) -> Segmenter:
    """Load a segmenter package: its ``*.card.json``, a folder holding one, or None for the shipped model.

    Raises
    ------
    ModelError
        card or weights missing, checksum mismatch, or the package is not a segmenter.
    """
    from cxrkit.models.load import load_package

    seg = load_package(DEFAULT_CARD if path is None else path, threads=threads)
    if not isinstance(seg, Segmenter):
        raise ModelError(f"{path} is a {seg.card.kind}, not a segmenter")
    return seg
