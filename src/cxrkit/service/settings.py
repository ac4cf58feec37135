"""Service settings from the environment (``CXRKIT_`` prefix), validated by pydantic-settings.

| variable | default | meaning |
| --- | --- | --- |
| ``CXRKIT_API_TOKEN`` | unset | bearer token required on ``/v1/*`` when set |
| ``CXRKIT_MAX_UPLOAD_MB`` | 32 | largest accepted request body (413 above) |
| ``CXRKIT_READ_TIMEOUT_S`` | 15 | longest pause between two body chunks of an upload (408 after) |
| ``CXRKIT_BODY_TIMEOUT_S`` | 60 | longest time to receive a whole request body (408 after) |
| ``CXRKIT_HEADER_TIMEOUT_S`` | 10 | longest time to receive a request's header block (connection closed after) |
| ``CXRKIT_INFERENCE_THREADS`` | 2 | images analyzed at the same time (further requests wait) |
| ``CXRKIT_MAX_QUEUED`` | 16 | analyses in progress or waiting; more get 503 (bounds memory held by uploads) |
| ``CXRKIT_MAX_CONNECTIONS`` | 1000 | open connections (503 beyond); keep under the process's file limit |
| ``CXRKIT_MAX_PENDING_HEADERS`` | 64 | connections still sending their header block; the oldest is closed beyond |
| ``CXRKIT_LOCALIZE`` | 1 | heatmaps and boxes for positive findings |
| ``CXRKIT_SEGMENT`` | 1 | lung / heart segmentation and CTR when a segmenter is shipped |
| ``CXRKIT_MAX_PIXELS`` | 50000000 | largest image (rows x columns) accepted |
| ``CXRKIT_CLASSIFIER`` | shipped | path of a classifier package (model card + weights) to serve instead |
| ``CXRKIT_SEGMENTER`` | shipped | path of a segmenter package to serve instead |
| ``CXRKIT_INDEX`` | unset | similar-case index folder for ``POST /v1/similar`` (``cxrkit index build``) |

An empty variable counts as unset (booleans: empty is false). A value of the wrong type or below its minimum
raises :class:`~cxrkit.errors.ConfigError` naming the variable, so ``cxrkit serve`` stops at startup.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from cxrkit.config_errors import config_error

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "CXRKIT_"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items()}


class Settings(BaseSettings):
    """Settings of the REST API (see the module docstring for the environment variables).

    ``Settings(...)`` takes keyword values only (no environment); :meth:`from_env` reads ``CXRKIT_*``.
    Instances are immutable.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, case_sensitive=False, frozen=True, extra="forbid",
                                      validate_default=False)

    api_token: str | None = None
    max_upload_mb: float = Field(32.0, ge=0.001)
    read_timeout_s: float = Field(15.0, ge=0.1)
    body_timeout_s: float = Field(60.0, ge=0.1)
    header_timeout_s: float = Field(10.0, ge=0.1)
    inference_threads: int = Field(2, ge=1)
    max_queued: int = Field(16, ge=1)
    max_connections: int = Field(1000, ge=2)
    max_pending_headers: int = Field(64, ge=1)
    localize: bool = True
    segment: bool = True
    max_pixels: int = Field(50_000_000, ge=1)
    classifier: str | None = None
    segmenter: str | None = None
    index: str | None = None

    _BOOLS: ClassVar[tuple[str, ...]] = ("localize", "segment")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any, info: ValidationInfo) -> Any:
        """An empty variable keeps the default (booleans: empty means false); booleans take 1/0, true/false,
        yes/no, on/off only."""
        name = info.field_name or ""
        if not isinstance(value, str):
            return value
        if name in cls._BOOLS:
            v = value.strip().lower()
            if v in _TRUE:
                return True
            if v in _FALSE:
                return False
            raise ValueError("expected 1/0, true/false, yes/no or on/off")
        if value == "":
            return cls.model_fields[name].default
        return value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the environment is read by from_env only: Settings() is the defaults

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``CXRKIT_*`` variables (default: ``os.environ``); unset ones keep their defaults.

        Raises:
            ConfigError: (a :class:`~cxrkit.errors.DataFormatError`) a variable holds a value of the wrong type
                or range; the message names the variable and what it accepts.
        """
        values = _MappingEnvSource(cls, os.environ if environ is None else environ)()
        try:
            return cls(**values)
        except ValidationError as exc:
            raise config_error(exc, cls, what=f"{ENV_PREFIX}* settings",
                               key_of=lambda loc: ENV_PREFIX + str(loc[0]).upper()) from None
