#!/usr/bin/env bash
# Builds Kaluma 1.2 / JerryScript 2.4 from the pinned source archives as 32-bit Linux "twins" of the Pico (180 KB JS heap) and Pico 2 (256 KB) boards.
#
# Usage: tools/engines/kaluma/build.sh OUT_DIR [BUNDLE_256 [BUNDLE_180]]
#   OUT_DIR/kaluma-180, kaluma-256              upload twins: `kaluma-256 prog.js` = a board with prog.js uploaded
#   OUT_DIR/kaluma-256-image                    image twin of the Pico 2: BUNDLE_256 (dist/tinyhsm-kaluma.js) built in
#   OUT_DIR/kaluma-180-image                    image twin of the Pico: BUNDLE_180 (dist/tinyhsm-kaluma-pico.js; default
#                                               BUNDLE_256) built in
# An image's bundle is a static snapshot module run in place (js2c.mjs --static, static_literals.mjs);
# TINYHSM_KALUMA_SNAPSHOT=plain builds it as an ordinary snapshot like Kaluma's own modules instead, whose function
# headers, literal tables and literal strings load into the JS heap (to measure what the static form saves).
# Each is a small launcher for OUT_DIR/<name>.elf (i386): the kernel runs it directly where it can run 32-bit
# programs, else qemu-user runs it (Debian qemu-user-static; this machine's kernel has ia32 emulation disabled).
# Environment of the twins: TINYHSM_FLASH (flash file), TINYHSM_ENGINE_STATS (statistics line), see port/*.c.
#
# What is built and why:
#   * JerryScript with Kaluma's rp2 JERRY_ARGS (targets/rp2/target.cmake, tools/kaluma.cmake): cpointer-32bit,
#     mem-stats, snapshot-exec, es.next, error messages, line info, vm-exec-stop, no LTO, and the compile flags
#     "-DJERRY_NDEBUG=1 -DJERRY_LCACHE=0 -DJERRY_PROPRETY_HASHMAP=0" (sic: Kaluma's spelling, so the property
#     hashmap stays on as on the boards), -m32 so pointers and the engine's structures have the boards' sizes,
#     once per heap size in its own build dir (Kaluma's cmake passes --clean and rebuilds every time; here cmake's
#     own dependency tracking keeps rebuilds incremental).
#   * jerry-snapshot exactly as tools/kaluma.cmake builds it for tools/js2c.js (host build, es.next,
#     snapshot-save/exec), which turns Kaluma's JS modules and board.js into snapshots, and a second one with the
#     boards' JerryScript features for the images' static boot module (see there why).
#   * Kaluma's C sources for targets/linux with the modules of targets/rp2/target.cmake and the Pico's board.h /
#     board.js (flash geometry, board.LED = 25, the littlefs mount), with our port files (port/, image/) in place
#     of the Linux port's stub tty, flash, system and main and of the rp2 module's pico-sdk code (twin.mk).
# Kaluma's own cmake is not used: it calls `python` (Debian has python3 only), needs Kaluma's npm packages for
# tools/js2c.js, and cleans JerryScript on every build; build.py is run with python3 and js2c.mjs replaces js2c.js.
set -euo pipefail

