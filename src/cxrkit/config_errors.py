"""Pydantic validation errors → one :class:`~cxrkit.errors.ConfigError` that names keys, values and options.

Used by the typed configurations (:mod:`cxrkit.train.config`, :mod:`cxrkit.service.settings`) so that a bad
config reads the same everywhere: ``key=value: what was expected``; an unknown key lists the known ones
with a did-you-mean hint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ValidationError

from cxrkit.errors import ConfigError, unknown_name

__all__ = ["config_error", "fields_at"]


def fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """Field names of the (nested) model reached by following ``loc`` from ``model``."""
    current: type[BaseModel] = model
    for part in loc:
        field = current.model_fields.get(str(part))
        ann = field.annotation if field is not None else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        current = ann
    return list(current.model_fields)


def _dotted(loc: Sequence[int | str]) -> str:
    return ".".join(str(p) for p in loc)


def config_error(exc: ValidationError, model: type[BaseModel], *, what: str,
                 key_of: Callable[[Sequence[int | str]], str] = _dotted) -> ConfigError:
    """Turn ``exc`` (raised validating ``model``) into a :class:`ConfigError`.

    Args:
        exc: the pydantic error.
        model: the model that was validated (to list the known keys of an unknown one).
        what: what was being read, e.g. ``"training config"``; starts the message.
        key_of: how a location is named to the user (default ``section.key``).
    """
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            kind = f"key in {_dotted(loc[:-1])!r}:" if len(loc) > 1 else "key"
            problems.append(str(unknown_name(f"{what} {kind}", loc[-1], fields_at(model, loc[:-1]))))
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{key_of(loc)}={err['input']!r}: {msg}")
    return ConfigError(f"invalid {what}: " + "; ".join(problems))
