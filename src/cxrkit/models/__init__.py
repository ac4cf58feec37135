"""Classification models: a registry of architectures, typed model cards and the shipped default classifier.

* :func:`create_model` / :func:`list_models` / :func:`register_model` — architectures by name.
* :class:`cxrkit.models.card.ModelCard` — the JSON card stored next to every weights file.
* :func:`cxrkit.models.classifier.load_classifier` — the runtime (ONNX Runtime) used by the pipeline.
"""

__all__ = ["create_model", "list_models", "register_model", "load_weights_file", "load_classifier", "ModelCard"]


_REGISTRY_NAMES = ("create_model", "list_models", "register_model", "load_weights_file")


def __getattr__(name: str):  # lazy: keep `import cxrkit.models` light (inference and serving never import torch)
    if name in _REGISTRY_NAMES:
        from cxrkit.models import registry

        return getattr(registry, name)
    if name == "load_classifier":
        from cxrkit.models.classifier import load_classifier

        return load_classifier
    if name == "ModelCard":
        from cxrkit.models.card import ModelCard

        return ModelCard
    raise AttributeError(name)
