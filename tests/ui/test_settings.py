"""Settings: a dataclass saved as JSON with a schema version, migrated, overridable by INFERDESK_SETTINGS."""

from __future__ import annotations

import json

from desktop.settings import SCHEMA_VERSION, Settings, load_settings, migrate, save_settings, settings_path


def test_path_follows_the_environment(settings_file):
    assert settings_path() == settings_file


def test_round_trip_and_atomic_write(settings_file):
    s = Settings(provider="CPUExecutionProvider", threads=2, opt_level="basic", top_k=3)
    s.add_recent(__file__)
    save_settings(s)
    assert [p.name for p in settings_file.parent.iterdir()] == ["settings.json"]  # no temp file left
    raw = json.loads(settings_file.read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    assert load_settings() == s


def test_missing_or_corrupt_file_gives_defaults(settings_file):
    assert load_settings() == Settings()
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text("{not json")
    assert load_settings() == Settings()
    settings_file.write_text(json.dumps({"threads": "many", "top_k": 0, "opt_level": "turbo", "unknown": 1}))
    s = load_settings()
    assert s.threads == 0 and s.top_k == 1 and s.opt_level == "all"


def test_migrate_from_version_1(settings_file):
    old = {"optimization": "extended", "recent": ["/a.onnx"], "provider": "auto"}
    assert migrate(old) == {"opt_level": "extended", "recent_models": ["/a.onnx"], "provider": None,
                            "schema_version": 2}
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text(json.dumps(old))
    s = load_settings()
    assert s.opt_level == "extended" and s.recent_models == ["/a.onnx"] and s.provider is None


def test_recent_models_are_unique_and_bounded(tmp_path):
    s = Settings()
    for n in range(12):
        s.add_recent(tmp_path / f"m{n}.onnx")
    s.add_recent(tmp_path / "m5.onnx")
    assert len(s.recent_models) == 8 and s.recent_models[0].endswith("m5.onnx")
    assert len(set(s.recent_models)) == 8
