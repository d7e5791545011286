#!/usr/bin/env bash
# Make dist/inferdesk_<version>_<arch>.deb from the PyInstaller bundle dist/inferdesk/ (build it first:
# `make dist`). The package puts the app in /opt/inferdesk, the `inferdesk` launcher in /usr/bin, a
# .desktop entry with the icon, and the MIME type application/x-onnx for *.onnx; removing it takes all
# of that away again. Needs only dpkg-deb (and Python with Pillow for the icon sizes; the venv has it).
# DEB_COMPRESSION (default "-Zxz -z6": smallest, about 3 minutes on 2 cores; "-Zgzip -z6" takes 20 s
# and gives a 35 % larger file) is passed to dpkg-deb.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUNDLE=${BUNDLE:-dist/inferdesk}
PY=${PYTHON:-.venv/bin/python}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' desktop/__init__.py)
ARCH=$(dpkg --print-architecture)
PKG=inferdesk
OUT=dist/${PKG}_${VERSION}_${ARCH}.deb
STAGE=build/deb/${PKG}_${VERSION}_${ARCH}
ICON_PNG=resources/icons/inferdesk.png
ICON_SVG=resources/icons/inferdesk.svg

[ -x "$BUNDLE/inferdesk" ] || { echo "build_deb: $BUNDLE/inferdesk is missing; build the bundle first (make dist)" >&2; exit 2; }
[ -n "$VERSION" ] || { echo "build_deb: no __version__ in desktop/__init__.py" >&2; exit 2; }

rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
         "$STAGE/usr/share/mime/packages" "$STAGE/usr/share/doc/$PKG"
cp -a "$BUNDLE" "$STAGE/opt/$PKG"
ln -s "/opt/$PKG/inferdesk" "$STAGE/usr/bin/inferdesk"

# Icons: every hicolor size from the PNG (or the SVG rendered by Qt is not available here, so the PNG
# is the source), plus the SVG as scalable when there is one.
if [ -f "$ICON_PNG" ]; then
  "$PY" - "$ICON_PNG" "$STAGE/usr/share/icons/hicolor" <<'PYEOF'
import sys
from pathlib import Path
from PIL import Image

src, dest = Image.open(sys.argv[1]).convert("RGBA"), Path(sys.argv[2])
for size in (16, 24, 32, 48, 64, 128, 256, 512):
    if size > max(src.size):
        continue
    d = dest / f"{size}x{size}" / "apps"
    d.mkdir(parents=True, exist_ok=True)
    src.resize((size, size), Image.LANCZOS).save(d / "inferdesk.png", optimize=True)
PYEOF
else
  echo "build_deb: warning: $ICON_PNG is missing; the package has no raster icon" >&2
fi
if [ -f "$ICON_SVG" ]; then
  install -Dm644 "$ICON_SVG" "$STAGE/usr/share/icons/hicolor/scalable/apps/inferdesk.svg"
fi

cat > "$STAGE/usr/share/applications/inferdesk.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=InferDesk
GenericName=ONNX model scorer
Comment=Score images and tables with an ONNX model on this workstation
Exec=inferdesk gui %F
TryExec=inferdesk
Icon=inferdesk
Terminal=false
Categories=Science;DataVisualization;
Keywords=onnx;inference;model;classifier;
MimeType=application/x-onnx;
StartupWMClass=inferdesk
DESKTOP

cat > "$STAGE/usr/share/mime/packages/inferdesk.xml" <<'MIME'
<?xml version="1.0" encoding="UTF-8"?>
<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">
  <mime-type type="application/x-onnx">
    <comment>ONNX model</comment>
    <generic-icon name="application-x-executable"/>
    <glob pattern="*.onnx"/>
  </mime-type>
</mime-info>
MIME

cat > "$STAGE/usr/share/doc/$PKG/copyright" <<'COPY'
InferDesk, MIT licence. The bundle in /opt/inferdesk contains Python, onnxruntime (MIT), Qt and PySide6
(LGPLv3), pyqtgraph (MIT), NumPy (BSD), Pillow (MIT-CMU), pydicom (MIT) and their bundled libraries, each
under its own licence; see their notices inside /opt/inferdesk/_internal.
COPY

