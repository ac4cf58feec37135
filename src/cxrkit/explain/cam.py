"""Class activation map methods: CAM, Grad-CAM, Grad-CAM++, HiResCAM and Eigen-CAM, as a registry.

Every method works on one *pass*: a single forward of a batch through the model with the target layer's
activations ``A`` (``(N, D, h, w)``) kept, plus, for the gradient methods, one backward per requested finding
(``dlogit_k / dA``). All maps come back raw (not normalized) at the feature-grid resolution ``(N, h, w)``;
:func:`cxrkit.explain.heatmaps` normalizes and resamples them to the original image.

Why hand-written hooks rather than a library: pytorch-grad-cam needs torchvision, which cxrkit does not ship,
and captum's ``LayerGradCam`` runs one forward + backward per target, so K findings cost K forwards; here one
forward serves all K findings (the test suite checks our Grad-CAM against captum's ``LayerGradCam`` to the
float tolerance). CAM needs no backward at all and is exact for global-average-pooling + linear heads (the
mean of the map plus the bias equals the logit): it is the default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from cxrkit.errors import ModelError
from cxrkit.explain.methods import METHOD_NAMES, NEEDS_GRADIENTS, canonical_method, method_names

__all__ = ["CamPass", "METHODS", "method_names", "get_method", "forward_pass", "NEEDS_GRADIENTS", "linear_head"]

log = logging.getLogger(__name__)


@dataclass
class CamPass:
    """One forward pass with what the methods need.

    Attributes:
        activations: ``(N, D, h, w)`` target-layer output (part of the autograd graph when gradients are on).
        logits: ``(N, K)`` model outputs before the sigmoid.
        head_weight: ``(K, D)`` weights of the linear head applied to the pooled activations, or None when the
            model's head is not GAP + linear (CAM then unavailable).
        head_bias: ``(K,)`` or None.
        pooled_relu: True when the head pools ``relu(activations)`` rather than the activations themselves.
    """

    activations: torch.Tensor
    logits: torch.Tensor
    head_weight: torch.Tensor | None = None
    head_bias: torch.Tensor | None = None
    pooled_relu: bool = False
    _grads: dict[int, torch.Tensor] = field(default_factory=dict)

    def grads(self, k: int) -> torch.Tensor:
        """``d logit_k / d activations`` for every image of the batch, ``(N, D, h, w)`` (cached)."""
        if k not in self._grads:
            if not self.activations.requires_grad:
                raise ModelError("this pass was run without gradients; gradient methods need grad=True")
            (g,) = torch.autograd.grad(self.logits[:, k].sum(), self.activations, retain_graph=True)
            self._grads[k] = g.detach()
        return self._grads[k]


def linear_head(model: nn.Module) -> nn.Linear | None:
    """The model's ``classifier`` when it is one linear layer (possibly wrapped with dropout/flatten), else None."""
    head = getattr(model, "classifier", None)
    if isinstance(head, nn.Linear):
        return head
    if isinstance(head, nn.Sequential):
        linears = [m for m in head if isinstance(m, nn.Linear)]
        others = [m for m in head if not isinstance(m, (nn.Linear, nn.Dropout, nn.Identity, nn.Flatten))]
        if len(linears) == 1 and not others:
            return linears[0]
    return None


