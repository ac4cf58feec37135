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

import numpy as np

from cxrkit.anatomy.card import SegmentationCard, load_card
from cxrkit.anatomy.postprocess import clean_masks, side_consistency
from cxrkit.anatomy.preprocess import resize_float, to_model_input
from cxrkit.errors import ModelError

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
    """An anatomy segmenter: ONNX Runtime session + its model card.

    Parameters
    ----------
    card:
        the model card (input size, structure names, threshold).
    onnx_path:
        the ONNX file; input ``image`` ``(N, 1, S, S)`` float32, output ``logits`` ``(N, C, S, S)``.
    threads:
        ONNX Runtime intra-op threads (None: its default).
    """

    def __init__(self, card: SegmentationCard, onnx_path: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.card = card
        self.onnx_path = Path(onnx_path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(self.onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load ONNX model {self.onnx_path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name

    @property
    def structures(self) -> tuple[str, ...]:
        """Output structure names, in channel order."""
        return tuple(self.card.structures)

    @property
    def input_size(self) -> int:
        """Side of the square model input, in pixels."""
        return int(self.card.input["size"])

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """Sigmoid probabilities for preprocessed inputs ``(N, S, S)`` float32 → ``(N, C, S, S)`` float32."""
        x = np.ascontiguousarray(inputs, dtype=np.float32)[:, None]
        logits = self._session.run(None, {self._input: x})[0]
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)

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
        thr = float(self.card.threshold)
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

    def torch_model(self):
        """The same network as a PyTorch module (eval mode), from the ``.safetensors`` weights beside the card."""
        from safetensors.torch import load_file

        from cxrkit.anatomy.unet import CompactUNet

        st = [f for f in self.card.files if f.endswith(".safetensors")]
        if not st:
            raise ModelError(f"model card {self.card.name} lists no .safetensors weights")
        model = CompactUNet(out_channels=len(self.structures), widths=tuple(self.card.architecture["widths"]))
        model.load_state_dict(load_file(str(self.onnx_path.parent / st[0])))
        return model.eval()


def load_segmenter(path: str | Path | None = None, *, threads: int | None = None) -> Segmenter:
    """Load a segmenter from its model card (``*.card.json``) or a folder holding one; None = the shipped model.

    Raises
    ------
    ModelError
        card or weights missing, or checksum mismatch.
    """
    if path is None:
        card_path = DEFAULT_CARD
    else:
        p = Path(path)
        if p.is_dir():
            cards = sorted(p.glob("*.card.json"))
            if not cards:
                raise ModelError(f"no *.card.json model card in {p}")
            card_path = cards[0]
        else:
            card_path = p
    card = load_card(card_path)
    onnx_files = [f for f in card.files if f.endswith(".onnx")]
    if not onnx_files:
        raise ModelError(f"model card {card_path} lists no .onnx file")
    log.debug("loading segmenter %s from %s", card.name, card_path)
    return Segmenter(card, card_path.parent / onnx_files[0], threads=threads)
