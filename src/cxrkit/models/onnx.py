"""Export PyTorch models to ONNX and run them with ONNX Runtime on CPU.

ONNX Runtime runs EfficientNet-Lite0 several times faster than eager PyTorch on CPU (fused conv + BN +
ReLU6 kernels, no autograd bookkeeping), so inference in cxrkit goes through it.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxrkit.errors import ModelError
from cxrkit.fs import atomic_path

if TYPE_CHECKING:  # torch is needed to export, never to run (inference and serving stay torch-free)
    from torch import nn

__all__ = ["export_onnx", "add_features_output", "FEATURES", "ort_session", "OnnxRunner", "default_threads", "store_weights_fp16"]

log = logging.getLogger(__name__)


def default_threads() -> int:
    """Intra-op threads for ONNX Runtime: ``CXRKIT_THREADS`` if set, else the usable CPUs (at most 8)."""
    env = os.environ.get("CXRKIT_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError as exc:
            raise ModelError(f"CXRKIT_THREADS must be an integer, got {env!r}") from exc
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def export_onnx(model: nn.Module, path: str | Path, *, input_shape: tuple[int, int, int, int],
                input_name: str = "image", output_name: str = "logits", opset: int = 17,
                output_names: tuple[str, ...] | None = None) -> Path:
    """Export ``model`` (eval mode) to ONNX with a dynamic batch dimension; written atomically.

    The one ONNX export of cxrkit (classifiers and segmenters); :func:`add_features_output` then exposes a
    classifier's last feature map for CAM.

    Args:
        model: the module; its forward takes one float tensor ``(N, C, H, W)``.
        path: destination ``.onnx``.
        input_shape: example input ``(N, C, H, W)``.
        input_name / output_name: graph I/O names.
        opset: ONNX opset.
        output_names: names of several outputs when ``model`` returns a tuple (overrides ``output_name``).

    Returns:
        The written path.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    x = torch.zeros(input_shape, dtype=torch.float32)
    try:
        with atomic_path(path, suffix=".onnx") as tmp, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            outs = list(output_names or (output_name,))
            torch.onnx.export(model, (x,), str(tmp), input_names=[input_name], output_names=outs,
                              dynamic_axes={n: {0: "batch"} for n in (input_name, *outs)},
                              opset_version=opset, dynamo=False)
    finally:
        model.train(was_training)
    log.info("exported ONNX model to %s", path)
    return path


FEATURES = "features"


def add_features_output(path: str | Path) -> Path:
    """Expose the feature map a classifier's head pools as a second graph output ``features (N, D, h, w)``.

    The graph must end in ``GlobalAveragePool → Flatten → Gemm → logits`` (a GAP + linear head, as every
    cxrkit classifier has); the tensor entering the pooling becomes the ``features`` output through an
    ``Identity`` node, so the logits are computed exactly as before (bit-identical) and one ONNX Runtime run
    gives probabilities and CAMs (``CAM_k = w_k . A``). Idempotent; written atomically.

    Raises:
        ModelError: the graph has no single global-average-pooling node feeding the logits.
    """
    import onnx
    from onnx import TensorProto, helper

    path = Path(path)
    model = onnx.load(str(path))
    graph = model.graph
    if any(o.name == FEATURES for o in graph.output):
        return path
    pools = [n for n in graph.node if n.op_type == "GlobalAveragePool"]
    if len(pools) != 1:
        raise ModelError(f"{path.name}: expected one GlobalAveragePool before the head, found {len(pools)}; "
                         "CAM for this model needs PyTorch (method='gradcam')")
    source = pools[0].input[0]
    graph.node.append(helper.make_node("Identity", [source], [FEATURES], name="cxrkit_features"))
    graph.output.append(helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["batch", None, None, None]))
    onnx.checker.check_model(model)
    _save_atomic(model, path)
    return path


def _save_atomic(model: Any, path: Path) -> None:
    import onnx

    with atomic_path(path, suffix=".onnx") as tmp:
        onnx.save(model, str(tmp))


def store_weights_fp16(path: str | Path, *, min_elements: int = 16) -> Path:
    """Rewrite an ONNX file so that float32 weights are stored as float16 and cast back at load.

    Halves the file size. Each large float32 initializer ``W`` becomes a float16 initializer plus a
    ``Cast(to=float)`` node producing ``W``; ONNX Runtime folds these casts when it builds the session, so
    inference runs in float32 at the same speed, with weights rounded to float16 (the same rounding as
    float16 safetensors). Written atomically.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    model = onnx.load(str(path))
    graph = model.graph
    casts, keep = [], []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= min_elements:
            arr = numpy_helper.to_array(init).astype(np.float16)
            half = numpy_helper.from_array(arr, name=init.name + "__fp16")
            keep.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                          name=init.name + "__cast"))
        else:
            keep.append(init)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    _save_atomic(model, path)
    return path


def ort_session(path: str | Path | bytes, *, threads: int | None = None) -> Any:
    """The one ONNX Runtime CPU session factory of cxrkit: bounded threads (intra-op ``threads``, default
    :func:`default_threads`; inter-op 1), no spinning, full graph optimisation, quiet logs.

    Args:
        path: an ``.onnx`` file, or the serialized model bytes.

    Raises:
        ModelError: file missing or not a valid ONNX model.
    """
    import onnxruntime as ort

    if not isinstance(path, bytes):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"ONNX model not found: {path}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or default_threads())
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Busy-waiting threads steal CPU from the rest of a pipeline on small machines.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    try:
        model = path if isinstance(path, bytes) else str(path)
        return ort.InferenceSession(model, sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        where = "(in memory)" if isinstance(path, bytes) else str(path)
        raise ModelError(f"cannot load ONNX model {where}: {exc}") from exc


class OnnxRunner:
    """Run a one-input ONNX model on numpy batches.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (default :func:`default_threads`).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = ort_session(self.path, threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = tuple(self.session.get_inputs()[0].shape)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """float32 ``(N, C, H, W)`` → the first output as float32."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.asarray(self.session.run(None, {self.input_name: x})[0], dtype=np.float32)