def forward_pass(model: nn.Module, x: torch.Tensor, *, grad: bool) -> CamPass:
    """Run ``model(x)`` once, keeping the output of ``model.features`` (the last convolutional feature map).

    Args:
        model: a classifier in eval mode whose ``features`` gives the last convolutional feature map
            ``(N, D, h, w)``: either a submodule (hooked during ``model(x)``) or, timm style, a method followed by
            ``forward_head(feats)``; ``classifier`` is the linear head.
        x: ``(N, C, S, S)`` float32 model input (already preprocessed).
        grad: keep the autograd graph (needed by the gradient methods).

    Returns:
        The :class:`CamPass`.

    Raises:
        ModelError: the model has no ``features`` or it does not give a 4-D map.
    """
    features = getattr(model, "features", None)
    if isinstance(features, nn.Module):
        store: dict[str, torch.Tensor] = {}

        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            store["a"] = output

        handle = features.register_forward_hook(hook)
        try:
            with torch.set_grad_enabled(grad):
                logits = model(x)
        finally:
            handle.remove()
        a = store.get("a")
    elif callable(features):  # timm style: features(x) then forward_head(feats)
        head_fn = getattr(model, "forward_head", None)
        with torch.set_grad_enabled(grad):
            a = features(x)
            if callable(head_fn):
                logits = head_fn(a)
            elif (lin := linear_head(model)) is not None:
                logits = lin(a.mean(dim=(2, 3)))
            else:
                raise ModelError(f"{type(model).__name__} has `features` but neither `forward_head` nor a linear `classifier`")
    else:
        raise ModelError(
            f"{type(model).__name__} has no `features`: class activation maps need the model's last "
            "convolutional feature map as `model.features` (a module, or a method with `forward_head`)"
        )
    if a is None or a.ndim != 4:
        got = None if a is None else tuple(a.shape)
        raise ModelError(f"`features` of {type(model).__name__} must output (N, D, h, w); got {got}")
    if logits.ndim != 2:
        raise ModelError(f"model must output (N, K) logits; got {tuple(logits.shape)}")
    p = CamPass(activations=a, logits=logits)
    head = linear_head(model)
    if head is not None and head.in_features == a.shape[1]:
        with torch.no_grad():
            for use_relu in (False, True):
                pooled = (torch.relu(a) if use_relu else a).mean(dim=(2, 3))
                if torch.allclose(head(pooled), logits.detach(), rtol=1e-4, atol=1e-4):
                    p.head_weight, p.head_bias, p.pooled_relu = head.weight.detach(), (
                        head.bias.detach() if head.bias is not None else None
                    ), use_relu
                    break
    return p


def _cam(p: CamPass, k: int) -> torch.Tensor:
    """CAM (Zhou et al. 2016): ``sum_d w_kd A_d``; exact decomposition of the logit for GAP + linear heads."""
    if p.head_weight is None:
        raise ModelError(
            "CAM needs a head that is global average pooling followed by one linear layer (logit = w . mean(A) + b); "
            "this model's head is not, use method='gradcam'"
        )
    a = torch.relu(p.activations) if p.pooled_relu else p.activations
    return torch.einsum("ndhw,d->nhw", a.detach(), p.head_weight[k])


def _gradcam(p: CamPass, k: int) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017): channel weights = spatial mean of the gradient, ReLU of the sum."""
    g = p.grads(k)
    w = g.mean(dim=(2, 3), keepdim=True)
    return torch.relu((w * p.activations.detach()).sum(dim=1))


def _gradcampp(p: CamPass, k: int) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhay et al. 2018), closed form with the exponential-output approximation."""
    g = p.grads(k)
    a = p.activations.detach()
    g2, g3 = g.pow(2), g.pow(3)
    denom = 2 * g2 + (a.sum(dim=(2, 3), keepdim=True) * g3)
    alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
    w = (alpha * torch.relu(g)).sum(dim=(2, 3), keepdim=True)
    return torch.relu((w * a).sum(dim=1))


def _hirescam(p: CamPass, k: int) -> torch.Tensor:
    """HiResCAM (Draelos & Carin 2020): element-wise gradient x activation, summed over channels."""
    return torch.relu((p.grads(k) * p.activations.detach()).sum(dim=1))


def _eigencam(p: CamPass, k: int) -> torch.Tensor:
    """Eigen-CAM (Muhammad & Yeasin 2020): projection on the first principal component of the activations.

    Gradient-free and class-agnostic (the same map for every finding). The SVD sign is fixed so the map
    correlates positively with the channel-summed activation.
    """
    a = p.activations.detach()
    n, d, h, w = a.shape
    flat = a.permute(0, 2, 3, 1).reshape(n, h * w, d)
    centred = flat - flat.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    proj = (centred @ vh[:, 0, :].unsqueeze(-1)).squeeze(-1)  # (n, h*w)
    ref = flat.sum(dim=2)
    sign = torch.sign(((proj - proj.mean(1, keepdim=True)) * (ref - ref.mean(1, keepdim=True))).sum(dim=1))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return torch.relu(proj * sign[:, None]).reshape(n, h, w)


METHODS: dict[str, Callable[[CamPass, int], torch.Tensor]] = {
    "cam": _cam,
    "gradcam": _gradcam,
    "gradcam++": _gradcampp,
    "hirescam": _hirescam,
    "eigencam": _eigencam,
}
"""Registry: method name → function ``(CamPass, finding index) -> (N, h, w)`` raw map."""

assert tuple(sorted(METHODS)) == METHOD_NAMES


def get_method(name: str) -> tuple[str, Callable[[CamPass, int], torch.Tensor]]:
    """Look a method up by name (case-insensitive, a few aliases); unknown names give a did-you-mean error."""
    key = canonical_method(name)
    return key, METHODS[key]
