"""Entry point: ``inferdesk`` with no command opens the window; subcommands go to the command line."""

from __future__ import annotations

import sys


def versions() -> dict:
    """The command line's versions (app, Python, onnxruntime) plus Qt's; Qt is imported only here."""
    from .cli import versions as core_versions

    d = core_versions()
    try:
        import PySide6
        from PySide6 import QtCore

        d["qt"] = QtCore.qVersion()
        d["pyside6"] = PySide6.__version__
    except ImportError:  # pragma: no cover - a headless install without Qt
        d["qt"] = "missing"
    return d


def main(argv=None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl+C while the window's or the command line's modules load
        sys.stderr.write("inferdesk: interrupted\n")
        return 130


def _main(argv) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--self-test"]:
        from .selftest import run_self_test

        return run_self_test()
    if argv == ["--version"]:
        sys.stdout.write(" · ".join(f"{k} {v}" for k, v in versions().items()) + "\n")
        return 0
    if not argv or argv[0] == "gui" and not any(a in ("-h", "--help") for a in argv):
        from .ui.app import run_app

        rest = argv[1:]
        return run_app(rest[0] if rest else None, rest[1:])
    from .cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
