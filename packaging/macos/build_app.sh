#!/usr/bin/env bash
# Build dist/InferDesk.app on macOS with PyInstaller (build.spec makes the .app with BUNDLE on darwin),
# check it with --self-test, and sign it ad hoc. NOT RUN in this repository's CI, which is Linux only;
# .github/workflows/release.yml runs it on a macOS runner. For distribution outside your own machines,
# sign with a Developer ID (CODESIGN_IDENTITY) and notarise (xcrun notarytool) - not done here.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e . 'pyinstaller>=6.10'
[ -f resources/icons/inferdesk.icns ] || .venv/bin/python packaging/make_icons.py
.venv/bin/python -m PyInstaller --noconfirm --clean build.spec
APP=dist/InferDesk.app
[ -d "$APP" ] || { echo "build_app: $APP was not built" >&2; exit 1; }
"$APP/Contents/MacOS/inferdesk" --self-test
"$APP/Contents/MacOS/inferdesk" --version
codesign --force --deep --sign "${CODESIGN_IDENTITY:--}" "$APP"
echo "build_app: $APP: $(du -sh "$APP" | cut -f1)"
