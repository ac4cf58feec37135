"""Connect to a Ray cluster, or start a local one for the duration of a job: the one place cxrkit calls
``ray.init`` / ``ray.shutdown``.

Ray is an optional extra (``pip install 'cxrkit[ray]'``); importing this module does not import it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cxrkit.errors import ConfigError, EngineError

__all__ = ["import_ray", "check_address", "ray_session", "LOCAL_OBJECT_STORE_MB"]

log = logging.getLogger(__name__)

#: Object store of a local Ray started by cxrkit: workers exchange only small result rows.
LOCAL_OBJECT_STORE_MB = 128
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.:\[\]-]+:\d{1,5}$")


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        EngineError: Ray is not installed (the message gives the install command).
    """
    try:
        import ray
    except ImportError as exc:
        raise EngineError("the Ray engine needs Ray, an optional extra: pip install 'cxrkit[ray]' "
                          f"(import failed: {exc})") from exc
    return ray


def check_address(address: str | None) -> str | None:
    """``None`` (start a local Ray), ``"auto"`` (the cluster this machine belongs to), ``ray://HOST:PORT``
    (Ray Client) or ``HOST:PORT`` (the head's GCS address) as given.

    Raises:
        ConfigError: anything else.
    """
    if address is None or address == "auto":
        return address
    if address.startswith("ray://") and _HOST_PORT.match(address[len("ray://"):]):
        return address
    if _HOST_PORT.match(address):
        return address
    raise ConfigError(f"--address must be 'auto', 'ray://HOST:PORT' or 'HOST:PORT'; got {address!r}")


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast when nothing listens at the address (``ray.init`` would retry for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise EngineError(f"no Ray cluster answers at {address}: {exc}. Start one (`ray start --head`) or check "
                          "--address") from exc


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray initialised for a ``with`` block; yields the ``ray`` module.

    Parameters
    ----------
    address:
        see :func:`check_address`. ``None`` starts a private local Ray (``num_cpus`` CPUs, no dashboard,
        :data:`LOCAL_OBJECT_STORE_MB` MB of object store), shut down on exit.
    num_cpus:
        CPUs of the local Ray (default: the usable CPUs); ignored with an address.

    When the calling process already initialised Ray (a test, a notebook), that session is used and left open.

    Raises
    ------
    EngineError
        Ray is not installed, or the cluster cannot be reached.
    ConfigError
        a malformed address.
    """
    address = check_address(address)
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address not in (None, "auto"):
        _check_reachable(address)
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:
        cpus = num_cpus or len(os.sched_getaffinity(0))
        kwargs.update(address="local", num_cpus=cpus, include_dashboard=False,
                      object_store_memory=LOCAL_OBJECT_STORE_MB * 1024 * 1024)
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise EngineError(f"could not {'start a local Ray' if address is None else 'connect to Ray at ' + address}"
                          f": {exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()
