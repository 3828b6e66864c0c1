#!/usr/bin/env bash
# Builds a tinyhsm board image (Kaluma 1.2 rp2 target with the firmware bundle as a built-in snapshot module, no REPL) into a UF2.
#
# Usage: tools/board/build.sh BOARD OUT_UF2 BUNDLE      (BOARD: pico → RP2040, 180 KB heap; pico2 → RP2350, 256 KB)
#   normally through `npm run build:board <board>` (tools/board/build.mjs), which builds and picks the bundle.
# Inputs: the archives in $TINYHSM_ENGINE_SOURCES (default <repo>/../shared/engines, else /work/shared/engines),
#   checked against their SHA256SUMS; nothing is downloaded.
# Debian 12 packages (apt-get install -y …): gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib
#   cmake make python3 g++, and Node ≥ 20.19 as for the rest of the repository (Debian 12's nodejs is 18). g++ builds
#   picotool and the host jerry-snapshot; libusb is not needed (picotool is built without it, see below).
# Work dir: build/board/sdk/ (pico-sdk, picotool, the two jerry-snapshots: shared by both boards) and build/board/<board>/
#   (Kaluma tree with its JerryScript, cmake build, generated sources). After a bundle change only js2c (the
#   snapshots) runs and kaluma_modules.c is recompiled and relinked. Build one board at a time: they share sdk/.
# JOBS (default 2) caps every parallel step (make, JerryScript's build.py, picotool).
#
# What the image changes in Kaluma 1.2.0 (each file says why):
#   * targets/rp2/src/main.c → rp2/main.c: runs the bundle's snapshot at boot; no REPL, no uploaded program.
#   * targets/rp2/src/tty.c  → rp2/tty.c: byte 0x03 is data, not a stop.
#   * rp2/image.cmake (CMAKE_PROJECT_INCLUDE): no USB reset to BOOTSEL (1200 baud, vendor interface), and the
#     picotool built here.
#   * tools/kaluma.cmake: its JerryScript and js2c.js steps are removed (this script does them, below).
# The Linux "image twin" (tools/engines/kaluma/) builds the same boot logic for x86 tests: image/main.c there is
# rp2/main.c here, port/tty.c with KM_TTY_ETX_IS_DATA is rp2/tty.c here, and both use tools/engines/kaluma/js2c.mjs.
set -euo pipefail
BOARD=${1:?board (pico|pico2)}; OUT=${2:?out.uf2}; BUNDLE=${3:?bundle.js}
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
if [ -n "${TINYHSM_ENGINE_SOURCES:-}" ]; then SRCS=$TINYHSM_ENGINE_SOURCES
elif [ -d "$ROOT/../shared/engines" ]; then SRCS=$ROOT/../shared/engines
else SRCS=/work/shared/engines; fi
SRCS=$(cd "$SRCS" && pwd)
[ -f "$BUNDLE" ] || { echo "build.sh: no bundle $BUNDLE (npm run build)" >&2; exit 2; }
BUNDLE=$(cd "$(dirname "$BUNDLE")" && pwd)/$(basename "$BUNDLE")
JOBS=${JOBS:-2}
T0=$(date +%s)
log() { echo "[board $BOARD $(($(date +%s) - T0))s] $*"; }
# js2c.mjs of the Linux twin (tools/engines/kaluma): the same generator, so board and twin images hold the same snapshot.
JS2C=$ROOT/tools/engines/kaluma/js2c.mjs

# Kaluma 1.2.0's targets/rp2/target.cmake builds pico and pico2 with lib/pico-sdk (95ea6aca, SDK 2.1.0) and only pico-w
# with lib/pico-sdk-2.0.0; the image uses the same SDK for both boards. Its tinyusb is the archive whose commit date
# fits (the archives' mtimes: SDK 95ea6aca 2024-11-25, tinyusb 5217cee5 2024-09-13 and the first with a
# raspberry_pi_pico2 board; SDK 2.0.0 2024-08-08, tinyusb 42326428 2024-08-02).
SDK=pico-sdk-95ea6aca; TUSB=tinyusb-5217cee5
case "$BOARD" in
  pico)  HEAP=180; TC=toolchain_mcu_cortexm0plus.cmake ;;
  pico2) HEAP=256; TC=toolchain_mcu_cortexm33.cmake ;;
  *) echo "build.sh: unknown board $BOARD (pico|pico2)" >&2; exit 2 ;;