# Runtime libraries the bundle does not carry (the ones PyInstaller leaves to the system: libc, GL, ...),
# found from the bundle's own ELF files and mapped to the packages that provide them here.
declare -A seen=()
deps=()
bundled=$(find "$STAGE/opt/$PKG" -name '*.so*' -printf '%f\n' | sort -u)
LDCACHE=$(ldconfig -p | grep -E 'x86-64|AArch64|64bit' || ldconfig -p)
while read -r lib; do
  [ -n "$lib" ] || continue
  grep -qxF "$lib" <<<"$bundled" && continue
  # (no early exit in these pipelines: with pipefail, a writer killed by SIGPIPE would end the script)
  path=$(awk -v l="$lib" '$1 == l && !found {print $NF; found = 1}' <<<"$LDCACHE")
  if [ -z "$path" ]; then
    echo "build_deb: warning: $lib (needed by the bundle) is not on this machine" >&2
    continue
  fi
  pkg=$( (dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true) \
         | awk -F: 'NR == 1 {print $1}')
  if [ -n "$pkg" ] && [ -z "${seen[$pkg]:-}" ]; then
    seen[$pkg]=1
    deps+=("$pkg")
  fi
done < <(find "$STAGE/opt/$PKG" -type f \( -name '*.so*' -o -name inferdesk \) -exec readelf -d {} + 2>/dev/null \
         | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
# Fonts and the fontconfig setup for the bundled libfontconfig; without them Qt draws no text.
depends=$(printf '%s\n' "${deps[@]}" fontconfig-config | sort -u | paste -sd, | sed 's/,/, /g')
depends="$depends, fonts-dejavu-core | fonts-liberation | fonts-freefont-ttf"

installed_kb=$(du -sk --apparent-size "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: $PKG
Version: $VERSION
Architecture: $ARCH
Maintainer: InferDesk maintainers <inferdesk@localhost>
Installed-Size: $installed_kb
Depends: $depends
Recommends: shared-mime-info, desktop-file-utils
Section: science
Priority: optional
Homepage: https://example.invalid/inferdesk
Description: score images and tables with an ONNX model, locally
 InferDesk loads an ONNX model, shows what it expects, and scores images
 (PNG, JPEG, TIFF, BMP, WebP, GIF, DICOM) and CSV files with onnxruntime on
 this machine; nothing is uploaded. A self-contained build: Python, Qt and
 onnxruntime are inside /opt/inferdesk. Try: inferdesk --self-test
CONTROL

# Refresh the desktop, MIME and icon caches where those tools exist (also on removal, so no stale
# entry for application/x-onnx or inferdesk.desktop stays behind).
for script in postinst postrm; do
  cat > "$STAGE/DEBIAN/$script" <<'SCRIPT'
#!/bin/sh
set -e
if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q /usr/share/applications || true; fi
if command -v update-mime-database >/dev/null 2>&1 && [ -d /usr/share/mime/packages ]; then update-mime-database /usr/share/mime || true; fi
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f /usr/share/icons/hicolor/index.theme ]; then gtk-update-icon-cache -q -f /usr/share/icons/hicolor || true; fi
exit 0
SCRIPT
  chmod 0755 "$STAGE/DEBIAN/$script"
done

find "$STAGE" -type d -exec chmod 0755 {} +
find "$STAGE/usr" -type f -exec chmod 0644 {} +
chmod -R u+rwX,go+rX,go-w "$STAGE/opt/$PKG"

mkdir -p dist
dpkg-deb --root-owner-group ${DEB_COMPRESSION:--Zxz -z6} --build "$STAGE" "$OUT" >/dev/null
size=$(stat -c %s "$OUT")
echo "build_deb: $OUT: $(awk -v s="$size" 'BEGIN {printf "%.1f MB", s / 1e6}') (installs $(awk -v k="$installed_kb" 'BEGIN {printf "%.1f MB", k * 1024 / 1e6}'))"
echo "build_deb: Depends: $depends"
