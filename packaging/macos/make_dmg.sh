#!/usr/bin/env bash
# Pack dist/InferDesk.app (from packaging/macos/build_app.sh) into dist/InferDesk-<version>.dmg with an
# Applications link to drag it onto. Uses hdiutil, so macOS only. NOT RUN in this repository's CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' desktop/__init__.py)
APP=dist/InferDesk.app
DMG=dist/InferDesk-$VERSION.dmg
[ -d "$APP" ] || { echo "make_dmg: $APP is missing; run packaging/macos/build_app.sh first" >&2; exit 2; }
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "InferDesk $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
echo "make_dmg: $DMG: $(du -h "$DMG" | cut -f1)"