esac

# --- tools (Debian 12 package names in the message) --------------------------------------------------------------
PKGS="gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib cmake make python3 g++"
missing=()
for t in arm-none-eabi-gcc arm-none-eabi-g++ arm-none-eabi-nm cmake make python3 c++ node sha256sum tar; do
  command -v $t >/dev/null || missing+=("$t")
done
if command -v arm-none-eabi-gcc >/dev/null; then
  # newlib: the pico-sdk links with -specs=nano.specs (Kaluma's target.cmake); libstdc++: the SDK compiles
  # pico_cxx_options/new_delete.cpp into every image, which includes <cstdlib>.
  [ -f "$(arm-none-eabi-gcc -print-file-name=nano.specs)" ] || missing+=("newlib (nano.specs)")
  echo '#include <cstdlib>' | arm-none-eabi-g++ -x c++ -fsyntax-only - 2>/dev/null || missing+=("arm-none-eabi C++ headers (<cstdlib>)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "build.sh: missing: ${missing[*]}" >&2
  echo "build.sh: on Debian 12: apt-get install -y $PKGS (and Node ≥ 20.19)" >&2
  exit 1
fi

W=$ROOT/build/board; B=$W/$BOARD; SDKS=$W/sdk
mkdir -p "$B" "$SDKS" "$W/bin"
# Kaluma's tools and JerryScript's build.py call `python`; Debian has python3 only.
ln -sf "$(command -v python3)" "$W/bin/python"; export PATH=$W/bin:$PATH

# need ARCHIVE...: each archive matches its line in SHA256SUMS
need() {
  for a in "$@"; do
    local line; line=$(grep -E "^[0-9a-f]{64}  $a\.tar\.gz\$" "$SRCS/SHA256SUMS") || { echo "build.sh: $a.tar.gz not in $SRCS/SHA256SUMS" >&2; exit 1; }
    (cd "$SRCS" && echo "$line" | sha256sum -c --quiet -) || { echo "build.sh: $a.tar.gz does not match SHA256SUMS" >&2; exit 1; }
  done
}
# unpack ARCHIVE DEST: the archive's single top directory becomes DEST (files get the unpack time, for make)
unpack() {
  local tmp; tmp=$(mktemp -d "$W/.x.XXXX")
  tar xzf "$SRCS/$1.tar.gz" --touch -C "$tmp"; rm -rf "$2"; mkdir -p "$(dirname "$2")"; mv "$tmp"/* "$2"; rmdir "$tmp"
}
# stamp_of ARCHIVE... [-- FILE...]: a fingerprint of archives (their SHA256SUMS lines) and files; a changed one rebuilds
stamp_of() {
  {
    while [ $# -gt 0 ] && [ "$1" != -- ]; do grep -E "  $1\.tar\.gz\$" "$SRCS/SHA256SUMS"; shift; done
    if [ $# -gt 1 ]; then shift; cat "$@"; fi
  } | sha256sum | cut -c1-16
}
# copy_if_changed SRC DEST: DEST gets a new mtime only when its content changes, so make rebuilds only what differs
copy_if_changed() { cmp -s "$1" "$2" || cp "$1" "$2"; }
log "checking archives in $SRCS"
need kaluma-1.2.0 jerryscript-kaluma-984c39fa littlefs-ead50807 $SDK $TUSB pico-sdk-2.0.0-efe2103f picotool-2.0.0

# --- pico-sdk with its tinyusb (read-only during builds, shared by both boards) ----------------------------------
S=$SDKS/$SDK; ST=$(stamp_of $SDK $TUSB -- "$HERE/rp2/tinyusb-family_support.cmake")
if [ "$(cat "$S.stamp" 2>/dev/null)" != "$ST" ]; then
  log "unpacking $SDK with $TUSB"
  unpack $SDK "$S"; rm -rf "$S/lib/tinyusb"; unpack $TUSB "$S/lib/tinyusb"
  cp "$HERE/rp2/tinyusb-family_support.cmake" "$S/lib/tinyusb/hw/bsp/family_support.cmake"
  echo "$ST" > "$S.stamp"
fi

# --- picotool 2.0.0, which pico-sdk 2.x runs to turn the ELF into the UF2 --------------------------------------------
# Built against pico-sdk 2.0.0 (efe2103f), the SDK it was released with (its CMakeLists.txt needs an SDK ≥ 2.0.0 for
# headers only), without libusb (PICOTOOL_NO_LIBUSB: no device commands; `uf2 convert` needs none).
PT=$SDKS/picotool; PTS=$(stamp_of pico-sdk-2.0.0-efe2103f picotool-2.0.0)
if [ "$(cat "$PT.stamp" 2>/dev/null)" != "$PTS" ] || [ ! -x "$PT/build/picotool" ]; then
  log "picotool 2.0.0"
  rm -rf "$PT"; unpack pico-sdk-2.0.0-efe2103f "$PT/pico-sdk"; unpack picotool-2.0.0 "$PT/src"
  cmake -S "$PT/src" -B "$PT/build" -DCMAKE_BUILD_TYPE=Release -DPICO_SDK_PATH="$PT/pico-sdk" -DPICOTOOL_NO_LIBUSB=ON \
    > "$PT.log" 2>&1 && cmake --build "$PT/build" -j"$JOBS" >> "$PT.log" 2>&1 ||
    { tail -30 "$PT.log" >&2; echo "build.sh: picotool failed, see $PT.log" >&2; exit 1; }
  echo "$PTS" > "$PT.stamp"
fi
PICOTOOL=$PT/build/picotool

# --- jerry-snapshot for the host, as tools/kaluma.cmake builds it for tools/js2c.js (shared by both boards) -----------
JH=$SDKS/jerry-snapshot; JHS=$(stamp_of jerryscript-kaluma-984c39fa)
if [ "$(cat "$JH.stamp" 2>/dev/null)" != "$JHS" ] || [ ! -x "$JH/build/bin/jerry-snapshot" ]; then
  log "jerry-snapshot (host)"
  rm -rf "$JH"; unpack jerryscript-kaluma-984c39fa "$JH/src"
  (cd "$JH/src" && python3 tools/build.py --builddir="$JH/build" --jerry-cmdline-snapshot=ON --snapshot-save=ON \
    --snapshot-exec=ON --profile=es.next --jobs="$JOBS") > "$JH.log" 2>&1 ||
    { tail -30 "$JH.log" >&2; echo "build.sh: jerry-snapshot failed, see $JH.log" >&2; exit 1; }
  echo "$JHS" > "$JH.stamp"
fi
SNAPSHOT_TOOL=$JH/build/bin/jerry-snapshot
# The bundle is a static snapshot (js2c.mjs --static, as the Linux image twins build it, tools/engines/kaluma/build.sh):
# its byte code and literal tables run in place from flash and its strings are external magic strings
# (kaluma_magic_strings.c, which Kaluma's km_runtime_init registers before the boot module runs); as an ordinary
# snapshot its function headers, literal tables and strings load into the JS heap, and the Pico runs out of memory.
# The tool writes the literal values the engine will read, so it must encode them as the boards' engine does:
# magic-string ids count JerryScript's own magic strings (line info adds some) and the direct-string range depends
# on the pointer size. So this second host jerry-snapshot has the boards' JerryScript features (JARGS below without
# toolchain and heap size), like the twin's jerry-snapshot-board.
JBARGS=(--jerry-cmdline-snapshot=ON --snapshot-save=ON "--compile-flag=-DJERRY_NDEBUG=1 -DJERRY_LCACHE=0 -DJERRY_PROPRETY_HASHMAP=0"
  --lto=OFF --error-messages=ON --js-parser=ON --mem-stats=ON --snapshot-exec=ON --line-info=ON --vm-exec-stop=ON
  --profile=es.next --cpointer-32bit=ON)
JB=$SDKS/jerry-snapshot-board; JBS=$(stamp_of jerryscript-kaluma-984c39fa -- <(echo "${JBARGS[*]}"))
if [ "$(cat "$JB.stamp" 2>/dev/null)" != "$JBS" ] || [ ! -x "$JB/build/bin/jerry-snapshot" ]; then
  log "jerry-snapshot (host, the boards' JerryScript features, for the static boot module)"
  rm -rf "$JB"; unpack jerryscript-kaluma-984c39fa "$JB/src"
  (cd "$JB/src" && python3 tools/build.py --builddir="$JB/build" "${JBARGS[@]}" --jobs="$JOBS") > "$JB.log" 2>&1 ||
    { tail -30 "$JB.log" >&2; echo "build.sh: jerry-snapshot (board features) failed, see $JB.log" >&2; exit 1; }
  echo "$JBS" > "$JB.stamp"
fi
STATIC_SNAPSHOT_TOOL=$JB/build/bin/jerry-snapshot

# --- Kaluma tree for this board (its build writes into src/gen and lib/jerryscript/build) --------------------------
K=$B/kaluma; KS=$(stamp_of kaluma-1.2.0 jerryscript-kaluma-984c39fa littlefs-ead50807)
if [ "$(cat "$B/kaluma.stamp" 2>/dev/null)" != "$KS" ]; then
  log "unpacking Kaluma 1.2.0, JerryScript, littlefs"
  rm -rf "$B"; mkdir -p "$B"
  unpack kaluma-1.2.0 "$K"; unpack jerryscript-kaluma-984c39fa "$K/lib/jerryscript"; unpack littlefs-ead50807 "$K/lib/littlefs"
  ln -s "$S" "$K/lib/pico-sdk"
  cp "$K/tools/kaluma.cmake" "$B/kaluma.cmake.orig"
  echo "$KS" > "$B/kaluma.stamp"
fi
# tools/kaluma.cmake without its two custom commands: they rebuild JerryScript with --clean whenever a module source
# changes and run tools/js2c.js, which needs Kaluma's npm dependencies (fs-extra, mustache, minimist); this script
# builds JerryScript and runs js2c.mjs itself. Re-derived from the original every run, written only when it changes.
sed '/^add_custom_command(OUTPUT \${JERRY_LIBS}/,/^  COMMAND rm -rf lib\/jerryscript\/build)/d' "$B/kaluma.cmake.orig" > "$B/kaluma.cmake.new"
grep -q 'add_custom_command' "$B/kaluma.cmake.new" && { echo "build.sh: the tools/kaluma.cmake edit no longer applies" >&2; exit 1; }
copy_if_changed "$B/kaluma.cmake.new" "$K/tools/kaluma.cmake"
copy_if_changed "$HERE/rp2/main.c" "$K/targets/rp2/src/main.c"
copy_if_changed "$HERE/rp2/tty.c" "$K/targets/rp2/src/tty.c"

# Kaluma's module list (targets/rp2/target.cmake MODULES), or a trimmed one from $TINYHSM_BOARD_MODULES.
MODULES=${TINYHSM_BOARD_MODULES:-"events gpio led button pwm adc i2c spi uart graphics at storage wifi stream net http url rp2 rtc path flash fs vfs_lfs vfs_fat sdcard wdt startup"}

# JerryScript for the MCU: JERRY_ARGS of tools/kaluma.cmake with this board's toolchain and heap (TARGET_HEAPSIZE).
J=$K/lib/jerryscript
JARGS=(--toolchain=cmake/$TC "--compile-flag=-DJERRY_NDEBUG=1 -DJERRY_LCACHE=0 -DJERRY_PROPRETY_HASHMAP=0" --lto=OFF
  --error-messages=ON --js-parser=ON --mem-heap=$HEAP --mem-stats=ON --snapshot-exec=ON --line-info=ON --vm-exec-stop=ON
  --profile=es.next --jerry-cmdline=OFF --cpointer-32bit=ON)
if [ ! -f "$J/build/lib/libjerry-core.a" ] || [ "$(cat "$B/jerry.args" 2>/dev/null)" != "${JARGS[*]}" ]; then
  log "JerryScript for $BOARD (${HEAP} KB heap)"
  (cd "$J" && python3 tools/build.py "${JARGS[@]}" --jobs="$JOBS") > "$B/jerry.log" 2>&1 ||
    { tail -30 "$B/jerry.log" >&2; echo "build.sh: JerryScript failed, see $B/jerry.log" >&2; exit 1; }
  echo "${JARGS[*]}" > "$B/jerry.args"
fi

# Generated sources: Kaluma's modules + board.js + the bundle as boot module "tinyhsm" (js2c.mjs --boot), a static
# snapshot (--static, see the jerry-snapshot above); kaluma_magic_strings.c then holds the bundle's literals too.
log "snapshots of Kaluma's modules and $(basename "$BUNDLE") (static)"
G=$B/gen; rm -rf "$G" "$B/snapshots"; mkdir -p "$G" "$K/src/gen"
node "$JS2C" --kaluma="$K" --target=rp2 --board=$BOARD --modules="$MODULES" --snapshot-tool="$SNAPSHOT_TOOL" \
  --out="$G" --tmp="$B/snapshots" --boot=tinyhsm="$BUNDLE" --static --static-snapshot-tool="$STATIC_SNAPSHOT_TOOL" \
  > "$B/js2c.log" 2>&1 ||
  { cat "$B/js2c.log" >&2; echo "build.sh: js2c.mjs failed" >&2; exit 1; }
grep 'tinyhsm' "$B/js2c.log" || true
for f in kaluma_modules.c kaluma_modules.h kaluma_magic_strings.c kaluma_magic_strings.h; do
  copy_if_changed "$G/$f" "$K/src/gen/$f"
done

# Firmware: Kaluma's CMakeLists.txt + target.cmake with the pico-sdk; nothing fetched (see rp2/image.cmake).
C=$B/cmake
CARGS=(-DTARGET=rp2 -DBOARD=$BOARD "-DMODULES=${MODULES// /;}" -DPICO_SDK_FETCH_FROM_GIT=OFF
  "-DCMAKE_PROJECT_INCLUDE=$HERE/rp2/image.cmake" "-DTINYHSM_PICOTOOL=$PICOTOOL")
if [ ! -f "$C/Makefile" ] || [ "$(cat "$B/cmake.args" 2>/dev/null)" != "${CARGS[*]}" ]; then
  log "configuring (cmake)"
  rm -rf "$C"
  cmake -S "$K" -B "$C" "${CARGS[@]}" > "$B/cmake.log" 2>&1 ||
    { tail -30 "$B/cmake.log" >&2; rm -rf "$C"; echo "build.sh: cmake failed, see $B/cmake.log" >&2; exit 1; }
  echo "${CARGS[*]}" > "$B/cmake.args"
fi
log "compiling and linking (make -j$JOBS)"
cmake --build "$C" -j"$JOBS" > "$B/make.log" 2>&1 || { tail -40 "$B/make.log" >&2; echo "build.sh: see $B/make.log" >&2; exit 1; }
UF2=$C/kaluma-rp2-$BOARD-1.2.0.uf2; ELF=${UF2%.uf2}.elf; BIN=${UF2%.uf2}.bin
# Kaluma's flash map (targets/rp2/boards/<board>/board.h KALUMA_BINARY_MAX): the image must end before storage.
MAX=$(sed -n 's/^#define KALUMA_BINARY_MAX \(0x[0-9A-Fa-f]*\).*/\1/p' "$K/targets/rp2/boards/$BOARD/board.h")
SIZE=$(stat -c %s "$BIN")
[ "$SIZE" -le $((MAX)) ] || { echo "build.sh: image $SIZE bytes > KALUMA_BINARY_MAX $((MAX))" >&2; exit 1; }

# The image checks (tools/board/check-image.mjs); the expected string is the session transcript label every firmware
# bundle carries (docs/session.md §2, §3), so a snapshot of some other file is caught as well.
log "checking the image"
node "$HERE/check-image.mjs" --board=$BOARD --uf2="$UF2" --bin="$BIN" --elf="$ELF" --heap=$HEAP \
  --snapshot="$B/snapshots/tinyhsm.snapshot" --wrapped="$B/snapshots/tinyhsm.wrapped" --bundle="$BUNDLE" --static=1 \
  --literals="$B/snapshots/tinyhsm.literals" --expect-string=tinyhsm/session/v1 > "$B/check.log" || { cat "$B/check.log" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"; cp "$UF2" "$OUT"
SNAP=$(stat -c %s "$B/snapshots/tinyhsm.snapshot")
ADDR=$(arm-none-eabi-nm "$ELF" | sed -n 's/^\([0-9a-f]*\) R module_tinyhsm_code$/0x\1/p')
log "$OUT: $(stat -c %s "$OUT") bytes UF2, $SIZE bytes image of $((MAX)) max; $(basename "$BUNDLE") as a $SNAP-byte static snapshot at $ADDR; JS heap $HEAP KB; $(grep -c ' ok ' "$B/check.log") checks passed ($B/check.log)"
