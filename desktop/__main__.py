"""Entry point: ``inferdesk`` with no command opens the window; subcommands go to the command line."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] == "gui" and not any(a in ("-h", "--help") for a in argv):
        from .ui.app import run_app

        rest = argv[1:]
        return run_app(rest[0] if rest else None, rest[1:])
    from .cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
