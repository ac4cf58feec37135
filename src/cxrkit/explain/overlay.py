"""Overlay figures: heatmap colormap over the radiograph, colorbar, finding name + probability, boxes.

Arrays in, PNG bytes out (a bare matplotlib ``Figure``: no pyplot, no backend switch, no display needed); writing
files is the caller's job.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from cxrkit.types import Box

__all__ = ["overlay_png", "PRED_COLOR", "TRUTH_COLOR"]

PRED_COLOR = "#ffe600"
TRUTH_COLOR = "#00e5ff"
_MAX_DISPLAY = 768


def _display(arr: np.ndarray) -> np.ndarray:
    """Subsample a large array for display (the plot extent keeps original pixel coordinates)."""
    step = max(1, int(np.ceil(max(arr.shape[:2]) / _MAX_DISPLAY)))
    return arr[::step, ::step]


def overlay_png(
    pixels: np.ndarray,
    maps: Mapping[str, np.ndarray],
    *,
    probabilities: Mapping[str, float] | None = None,
    boxes: Mapping[str, Sequence[Box]] | None = None,
    truth: Mapping[str, Sequence[Box]] | None = None,
    title: str | None = None,
    alpha: float = 0.4,
    cmap: str = "jet",
    dpi: int = 100,
) -> bytes:
    """One panel per finding: radiograph in gray, heatmap in colour, predicted (and true) boxes, a colorbar.

    Args:
        pixels: float32 ``(H, W)`` in [0, 1] (the original image).
        maps: finding → float ``(H, W)`` heatmap in [0, 1] on the same grid.
        probabilities: finding → model probability, printed in the panel title.
        boxes: finding → predicted boxes (original pixels), drawn solid with their scores.
        truth: finding → ground-truth boxes, drawn dashed.
        title: figure title (e.g. the image name).
        alpha: heatmap opacity.
        cmap: matplotlib colormap name.
        dpi: output resolution.

    Returns:
        PNG-encoded bytes.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    img = np.asarray(pixels, dtype=np.float32)
    h, w = img.shape
    names = list(maps) or ["(no finding requested)"]
    ncols = min(3, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig = Figure(figsize=(4.6 * ncols, 4.6 * nrows * max(0.5, min(2.0, h / w)) + 0.6), dpi=dpi)
    extent = (0, w, h, 0)
    for i, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(_display(img), cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="bilinear")
        im = None
        if name in maps:
            im = ax.imshow(_display(np.asarray(maps[name])), cmap=cmap, vmin=0, vmax=1, alpha=alpha, extent=extent,
                           interpolation="bilinear")
        for b in (truth or {}).get(name, ()):
            ax.add_patch(Rectangle((b.x_min, b.y_min), b.x_max - b.x_min, b.y_max - b.y_min, fill=False,
                                   edgecolor=TRUTH_COLOR, linewidth=2, linestyle="--"))
        for b in (boxes or {}).get(name, ()):
            ax.add_patch(Rectangle((b.x_min, b.y_min), b.x_max - b.x_min, b.y_max - b.y_min, fill=False,
                                   edgecolor=PRED_COLOR, linewidth=2))
            if b.score is not None:
                ax.text(b.x_min, max(0, b.y_min - 4), f"{b.score:.2f}", color=PRED_COLOR, fontsize=7, va="bottom")
        p = (probabilities or {}).get(name)
        ax.set_title(f"{name}" + (f": probability {p:.2f}" if p is not None else ""), fontsize=9)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_xticks([])
        ax.set_yticks([])
        if im is not None:  # opaque colorbar (the overlay itself is translucent)
            cb = fig.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap=cmap), ax=ax, fraction=0.046, pad=0.02)
            cb.set_label("relative evidence (heatmap)", fontsize=7)
            cb.ax.tick_params(labelsize=6)
        handles = [Line2D([], [], color=PRED_COLOR, lw=2, label="predicted box (score)")]
        if truth:
            handles.append(Line2D([], [], color=TRUTH_COLOR, lw=2, ls="--", label="ground truth"))
        ax.legend(handles=handles, loc="lower left", fontsize=6, framealpha=0.6)
    fig.suptitle((title + "\n" if title else "") + "Model evidence map, not a diagnosis", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
