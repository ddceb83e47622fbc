"""Settings: the environment overrides the defaults; a BANSOS_* name that is no setting is refused."""

import pytest

from settings import UnknownSettings, load_settings


def test_the_environment_overrides_defaults_with_their_types():
    settings = load_settings(
        environ={
            "BANSOS_SESSION_MINUTES": "45",
            "BANSOS_FORCE_HTTPS": "yes",
            "BANSOS_LANE_ROLES": '{"Caseworker": "caseworker"}',
            "PATH": "/bin",
        }
    )
    assert settings["BANSOS_SESSION_MINUTES"] == 45 and settings["BANSOS_FORCE_HTTPS"] is True
    assert settings["BANSOS_LANE_ROLES"] == {"Caseworker": "caseworker"}


def test_a_misspelt_setting_is_refused_with_a_hint():
    with pytest.raises(UnknownSettings) as refused:
        load_settings(environ={"BANSOS_SESION_MINUTES": "45", "BANSOS_SESSION_MINUTES": "30"})
    assert refused.value.names == ["BANSOS_SESION_MINUTES"]
    assert "did you mean BANSOS_SESSION_MINUTES?" in str(refused.value)
    with pytest.raises(UnknownSettings):
        load_settings({"BANSOS_NOT_A_SETTING": 1}, environ={})


def test_settings_nothing_reads_are_gone():
    assert "BANSOS_DECILE_CUTOFFS" not in load_settings(environ={})


def test_a_cheap_password_hash_is_for_tests_only():
    from cases.accounts import is_cheap

    assert is_cheap("pbkdf2:sha256:1000") and not is_cheap("scrypt") and not is_cheap("pbkdf2:sha256:600000")
    from web import create_app

    with pytest.raises(ValueError, match="cheap test method"):
        create_app({"BANSOS_FORCE_HTTPS": True, "BANSOS_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
