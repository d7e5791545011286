"""Make the Windows ``.ico`` and macOS ``.icns`` app icons from ``resources/icons/inferdesk.png`` (Pillow only).

    .venv/bin/python packaging/make_icons.py        # writes resources/icons/inferdesk.ico and .icns

Run it again after changing the PNG; the outputs are small and committed, so the Windows and macOS
builds need nothing but PyInstaller. The PNG should be square, 512 px or larger.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def main() -> int:
    src = ICONS / "inferdesk.png"
    if not src.is_file():
        print(f"make_icons: {src} is missing", file=sys.stderr)
        return 2
    img = Image.open(src).convert("RGBA")
    if img.width != img.height:
        side = max(img.size)
        canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
        img = canvas
    ico_sizes = [(s, s) for s in (16, 24, 32, 48, 64, 128, 256) if s <= img.width]
    img.save(ICONS / "inferdesk.ico", sizes=ico_sizes)
    icns = img if img.width >= 512 else img.resize((512, 512), Image.LANCZOS)
    icns.save(ICONS / "inferdesk.icns")
    for name in ("inferdesk.ico", "inferdesk.icns"):
        print(f"wrote {ICONS / name} ({(ICONS / name).stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
