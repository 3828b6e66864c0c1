#!/usr/bin/env bash
# Builds a tinyhsm board image (Kaluma 1.2 rp2 target with the firmware bundle as a built-in snapshot module, no REPL) into a UF2.
#
# Usage: tools/board/build.sh BOARD OUT_UF2 BUNDLE      (BOARD: pico → RP2040, 180 KB heap; pico2 → RP2350, 256 KB)
# Inputs: the archives in $TINYHSM_ENGINE_SOURCES (default <repo>/../shared/engines), checked against SHA256SUMS.
# Debian packages: cmake gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib libusb-1.0-0-dev python3.
# Work dir: build/board/<board>/ (kaluma tree, cmake build), build/board/sdk/ (pico-sdks, picotool), shared by both boards.
# A rebuild after a bundle change re-runs only js2c (one snapshot) and recompiles kaluma_modules.c, then relinks.
set -euo pipefail
BOARD=${1:?board (pico|pico2)}; OUT=${2:?out.uf2}; BUNDLE=${3:?bundle.js}
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
SRCS=${TINYHSM_ENGINE_SOURCES:-$ROOT/../shared/engines}; SRCS=$(cd "$SRCS" && pwd)
BUNDLE=$(cd "$(dirname "$BUNDLE")" && pwd)/$(basename "$BUNDLE")
JOBS=${JOBS:-$(nproc)}
# js2c.mjs of the Linux twin (tools/engines/kaluma): the same generator, so board and twin images hold the same snapshot.
JS2C=$ROOT/tools/engines/kaluma/js2c.mjs

# Which pico-sdk per board. Kaluma 1.2.0's targets/rp2/target.cmake uses lib/pico-sdk (95ea6aca, SDK 2.1.0) for pico
# and pico2 and lib/pico-sdk-2.0.0 only for pico-w. SDK 2.1.0 wants picotool 2.1.0 and, for RP2350, passes
# `uf2 convert --abs-block` and `coprodis`, which picotool 2.0.0 (the only picotool in the archives) lacks; so the
# RP2350 image uses SDK 2.0.0 (efe2103f) whose tools/CMakeLists.txt asks for exactly picotool 2.0.0, and the RP2040
# image keeps Kaluma's SDK with picotool 2.0.0 handed in as an imported target (RP2040 needs only `uf2 convert`).
case "$BOARD" in
  pico)  SDK=pico-sdk-95ea6aca; TUSB=tinyusb-5217cee5; HEAP=180 ;;
  pico2) SDK=pico-sdk-2.0.0-efe2103f; TUSB=tinyusb-42326428; HEAP=256 ;;
  *) echo "build.sh: unknown board $BOARD (pico|pico2)" >&2; exit 2 ;;
esac
for t in cmake arm-none-eabi-gcc python3 node make c++; do
  command -v $t >/dev/null || { echo "build.sh: $t missing (apt-get install -y cmake gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib libusb-1.0-0-dev python3 g++)" >&2; exit 1; }
done

W=$ROOT/build/board; B=$W/$BOARD; SDKS=$W/sdk
mkdir -p "$B" "$SDKS" "$W/bin"
# Kaluma's tools/kaluma.cmake and JerryScript call `python`; Debian has python3 only.
ln -sf "$(command -v python3)" "$W/bin/python"; export PATH=$W/bin:$PATH

