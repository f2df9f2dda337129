from __future__ import annotations

from pathlib import Path

import pytest

from osint_video.config import Config, default_toml_text, load_config
from osint_video.errors import ConfigError


def test_default_toml_documents_every_option() -> None:
    text = default_toml_text()
    cfg = Config()
    for section in ("workspace", "probe", "keyframes", "hashing", "report"):
        assert f"[{section}]" in text
        for name in getattr(cfg, section).__dataclass_fields__:
            assert f"\n{name} = " in text, f"{section}.{name} is not documented in default.toml"


def test_layering_file_then_env_then_home(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[keyframes]\nmethod = "iframes"\ninterval_s = 5\n[workspace]\nhome = "/x"\n')
    cfg = load_config(f, environ={"OSINT_VIDEO__KEYFRAMES__INTERVAL_S": "7.5"})
    assert cfg.keyframes.method == "iframes"
    assert cfg.keyframes.interval_s == 7.5
    assert cfg.home_dir() == Path("/x")
    cfg = load_config(f, home=tmp_path / "ws", environ={})
    assert cfg.home_dir() == (tmp_path / "ws").resolve()


def test_env_selects_file_and_database(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[hashing]\ndedup_max_distance = 3\n")
    env = {
        "OSINT_VIDEO_CONFIG": str(f),
        "OSINT_VIDEO_HOME": str(tmp_path),
        "OSINT_VIDEO_DB": "sqlite:////tmp/other.sqlite",
        "OSINT_VIDEO_OPERATOR": "alice",
    }
    cfg = load_config(environ=env)
    assert cfg.hashing.dedup_max_distance == 3


@pytest.mark.parametrize(
    "content,needle",
    [
        ("[nope]\na = 1\n", "unknown config section"),
        ("[keyframes]\nnope = 1\n", "unknown option keyframes.nope"),
        ("[keyframes]\nmin_shot_frames = 'many'\n", "not a valid int"),
        ("[keyframes\n", "not valid TOML"),
        ("[keyframes]\nmethod = 'magic'\n", "not one of shots, iframes, interval"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, content: str, needle: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(content)
    with pytest.raises(ConfigError, match=needle):
        load_config(f, environ={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", environ={})