usage() {
  echo "usage: $0 OUT_DIR [BUNDLE_256 [BUNDLE_180]]" >&2
  exit 2
}
[ $# -ge 1 ] && [ $# -le 3 ] || usage
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
abs_bundle() {
  [ -f "$1" ] || { echo "build.sh: no bundle $1 (run npm run build)" >&2; exit 2; }
  echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}
BUNDLE_256=""
BUNDLE_180=""
if [ $# -ge 2 ]; then
  BUNDLE_256=$(abs_bundle "$2")
  BUNDLE_180=$BUNDLE_256
  [ $# -lt 3 ] || BUNDLE_180=$(abs_bundle "$3")
fi
SNAPSHOT_FORM=${TINYHSM_KALUMA_SNAPSHOT:-static}
case "$SNAPSHOT_FORM" in static | plain) ;; *) echo "build.sh: TINYHSM_KALUMA_SNAPSHOT is static or plain" >&2; exit 2 ;; esac
if [ -n "${TINYHSM_ENGINE_SOURCES:-}" ]; then
  SRC=$TINYHSM_ENGINE_SOURCES
elif [ -d "$REPO/../shared/engines" ]; then
  SRC=$(cd "$REPO/../shared/engines" && pwd)
else
  SRC=/work/shared/engines
fi
W=$OUT/work
K=$W/kaluma
HEAPS="180 256"
ARCHIVES=(kaluma-1.2.0.tar.gz jerryscript-kaluma-984c39fa.tar.gz littlefs-ead50807.tar.gz)
JOBS=$(nproc 2>/dev/null || echo 2)
T0=$(date +%s)
log() { echo "[kaluma $(($(date +%s) - T0))s] $*"; }
# newer_than OUT IN...: true when OUT exists and is newer than every IN
newer_than() {
  local out=$1
  shift
  [ -e "$out" ] || return 1
  local f
  for f in "$@"; do [ "$out" -nt "$f" ] || return 1; done
}

# --- tools -------------------------------------------------------------------------------------------------------
for t in gcc make cmake python3 node sha256sum tar; do
  command -v "$t" > /dev/null || { echo "build.sh: $t is missing" >&2; exit 1; }
done
mkdir -p "$W"
if ! echo 'int main(void){return 0;}' | gcc -m32 -x c - -o "$W/probe-i386" 2> /dev/null; then
  echo "build.sh: gcc cannot build 32-bit programs: apt-get install -y gcc-multilib g++-multilib" >&2
  exit 1
fi
if "$W/probe-i386" 2> /dev/null; then
  WRAP=""
elif command -v qemu-i386-static > /dev/null; then
  WRAP=$(command -v qemu-i386-static)
elif command -v qemu-i386 > /dev/null; then
  WRAP=$(command -v qemu-i386)
else
  echo "build.sh: this kernel does not run i386 programs (ia32_emulation off) and qemu-user is missing: apt-get install -y qemu-user-static" >&2
  exit 1
fi

# --- sources -----------------------------------------------------------------------------------------------------
(
  cd "$SRC"
  for a in "${ARCHIVES[@]}"; do
    [ -f "$a" ] || { echo "build.sh: $SRC/$a is missing" >&2; exit 1; }
    grep -E "^[0-9a-f]{64}  $a\$" SHA256SUMS || { echo "build.sh: $a is not in $SRC/SHA256SUMS" >&2; exit 1; }
  done | sha256sum -c --quiet -
) || { echo "build.sh: the engine archives do not match SHA256SUMS" >&2; exit 1; }
log "archives verified ($SRC)"

if ! newer_than "$W/src.stamp" "${ARCHIVES[@]/#/$SRC/}" "$HERE/build.sh"; then
  log "unpacking"
  rm -rf "$K"
  mkdir -p "$K/lib/jerryscript" "$K/lib/littlefs"
  # --touch: files get the unpack time, so make and cmake see them as newer than any older build output
  tar xzf "$SRC/kaluma-1.2.0.tar.gz" --touch --strip-components=1 -C "$K"
  tar xzf "$SRC/jerryscript-kaluma-984c39fa.tar.gz" --touch --strip-components=1 -C "$K/lib/jerryscript"
  tar xzf "$SRC/littlefs-ead50807.tar.gz" --touch --strip-components=1 -C "$K/lib/littlefs"
  mkdir -p "$K/src/gen"
  # tools/kaluma_config.h.in as CMakeLists.txt configures it (VER 1.2.0)
  sed 's/@VER@/1.2.0/' "$K/tools/kaluma_config.h.in" > "$K/src/gen/kaluma_config.h"
  touch "$W/src.stamp"
fi

# --- JerryScript, once per heap size --------------------------------------------------------------------------------
JERRY_ARGS=(
  --toolchain=cmake/toolchain_linux_i686.cmake
  "--compile-flag=-DJERRY_NDEBUG=1 -DJERRY_LCACHE=0 -DJERRY_PROPRETY_HASHMAP=0"
  --compile-flag=-m32
  --lto=OFF --error-messages=ON --js-parser=ON --mem-stats=ON --snapshot-exec=ON --line-info=ON
  --vm-exec-stop=ON --profile=es.next --jerry-cmdline=OFF --cpointer-32bit=ON
  "--jobs=$JOBS"
)
for h in $HEAPS; do
  lib=$W/jerry-$h/lib/libjerry-core.a
  if ! newer_than "$lib" "$W/src.stamp"; then
    log "JerryScript, ${h} KB heap"
    (cd "$K/lib/jerryscript" && python3 tools/build.py --builddir="$W/jerry-$h" "${JERRY_ARGS[@]}" "--mem-heap=$h") > "$W/jerry-$h.log" 2>&1 ||
      { tail -30 "$W/jerry-$h.log" >&2; echo "build.sh: JerryScript ($h KB) failed, see $W/jerry-$h.log" >&2; exit 1; }
    touch "$lib"
  fi
done
SNAP=$W/jerry-snapshot/bin/jerry-snapshot
if ! newer_than "$SNAP" "$W/src.stamp"; then
  log "jerry-snapshot (tools/kaluma.cmake's flags)"
  (cd "$K/lib/jerryscript" && python3 tools/build.py --builddir="$W/jerry-snapshot" --jerry-cmdline-snapshot=ON \
    --snapshot-save=ON --snapshot-exec=ON --profile=es.next "--jobs=$JOBS") > "$W/jerry-snapshot.log" 2>&1 ||
    { tail -30 "$W/jerry-snapshot.log" >&2; echo "build.sh: jerry-snapshot failed, see $W/jerry-snapshot.log" >&2; exit 1; }
  touch "$SNAP"
fi
# The boot module is a static snapshot (js2c.mjs --static): its byte code runs in place with the literal values the
# tool wrote, so the tool must encode values exactly as the engine does. Magic-string ids count JerryScript's own
# magic strings, whose list depends on the features (line info adds some), and with 16-bit compressed pointers a
# direct string holds at most 0xffff (ecma-globals.h ECMA_DIRECT_STRING_MAX_IMM), with the boards' 32-bit ones
# 0x07ffffff. So this second jerry-snapshot is built with the boards' JERRY_ARGS (natively: no -m32, no heap size).
SNAP_STATIC=$W/jerry-snapshot-board/bin/jerry-snapshot
if ! newer_than "$SNAP_STATIC" "$W/src.stamp"; then
  log "jerry-snapshot with the boards' JerryScript features (for the static boot module)"
  (cd "$K/lib/jerryscript" && python3 tools/build.py --builddir="$W/jerry-snapshot-board" --jerry-cmdline-snapshot=ON \
    --snapshot-save=ON "--compile-flag=-DJERRY_NDEBUG=1 -DJERRY_LCACHE=0 -DJERRY_PROPRETY_HASHMAP=0" \
    --lto=OFF --error-messages=ON --js-parser=ON --mem-stats=ON --snapshot-exec=ON --line-info=ON --vm-exec-stop=ON \
    --profile=es.next --cpointer-32bit=ON "--jobs=$JOBS") > "$W/jerry-snapshot-board.log" 2>&1 ||
    { tail -30 "$W/jerry-snapshot-board.log" >&2; echo "build.sh: jerry-snapshot (board features) failed, see $W/jerry-snapshot-board.log" >&2; exit 1; }
  touch "$SNAP_STATIC"
fi

# --- generated sources (tools/js2c.js) ------------------------------------------------------------------------------
# targets/rp2/target.cmake's module list for the Pico (pico_cyw43 is the Pico W's only)
MODULES="events gpio led button pwm adc i2c spi uart graphics at storage wifi stream net http url rp2 rtc path flash fs vfs_lfs vfs_fat sdcard wdt startup"
JS2C=(node "$HERE/js2c.mjs" "--kaluma=$K" --target=rp2 --board=pico "--modules=$MODULES" "--snapshot-tool=$SNAP")
if ! newer_than "$K/src/gen/kaluma_modules.c" "$W/src.stamp" "$SNAP" "$HERE/js2c.mjs"; then
  log "module snapshots"
  "${JS2C[@]}" "--out=$K/src/gen" "--tmp=$W/snapshots-upload" > "$W/js2c-upload.log"
fi
HAVE_IMAGE=0
if [ -n "$BUNDLE_256" ]; then
  HAVE_IMAGE=1
  STATIC_ARGS=()
  [ "$SNAPSHOT_FORM" = plain ] || STATIC_ARGS=(--static "--static-snapshot-tool=$SNAP_STATIC")
  for h in $HEAPS; do
    b=$BUNDLE_256
    [ "$h" = 256 ] || b=$BUNDLE_180
    gen=$W/gen-image-$h
    # rebuilt when an input is newer or the bundle or its form changed
    if ! newer_than "$gen/kaluma_modules.c" "$W/src.stamp" "$SNAP" "$SNAP_STATIC" "$HERE/js2c.mjs" "$HERE/static_literals.mjs" "$b" ||
      [ "$(cat "$gen/boot-module" 2> /dev/null)" != "$b $SNAPSHOT_FORM" ]; then
      log "module snapshots + $(basename "$b") as the boot module of kaluma-$h-image ($SNAPSHOT_FORM snapshot)"
      "${JS2C[@]}" "--out=$gen" "--tmp=$W/snapshots-image-$h" "--boot=tinyhsm=$b" "${STATIC_ARGS[@]}" > "$W/js2c-image-$h.log" ||
        { echo "build.sh: $b did not become a snapshot" >&2; exit 1; }
      echo "$b $SNAPSHOT_FORM" > "$gen/boot-module"
      grep 'tinyhsm' "$W/js2c-image-$h.log" || true
    fi
  done
fi

# --- Kaluma + port, the twins -----------------------------------------------------------------------------------
log "compiling and linking"
make -s -f "$HERE/twin.mk" -j"$JOBS" K="$K" W="$W" PORT="$HERE/port" IMAGE_SRC="$HERE/image" OUT="$OUT" \
  HAVE_IMAGE=$HAVE_IMAGE > "$W/make.log" 2>&1 || { grep -v "warning:" "$W/make.log" | tail -40 >&2; echo "build.sh: compile failed, see $W/make.log" >&2; exit 1; }

names=""
for h in $HEAPS; do
  names="$names kaluma-$h"
  [ "$HAVE_IMAGE" = 1 ] && names="$names kaluma-$h-image"
done
for n in $names; do
  cat > "$OUT/$n.tmp" << EOF
#!/bin/sh
# Runs the i386 twin $n.elf (built by tools/engines/kaluma/build.sh)${WRAP:+ under qemu-user: this kernel does not run i386 programs}.
exec ${WRAP:+$WRAP }"\$(dirname "\$0")/$n.elf" "\$@"
EOF
  chmod +x "$OUT/$n.tmp"
  mv "$OUT/$n.tmp" "$OUT/$n"
done
log "done:$names (in $OUT)"
