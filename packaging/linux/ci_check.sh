#!/usr/bin/env bash
# CI: build the frozen bundle and the .deb, install the .deb on this machine, run the installed
# `inferdesk --self-test` from an empty environment, open the installed window under Xvfb and check a
# screenshot of it is not blank, then purge the package and check nothing is left behind.
# Runs as root on a fresh Debian/Ubuntu machine and installs its own apt packages. Exits non-zero on
# any failure. Artifacts (the .deb, the screenshot, timings) go to out/ci/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ART=$ROOT/out/ci
mkdir -p "$ART"
PY=$ROOT/.venv/bin/python
SECONDS=0
XVFB_PID= APP_PID=
WORK=$(mktemp -d /tmp/inferdesk-ci.XXXXXX)
chmod 0755 "$WORK"

log() { printf 'ci_check [%3ds]: %s\n' "$SECONDS" "$*"; }
fail() { printf 'ci_check [%3ds]: FAILED: %s\n' "$SECONDS" "$*" >&2; exit 1; }
cleanup() {
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null || true
  [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || fail "run as root (installing a .deb needs it)"
  SUDO=sudo
fi

# ----------------------------------------------------------------------------------------------- 0
# Build: PyInstaller needs binutils, and copies the build machine's xcb/X11/wayland client libraries
# into the bundle, so they must be here. Test: Xvfb, xdotool to see the window, fonts, and the MIME,
# desktop and icon cache tools so the package's scripts are exercised.
log "installing apt packages"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  binutils file libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
  libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 libxcb-sync1 libxcb-shm0 \
  libxcb-glx0 libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libfontconfig1 libfreetype6 libdbus-1-3 libegl1 \
  libgl1 libglib2.0-0 libwayland-client0 libwayland-cursor0 libwayland-egl1 \
  xvfb xauth x11-utils xdotool fonts-dejavu-core desktop-file-utils shared-mime-info hicolor-icon-theme \
  gtk-update-icon-cache >/dev/null

# ----------------------------------------------------------------------------------------------- 1
log "building the bundle"
if grep -qE "^dist:" Makefile 2>/dev/null; then
  make dist
else
  [ -x "$PY" ] || python3 -m venv .venv
  "$PY" -m pip install --quiet -e . 'pyinstaller>=6.10'
  "$PY" -m PyInstaller --noconfirm --clean --log-level WARN build.spec
fi
[ -x dist/inferdesk/inferdesk ] || fail "dist/inferdesk/inferdesk was not built"
dist/inferdesk/inferdesk --self-test || fail "the bundle's self-test (before packaging)"
BUNDLE_BYTES=$(du -sb dist/inferdesk | cut -f1)

# Every library the bundle's binaries link must be in the bundle or on the system.
missing=$(cd dist/inferdesk/_internal && find . -name '*.so*' -type f -print0 \
  | LD_LIBRARY_PATH=$PWD:$PWD/PySide6/Qt/lib xargs -0 ldd 2>/dev/null | grep 'not found' | sort -u || true)
[ -z "$missing" ] || fail "bundle libraries with unresolved dependencies: $missing"

log "building the .deb"
packaging/linux/build_deb.sh
DEB=dist/inferdesk_$(sed -n 's/^__version__ = "\(.*\)"/\1/p' desktop/__init__.py)_$(dpkg --print-architecture).deb
[ -f "$DEB" ] || fail "$DEB was not built"
DEB_BYTES=$(stat -c %s "$DEB")
cp "$DEB" "$ART/"

# ----------------------------------------------------------------------------------------------- 2
# What exists before installing: after purging, anything new that no installed package owns is a leftover.
# Home folders are left out: what a user's session writes there is the user's, not the package's (the
# self-test below checks it writes nothing to HOME).
snapshot() {
  find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp \
    -o -path "$ROOT" -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache -o -path /var/log \
    -o -path /root -o -path /home \) -prune -o -print 2>/dev/null | sort
}
snapshot > "$WORK/before.txt"

log "installing $DEB"
t0=$(date +%s%N)
$SUDO apt-get install -y -qq "./$DEB" >/dev/null
log "installed in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

for f in /opt/inferdesk/inferdesk /usr/share/applications/inferdesk.desktop /usr/share/mime/packages/inferdesk.xml; do
  [ -e "$f" ] || fail "$f is not installed"
done
[ "$(readlink -f /usr/bin/inferdesk)" = /opt/inferdesk/inferdesk ] || fail "/usr/bin/inferdesk does not lead to /opt/inferdesk/inferdesk"
[ "$(command -v inferdesk)" = /usr/bin/inferdesk ] || fail "inferdesk is not on PATH"
desktop-file-validate /usr/share/applications/inferdesk.desktop || fail "the .desktop entry is invalid"
[ -f /usr/share/mime/application/x-onnx.xml ] || fail "the MIME database does not know application/x-onnx"
grep -q '^application/x-onnx=.*inferdesk.desktop' /usr/share/applications/mimeinfo.cache \
  || fail "inferdesk.desktop is not associated with application/x-onnx"
if [ -f resources/icons/inferdesk.png ]; then
  ls /usr/share/icons/hicolor/*/apps/inferdesk.png >/dev/null 2>&1 || fail "no icon under /usr/share/icons/hicolor"
fi

# ----------------------------------------------------------------------------------------------- 3
log "self-test of the installed app from an empty environment"
out=$(cd "$WORK" && env -i PATH=/usr/bin:/bin LANG=C.UTF-8 inferdesk --self-test) || fail "installed self-test: $out"
echo "$out"
case "$out" in "self-test passed: "*) ;; *) fail "unexpected self-test output: $out" ;; esac
out=$(cd "$WORK" && env -i PATH=/usr/bin:/bin LANG=C.UTF-8 setpriv --reuid=nobody --regid=nogroup --clear-groups \
      inferdesk --self-test) || fail "installed self-test as an unprivileged user: $out"
log "as user nobody: $out"
mkdir -m 0777 "$WORK/empty-home"
out=$(cd "$WORK" && env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$WORK/empty-home" setpriv --reuid=nobody \
      --regid=nogroup --clear-groups inferdesk --self-test) || fail "installed self-test with an empty HOME: $out"
written=$(find "$WORK/empty-home" -mindepth 1 | sed "s|$WORK/empty-home|~|")
[ -z "$written" ] || fail "--self-test wrote into the user's home: $written"
env -i PATH=/usr/bin:/bin LANG=C.UTF-8 inferdesk --version | tee "$ART/version.txt"
grep -q 'qt 6' "$ART/version.txt" || fail "--version does not name Qt"
# score --cluster local:1 from the bundle: Dask's worker process is the frozen app started again
log "score --cluster local:1 with the installed app"
CSV_SAMPLE=$(find /opt/inferdesk -path '*/resources/samples/breast_cancer.csv' | head -1)
MODEL_SAMPLE=$(find /opt/inferdesk -path '*/models/breast_cancer.onnx' | head -1)
[ -n "$CSV_SAMPLE" ] && [ -n "$MODEL_SAMPLE" ] || fail "the installed app has no breast_cancer sample to score"
out=$(cd "$WORK" && env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$WORK" timeout 300 inferdesk score "$MODEL_SAMPLE" \
      "$CSV_SAMPLE" --cluster local:1 --no-history --quiet 2>"$WORK/cluster.err") \
  || fail "installed score --cluster local:1: $(tail -5 "$WORK/cluster.err")"
rows=$(printf '%s\n' "$out" | grep -c '"worker": ')
[ "$rows" -ge 20 ] || fail "installed score --cluster local:1 gave $rows results with a worker: $(tail -5 "$WORK/cluster.err")"
log "the cluster scored $rows rows"

# ----------------------------------------------------------------------------------------------- 4
log "starting the installed window under Xvfb"
DISPLAY_NUM=:99
Xvfb $DISPLAY_NUM -screen 0 1280x800x24 -nolisten tcp -noreset >"$WORK/xvfb.log" 2>&1 &
XVFB_PID=$!
for _ in $(seq 100); do [ -S /tmp/.X11-unix/X${DISPLAY_NUM#:} ] && break; sleep 0.1; done
mkdir -m 0700 "$WORK/home"
t0=$(date +%s%N)
(cd "$WORK/home" && exec env -i PATH=/usr/bin:/bin LANG=C.UTF-8 DISPLAY=$DISPLAY_NUM HOME="$WORK/home" \
   XDG_RUNTIME_DIR="$WORK/home" inferdesk >"$WORK/app.log" 2>&1) &
APP_PID=$!
shown=
for _ in $(seq 600); do
  if DISPLAY=$DISPLAY_NUM xdotool search --onlyvisible --name InferDesk >/dev/null 2>&1; then
    shown=$(( ($(date +%s%N) - t0) / 1000000 )); break
  fi
  kill -0 "$APP_PID" 2>/dev/null || { cat "$WORK/app.log" >&2; fail "the installed app exited before showing its window"; }
  sleep 0.1
done
[ -n "$shown" ] || { cat "$WORK/app.log" >&2; fail "no InferDesk window within 60 s"; }
log "window shown ${shown} ms after launch"
# Wait for the sample model to load and the window to paint, then take and judge the screenshot.
verdict=
for _ in $(seq 20); do
  sleep 0.5
  verdict=$(DISPLAY=$DISPLAY_NUM "$PY" - "$ART/installed-window.png" <<'PYEOF'
import os, sys
from PIL import ImageGrab, ImageStat

shot = ImageGrab.grab(xdisplay=os.environ["DISPLAY"]).convert("RGB")
shot.save(sys.argv[1])
colours = len(shot.getcolors(1 << 24) or [])
stddev = sum(ImageStat.Stat(shot).stddev) / 3
bbox = shot.convert("L").point(lambda v: 255 if v > 8 else 0).getbbox()  # the area that is not black Xvfb root
area = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1]) if bbox else 0
ok = colours >= 32 and stddev >= 10 and area >= 200 * 150
print(f"{'ok' if ok else 'blank'}: {colours} colours, stddev {stddev:.1f}, painted area {area} px")
PYEOF
  ) || true
  case "$verdict" in ok:*) break ;; esac
done
log "screenshot $ART/installed-window.png: $verdict"
case "$verdict" in ok:*) ;; *) fail "the window's screenshot looks blank ($verdict)" ;; esac
kill -0 "$APP_PID" 2>/dev/null || fail "the app died after showing its window"
kill "$APP_PID"; wait "$APP_PID" 2>/dev/null || true; APP_PID=
if [ -s "$WORK/app.log" ]; then log "the app's messages:"; sed 's/^/    /' "$WORK/app.log"; fi
grep -q 'Traceback' "$WORK/app.log" && fail "the app raised an exception while running"


