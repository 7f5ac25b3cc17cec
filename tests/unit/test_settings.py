"""Settings: defaults, TOML file, ``CLOUDCLAUDE_*`` overlay, strict validation, reload diff."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from cloudclaude.core import settings
from cloudclaude.core.settings import Settings, SettingsError


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cloudclaude.toml"
    path.write_text(text)
    return path


def test_defaults_load_without_file_or_env() -> None:
    loaded = settings.load(None, environ={})
    assert loaded == Settings()
    assert loaded.web.port == 8080
    assert loaded.log.level == "info"


def test_toml_file_values_are_used(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[web]\nport = 9000\n[log]\nlevel = "debug"\n')
    loaded = settings.load(path, environ={})
    assert loaded.web.port == 9000
    assert loaded.log.level == "debug"


def test_config_env_var_names_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[web]\nport = 9001\n")
    loaded = settings.load(None, environ={"CLOUDCLAUDE_CONFIG": str(path)})
    assert loaded.web.port == 9001


def test_env_overrides_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[web]\nport = 9000\n")
    loaded = settings.load(path, environ={"CLOUDCLAUDE_WEB__PORT": "9090"})
    assert loaded.web.port == 9090


def test_env_float_and_str_values_are_converted() -> None:
    loaded = settings.load(
        None,
        environ={"CLOUDCLAUDE_SUPERVISOR__GRACE_S": "2.5", "CLOUDCLAUDE_STATE_DIR": "/tmp/x"},
    )
    assert loaded.supervisor.grace_s == 2.5
    assert loaded.state_dir == "/tmp/x"


def test_unknown_toml_key_is_named_with_suggestion(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[web]\nportt = 1\n")
    with pytest.raises(SettingsError) as info:
        settings.load(path, environ={})
    message = str(info.value)
    assert "web.portt" in message
    assert "'port'" in message


def test_unknown_toml_section_is_rejected(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[nonsense]\nx = 1\n")
    with pytest.raises(SettingsError, match="nonsense"):
        settings.load(path, environ={})


def test_unknown_env_var_is_named() -> None:
    with pytest.raises(SettingsError, match="CLOUDCLAUDE_WEB__PROT"):
        settings.load(None, environ={"CLOUDCLAUDE_WEB__PROT": "1"})


def test_env_var_non_integer_is_rejected() -> None:
    with pytest.raises(SettingsError, match="CLOUDCLAUDE_WEB__PORT"):
        settings.load(None, environ={"CLOUDCLAUDE_WEB__PORT": "eighty"})


def test_unrelated_env_vars_are_ignored() -> None:
    loaded = settings.load(None, environ={"HOME": "/root", "WEB__PORT": "1"})
    assert loaded == Settings()


def test_wrong_type_is_rejected(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[web]\nport = "x"\n')
    with pytest.raises(SettingsError, match=r"web\.port"):
        settings.load(path, environ={})


def test_bool_is_not_accepted_as_int(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[web]\nport = true\n")
    with pytest.raises(SettingsError, match=r"web\.port"):
        settings.load(path, environ={})


def test_out_of_range_port_is_rejected(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[web]\nport = 70000\n")
    with pytest.raises(SettingsError, match="port"):
        settings.load(path, environ={})


def test_literal_choice_is_enforced(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[log]\nlevel = "loud"\n')
    with pytest.raises(SettingsError) as info:
        settings.load(path, environ={})
    assert "log.level" in str(info.value)
    assert "'debug'" in str(info.value)


def test_invalid_toml_is_rejected(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[web\nport = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        settings.load(path, environ={})


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        settings.load(tmp_path / "absent.toml", environ={})


def test_diff_splits_reloadable_from_restart() -> None:
    old = Settings()
    new = attrs.evolve(
        old,
        log=attrs.evolve(old.log, level="debug"),
        rate_limits=attrs.evolve(old.rate_limits, login_per_user=3),
        web=attrs.evolve(old.web, port=9999),
    )
    changes = settings.diff(old, new)
    assert set(changes.applied) == {"log.level", "rate_limits.login_per_user"}
    assert changes.needs_restart == ("web.port",)


def test_diff_of_equal_settings_is_empty() -> None:
    changes = settings.diff(Settings(), Settings())
    assert changes.applied == ()
    assert changes.needs_restart == ()


def test_merge_reloadable_takes_only_reloadable_fields() -> None:
    old = Settings()
    new = attrs.evolve(
        old,
        log=attrs.evolve(old.log, level="error", format="json"),
        rate_limits=attrs.evolve(old.rate_limits, window_s=5.0),
        web=attrs.evolve(old.web, port=9999),
    )
    merged = settings.merge_reloadable(old, new)
    assert merged.log.level == "error"
    assert merged.rate_limits.window_s == 5.0
    assert merged.log.format == old.log.format
    assert merged.web.port == old.web.port


def test_bad_choice_from_env_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="CLOUDCLAUDE_LOG__LEVEL must be one of"):
        settings.load(environ={"CLOUDCLAUDE_LOG__LEVEL": "loud"})


def test_leading_zero_env_int_is_octal_like_a_file_mode() -> None:
    loaded = settings.load(environ={"CLOUDCLAUDE_CTL__SOCKET_MODE": "0660"})
    assert loaded.ctl.socket_mode == 0o660


def test_reread_applies_adjust(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[log]\nlevel = "debug"\n')
    live = settings.LiveSettings(
        Settings(), str(config), lambda s: attrs.evolve(s, state_dir="/kept")
    )
    again = live.reread()
    assert again.state_dir == "/kept"
    assert again.log.level == "debug"


def test_every_name_is_importable_from_the_settings_module() -> None:
    """The split into sections, loading and reload keeps ``cloudclaude.core.settings`` whole."""
    from cloudclaude.core import (
        settings_checks,
        settings_loading,
        settings_reload,
        settings_sections,
    )

    parts = (settings_checks, settings_sections, settings_loading, settings_reload)
    public = {
        name
        for part in parts
        for name, value in vars(part).items()
        if not name.startswith("_")
        and getattr(value, "__module__", part.__name__) == part.__name__
        and (isinstance(value, type) or callable(value) or name.isupper())
        and name in getattr(part, "__all__", [name])
    }
    public -= {"RELOADABLE", "reloadable"}  # how section fields are declared, not API
    assert public == set(settings.__all__)
    for name in settings.__all__:
        assert any(getattr(part, name, None) is getattr(settings, name) for part in parts)
