"""User preferences as a dataclass saved to JSON (no Qt): provider, threads, optimisation, top-k, recent models.

Window geometry and pane sizes are not preferences; the window keeps them apart, in
``window-state.ini`` beside the settings file (``desktop/ui/window_state.py``). Settings are
loaded once at start-up and passed down.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .engine.profile import atomic_write_text
from .engine.session import OPT_LEVELS

SCHEMA_VERSION = 2
ENV_VAR = "INFERDESK_SETTINGS"
MAX_RECENT = 8


@dataclass
class Settings:
    """Preferences remembered between launches.

    ``provider`` None means the best available execution provider; ``threads`` 0 lets
    onnxruntime decide; ``no_fallback`` refuses a chosen provider that is missing or does not
    start, instead of running on the CPU.
    """

    schema_version: int = SCHEMA_VERSION
    provider: str | None = None
    threads: int = 0
    opt_level: str = "all"
    no_fallback: bool = False  # refuse to run when the chosen provider is missing or does not start
    top_k: int = 5
    recent_models: list = field(default_factory=list)
    last_model_dir: str = ""
    last_input_dir: str = ""
    last_export_dir: str = ""
    formula_guard: bool = True  # a ' before CSV cells a spreadsheet would run as formulas (=, +, -, @)
    # Run ▸ Watch Folder…: the last folders and choices
    watch_folder: str = ""
    watch_done: str = ""
    watch_failed: str = ""
    watch_move: bool = True  # move scored files to the done / failed folders (False: copy them)
    watch_settle_s: float = 1.0
    watch_poll: bool = False
    # Run ▸ Run on Cluster…: worker processes on this computer, or a Dask scheduler's address
    cluster_local: bool = True
    cluster_workers: int = 2
    cluster_address: str = ""
    # the Server tab
    serve_port: int = 8000
    serve_network: bool = False  # listen on every address, with a bearer token (else this machine only)
    serve_record: bool = True  # each answered request kept in History

    def add_recent(self, model_path) -> None:
        """Put a model first in the recent list (absolute path, no duplicates, at most MAX_RECENT)."""
        p = str(Path(model_path).resolve())
        self.recent_models = [p] + [r for r in self.recent_models if r != p][: MAX_RECENT - 1]

    def existing_recent(self) -> list[str]:
        return [r for r in self.recent_models if Path(r).is_file()]

    def to_dict(self) -> dict:
        return asdict(self)


def settings_path() -> Path:
    """The settings file: ``$INFERDESK_SETTINGS`` if set, else the user's config folder."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    try:
        from platformdirs import user_config_dir

        base = Path(user_config_dir("InferDesk", appauthor=False))
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        base = Path.home() / ".config" / "inferdesk"
    return base / "settings.json"


def migrate(raw: dict) -> dict:
    """Bring a settings dict written by an older version up to SCHEMA_VERSION.

    Version 1 (or no version) used ``optimization`` for the optimisation level and
    ``recent`` for the recent models, and stored ``provider: "auto"`` for the best one.
    """
    raw = dict(raw)
    version = raw.get("schema_version", 1)
    if not isinstance(version, int):
        version = 1
    if version < 2:
        if "optimization" in raw and "opt_level" not in raw:
            raw["opt_level"] = raw.pop("optimization")
        if "recent" in raw and "recent_models" not in raw:
            raw["recent_models"] = raw.pop("recent")
        if raw.get("provider") in ("auto", ""):
            raw["provider"] = None
        version = 2
    raw["schema_version"] = version
    return raw


def _clean(raw: dict) -> Settings:
    """Keep the known keys whose values have the right type; anything else falls back to the default."""
    default = Settings()
    out = Settings()
    known = {f.name for f in fields(Settings)}
    for key, value in raw.items():
        if key not in known or key == "schema_version":
            continue
        want = getattr(default, key)
        if key == "provider":
            ok = value is None or isinstance(value, str)
        elif isinstance(want, bool):
            ok = isinstance(value, bool)
        elif isinstance(want, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(want, list):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, type(want))
        if ok:
            setattr(out, key, value)
    if out.opt_level not in OPT_LEVELS:
        out.opt_level = default.opt_level
    out.threads = max(0, min(out.threads, 256))
    out.top_k = max(1, min(out.top_k, 100))
    out.recent_models = out.recent_models[:MAX_RECENT]
    if not 0 <= out.serve_port <= 65535:
        out.serve_port = default.serve_port
    if not 0 <= out.watch_settle_s <= 3600:
        out.watch_settle_s = default.watch_settle_s
    out.cluster_workers = max(1, min(out.cluster_workers, 256))
    return out


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read the settings file; a missing, unreadable or corrupt file gives the defaults (never raises)."""
    p = Path(path) if path is not None else settings_path()
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    if not isinstance(raw, dict):
        return Settings()
    return _clean(migrate(raw))


def save_settings(settings: Settings, path: str | os.PathLike | None = None) -> Path:
    """Write the settings atomically (temporary file + rename); returns the path written."""
    p = Path(path) if path is not None else settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    settings.schema_version = SCHEMA_VERSION
    atomic_write_text(p, json.dumps(settings.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return p
