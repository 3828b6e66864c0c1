#!/usr/bin/env bash
# Builds Kaluma 1.2 / JerryScript 2.4 from the pinned source archives as 32-bit Linux "twins" of the Pico (180 KB JS heap) and Pico 2 (256 KB) boards.
#
# Usage: tools/engines/kaluma/build.sh OUT_DIR [BUNDLE]
#   OUT_DIR/kaluma-180, kaluma-256              upload twins: `kaluma-256 prog.js` = a board with prog.js uploaded
#   OUT_DIR/kaluma-180-image, kaluma-256-image  image twins (only with BUNDLE): BUNDLE built in as a snapshot module
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
#     snapshot-save/exec), which turns Kaluma's JS modules, board.js and (image) the bundle into snapshots.
#   * Kaluma's C sources for targets/linux with the modules of targets/rp2/target.cmake and the Pico's board.h /
#     board.js (flash geometry, board.LED = 25, the littlefs mount), with our port files (port/, image/) in place
#     of the Linux port's stub tty, flash, system and main and of the rp2 module's pico-sdk code (twin.mk).
# Kaluma's own cmake is not used: it calls `python` (Debian has python3 only), needs Kaluma's npm packages for
# tools/js2c.js, and cleans JerryScript on every build; build.py is run with python3 and js2c.mjs replaces js2c.js.
set -euo pipefail

usage() {
  echo "usage: $0 OUT_DIR [BUNDLE]" >&2
  exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
BUNDLE=""
if [ $# -eq 2 ]; then
  [ -f "$2" ] || { echo "build.sh: no bundle $2 (run npm run build)" >&2; exit 2; }
  BUNDLE="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
fi
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

# --- generated sources (tools/js2c.js) ------------------------------------------------------------------------------
# targets/rp2/target.cmake's module list for the Pico (pico_cyw43 is the Pico W's only)
MODULES="events gpio led button pwm adc i2c spi uart graphics at storage wifi stream net http url rp2 rtc path flash fs vfs_lfs vfs_fat sdcard wdt startup"
JS2C=(node "$HERE/js2c.mjs" "--kaluma=$K" --target=rp2 --board=pico "--modules=$MODULES" "--snapshot-tool=$SNAP")
if ! newer_than "$K/src/gen/kaluma_modules.c" "$W/src.stamp" "$SNAP" "$HERE/js2c.mjs"; then
  log "module snapshots"
  "${JS2C[@]}" "--out=$K/src/gen" "--tmp=$W/snapshots-upload" > "$W/js2c-upload.log"
fi
HAVE_IMAGE=0
if [ -n "$BUNDLE" ]; then
  HAVE_IMAGE=1
  if ! newer_than "$W/gen-image/kaluma_modules.c" "$W/src.stamp" "$SNAP" "$HERE/js2c.mjs" "$BUNDLE"; then
    log "module snapshots + $(basename "$BUNDLE") as the boot module"
    "${JS2C[@]}" "--out=$W/gen-image" "--tmp=$W/snapshots-image" "--boot=tinyhsm=$BUNDLE" > "$W/js2c-image.log" ||
      { echo "build.sh: the bundle did not become a snapshot" >&2; exit 1; }
    grep 'tinyhsm snapshot' "$W/js2c-image.log" || true
  fi
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