unpack() { # archive dest-dir: the archive's single top directory becomes dest-dir
  local a=$1 d=$2 tmp; tmp=$(mktemp -d "$W/.x.XXXX")
  tar xzf "$SRCS/$a.tar.gz" -C "$tmp"; rm -rf "$d"; mkdir -p "$(dirname "$d")"; mv "$tmp"/* "$d"; rmdir "$tmp"
}
need() { # verify archives (once per archive hash), so a changed input rebuilds from scratch
  for a in "$@"; do
    local line; line=$(grep " $a.tar.gz\$" "$SRCS/SHA256SUMS") || { echo "build.sh: $a.tar.gz not in SHA256SUMS" >&2; exit 1; }
    (cd "$SRCS" && echo "$line" | sha256sum -c --quiet -) || { echo "build.sh: $a.tar.gz fails SHA256SUMS" >&2; exit 1; }
  done
}
need kaluma-1.2.0 jerryscript-kaluma-984c39fa littlefs-ead50807 $SDK $TUSB picotool-2.0.0
SUMS=$(grep -E " (kaluma-1.2.0|jerryscript-kaluma-984c39fa|littlefs-ead50807|$SDK|$TUSB|picotool-2.0.0).tar.gz\$" "$SRCS/SHA256SUMS" | sha256sum | cut -c1-16)

# --- pico-sdk with its tinyusb submodule (read-only during builds, so both boards may share it)
if [ ! -f "$SDKS/$SDK/.tinyhsm-ok" ]; then
  unpack $SDK "$SDKS/$SDK"; rmdir "$SDKS/$SDK/lib/tinyusb" 2>/dev/null || true
  unpack $TUSB "$SDKS/$SDK/lib/tinyusb"
  cp "$HERE/rp2/tinyusb-family_support.cmake" "$SDKS/$SDK/lib/tinyusb/hw/bsp/family_support.cmake"
  touch "$SDKS/$SDK/.tinyhsm-ok"
fi
# --- picotool 2.0.0 (pico-sdk 2.x makes the UF2 with it; built against SDK 2.0.0, the SDK it was released with)
PT=$SDKS/picotool
if [ ! -x "$PT/install/bin/picotool" ]; then
  if [ ! -f "$SDKS/pico-sdk-2.0.0-efe2103f/.tinyhsm-ok" ]; then
    need pico-sdk-2.0.0-efe2103f tinyusb-42326428
    unpack pico-sdk-2.0.0-efe2103f "$SDKS/pico-sdk-2.0.0-efe2103f"; rmdir "$SDKS/pico-sdk-2.0.0-efe2103f/lib/tinyusb" 2>/dev/null || true
    unpack tinyusb-42326428 "$SDKS/pico-sdk-2.0.0-efe2103f/lib/tinyusb"
    cp "$HERE/rp2/tinyusb-family_support.cmake" "$SDKS/pico-sdk-2.0.0-efe2103f/lib/tinyusb/hw/bsp/family_support.cmake"; touch "$SDKS/pico-sdk-2.0.0-efe2103f/.tinyhsm-ok"
  fi
  unpack picotool-2.0.0 "$PT/src"
  cmake -S "$PT/src" -B "$PT/build" -DCMAKE_BUILD_TYPE=Release -DPICO_SDK_PATH="$SDKS/pico-sdk-2.0.0-efe2103f" \
    -DPICO_SDK_FETCH_FROM_GIT=OFF -DCMAKE_INSTALL_PREFIX="$PT/install" >/dev/null
  cmake --build "$PT/build" -j"$JOBS" >/dev/null
  cmake --install "$PT/build" >/dev/null
fi
PICOTOOL_DIR=$(dirname "$(find "$PT/install" -name picotoolConfig.cmake | head -1)")

# --- Kaluma tree for this board (its build writes into src/gen and lib/jerryscript/build)
K=$B/kaluma
if [ "$(cat "$B/.sources" 2>/dev/null)" != "$SUMS" ]; then
  rm -rf "$B"; mkdir -p "$B"
  unpack kaluma-1.2.0 "$K"
  unpack jerryscript-kaluma-984c39fa "$K/lib/jerryscript"
  unpack littlefs-ead50807 "$K/lib/littlefs"
  ln -s "$SDKS/$SDK" "$K/lib/pico-sdk-board"
  # target.cmake: the SDK chosen above (see the note at the top).
  sed -i 's|^if(BOARD STREQUAL "pico-w")$|if(TRUE) # tinyhsm: tools/board/build.sh picks the SDK|; s|\${CMAKE_SOURCE_DIR}/lib/pico-sdk-2.0.0)$|${CMAKE_SOURCE_DIR}/lib/pico-sdk-board)|' "$K/targets/rp2/target.cmake"
  grep -q 'lib/pico-sdk-board)' "$K/targets/rp2/target.cmake" || { echo "build.sh: target.cmake patch failed" >&2; exit 1; }
  # kaluma.cmake: JerryScript and the generated module sources are made by this script (below), not by cmake:
  # its custom commands rebuild JerryScript with --clean whenever a module source changes and need Kaluma's
  # npm dependencies (tools/js2c.js: fs-extra, mustache, minimist).
  sed -i '/^add_custom_command(OUTPUT \${JERRY_LIBS}/,/^  COMMAND rm -rf lib\/jerryscript\/build)/d' "$K/tools/kaluma.cmake"
  grep -q 'add_custom_command' "$K/tools/kaluma.cmake" && { echo "build.sh: kaluma.cmake patch failed" >&2; exit 1; }
  # The image: boot module at start, no REPL, 0x03 is data (see each file's header).
  cp "$HERE/rp2/main.c" "$K/targets/rp2/src/main.c"
  cp "$HERE/rp2/tty.c" "$K/targets/rp2/src/tty.c"
  echo "$SUMS" > "$B/.sources"
fi
cp -p "$HERE/rp2/main.c" "$K/targets/rp2/src/main.c"; cp -p "$HERE/rp2/tty.c" "$K/targets/rp2/src/tty.c"

# Kaluma's module list (targets/rp2/target.cmake MODULES), or a trimmed one from $TINYHSM_BOARD_MODULES.
MODULES=${TINYHSM_BOARD_MODULES:-"events gpio led button pwm adc i2c spi uart graphics at storage wifi stream net http url rp2 rtc path flash fs vfs_lfs vfs_fat sdcard wdt startup"}

J=$K/lib/jerryscript
# JerryScript for the host: jerry-snapshot, as tools/kaluma.cmake builds it (same flags).
if [ ! -x "$J/build-host/bin/jerry-snapshot" ]; then
  (cd "$J" && python tools/build.py --builddir=build-host --jerry-cmdline-snapshot=ON --snapshot-save=ON --snapshot-exec=ON --profile=es.next >/dev/null)
fi
# JerryScript for the MCU: JERRY_ARGS of tools/kaluma.cmake with this board's toolchain and heap.
TC=toolchain_mcu_cortexm0plus.cmake; [ "$BOARD" = pico2 ] && TC=toolchain_mcu_cortexm33.cmake
if [ ! -f "$J/build/lib/libjerry-core.a" ]; then
  (cd "$J" && python tools/build.py --toolchain=cmake/$TC --compile-flag="-DJERRY_NDEBUG=1 -DJERRY_LCACHE=0 -DJERRY_PROPRETY_HASHMAP=0" \
    --lto=OFF --error-messages=ON --js-parser=ON --mem-heap=$HEAP --mem-stats=ON --snapshot-exec=ON --line-info=ON \
    --vm-exec-stop=ON --profile=es.next --jerry-cmdline=OFF --cpointer-32bit=ON >/dev/null)
fi

# Generated sources: Kaluma's modules + board.js + the bundle as boot module "tinyhsm" (js2c.mjs --boot).
# Written beside and copied only when changed, so make recompiles only what differs.
G=$B/gen; rm -rf "$G"; mkdir -p "$G" "$K/src/gen"
node "$JS2C" --kaluma="$K" --target=rp2 --board=$BOARD --modules="$MODULES" --snapshot-tool="$J/build-host/bin/jerry-snapshot" \
  --out="$G" --tmp="$B/snapshots" --boot=tinyhsm="$BUNDLE" > "$B/js2c.log"
for f in kaluma_modules.c kaluma_modules.h kaluma_magic_strings.c kaluma_magic_strings.h; do
  cmp -s "$G/$f" "$K/src/gen/$f" || cp "$G/$f" "$K/src/gen/$f"
done

# Firmware: Kaluma's CMakeLists.txt + target.cmake with the pico-sdk; nothing fetched.
C=$B/cmake
PRE=$HERE/rp2/picotool-import.cmake
if [ ! -f "$C/Makefile" ]; then
  EXTRA=(-Dpicotool_DIR="$PICOTOOL_DIR")
  [ "$SDK" = pico-sdk-95ea6aca ] && EXTRA=(-DCMAKE_PROJECT_INCLUDE="$PRE" -DTINYHSM_PICOTOOL="$PT/install/bin/picotool")
  cmake -S "$K" -B "$C" -DTARGET=rp2 -DBOARD=$BOARD -DMODULES="${MODULES// /;}" \
    -DPICO_SDK_FETCH_FROM_GIT=OFF -DPICOTOOL_FORCE_FETCH_FROM_GIT=OFF "${EXTRA[@]}" > "$B/cmake.log"
fi
cmake --build "$C" -j"$JOBS" > "$B/make.log" 2>&1 || { tail -40 "$B/make.log" >&2; exit 1; }
UF2=$(ls "$C"/kaluma-rp2-$BOARD-*.uf2 | head -1); ELF=${UF2%.uf2}.elf; BIN=${UF2%.uf2}.bin
# Kaluma's flash map (targets/rp2/boards/<board>/board.h KALUMA_BINARY_MAX): the image must end before storage.
MAX=$(sed -n 's/^#define KALUMA_BINARY_MAX \(0x[0-9A-Fa-f]*\).*/\1/p' "$K/targets/rp2/boards/$BOARD/board.h")
SIZE=$(stat -c %s "$BIN")
[ "$SIZE" -le $((MAX)) ] || { echo "build.sh: image $SIZE bytes > KALUMA_BINARY_MAX $((MAX))" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"; cp "$UF2" "$OUT"
SNAP=$(sed -n 's/^js2c: tinyhsm snapshot \([0-9]*\) bytes/\1/p' "$B/js2c.log")
ADDR=$(arm-none-eabi-nm "$ELF" | sed -n 's/^\([0-9a-f]*\) R module_tinyhsm_code$/0x\1/p')
echo "build.sh: $OUT ($(stat -c %s "$OUT") bytes UF2, $SIZE bytes image of $((MAX)) max; tinyhsm snapshot $SNAP bytes at $ADDR; heap ${HEAP} KB)"
