"""Service settings: CXRKIT_* variables through pydantic-settings, bad values named at startup."""

import pytest

from cxrkit.errors import ConfigError, DataFormatError
from cxrkit.service.settings import Settings


def test_defaults_do_not_read_the_environment(monkeypatch):
    monkeypatch.setenv("CXRKIT_MAX_PIXELS", "12")
    assert Settings().max_pixels == 50_000_000
    assert Settings.from_env().max_pixels == 12


def test_values_are_parsed_and_empty_means_unset():
    s = Settings.from_env({"CXRKIT_MAX_QUEUED": "3", "CXRKIT_READ_TIMEOUT_S": "2.5", "CXRKIT_SEGMENT": "off",
                           "CXRKIT_LOCALIZE": "", "CXRKIT_CLASSIFIER": "", "CXRKIT_API_TOKEN": "",
                           "CXRKIT_MAX_UPLOAD_MB": "", "OTHER": "x", "CXRKIT_NOT_A_SETTING": "1"})
    assert (s.max_queued, s.read_timeout_s, s.segment, s.localize) == (3, 2.5, False, False)
    assert s.classifier is None and s.api_token is None and s.max_upload_mb == 32.0


@pytest.mark.parametrize("env, named, expected", [
    ({"CXRKIT_MAX_CONNECTIONS": "1"}, "CXRKIT_MAX_CONNECTIONS='1'", "greater than or equal to 2"),
    ({"CXRKIT_INFERENCE_THREADS": "two"}, "CXRKIT_INFERENCE_THREADS='two'", "valid integer"),
    ({"CXRKIT_LOCALIZE": "maybe"}, "CXRKIT_LOCALIZE='maybe'", "on/off"),
    ({"CXRKIT_BODY_TIMEOUT_S": "0"}, "CXRKIT_BODY_TIMEOUT_S='0'", "greater than or equal to 0.1"),
])
def test_bad_values_name_the_variable(env, named, expected):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert isinstance(info.value, DataFormatError)
    assert named in str(info.value) and expected in str(info.value)


def test_settings_are_immutable():
    s = Settings(api_token="t")
    with pytest.raises(ValueError):
        s.api_token = "u"  # type: ignore[misc]