log "measuring launch to shown window (installed app)"
DISPLAY=$DISPLAY_NUM "$PY" tools/measure_startup.py --runs 4 --json "$ART/startup.json" -- /usr/bin/inferdesk \
  || fail "tools/measure_startup.py"
kill "$XVFB_PID"; wait "$XVFB_PID" 2>/dev/null || true; XVFB_PID=

# ----------------------------------------------------------------------------------------------- 5
log "purging the package"
$SUDO apt-get purge -y -qq inferdesk >/dev/null
for f in /opt/inferdesk /usr/bin/inferdesk /usr/share/applications/inferdesk.desktop \
         /usr/share/mime/packages/inferdesk.xml /usr/share/mime/application/x-onnx.xml /usr/share/doc/inferdesk; do
  [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is still there after purging"
done
ls /usr/share/icons/hicolor/*/apps/inferdesk.* >/dev/null 2>&1 && fail "icons are still there after purging"
mentions=$(grep -rIl 'inferdesk\|x-onnx' /usr/share/applications /usr/share/mime /usr/share/icons /etc 2>/dev/null || true)
[ -z "$mentions" ] || fail "files still mention inferdesk or application/x-onnx after purging: $mentions"
dpkg -s inferdesk >/dev/null 2>&1 && fail "dpkg still lists inferdesk"
snapshot > "$WORK/after.txt"
cat /var/lib/dpkg/info/*.list | sort -u > "$WORK/owned.txt"
# New since before the install, not owned by any installed package (the dependencies apt pulled in are),
# and not one of the shared caches the desktop, MIME and icon tools rewrite for every package.
comm -13 "$WORK/before.txt" "$WORK/after.txt" | comm -23 - "$WORK/owned.txt" \
  | grep -v -E '^/usr/share/applications/mimeinfo\.cache$|^/usr/share/icons/[^/]+/icon-theme\.cache$|^/usr/share/mime/|^/etc/ld\.so\.cache$|^/usr/lib/python3/dist-packages/.*__pycache__|^/var/lib/' \
  > "$WORK/leftover.txt" || true
if [ -s "$WORK/leftover.txt" ]; then
  cat "$WORK/leftover.txt" >&2
  fail "$(wc -l < "$WORK/leftover.txt") new file(s) left behind after purging"
fi
log "purged: nothing left behind"

mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }
log "passed: bundle $(mb "$BUNDLE_BYTES"), $(basename "$DEB") $(mb "$DEB_BYTES"), window shown ${shown} ms after launch"
