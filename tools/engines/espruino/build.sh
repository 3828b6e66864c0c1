#!/usr/bin/env bash
# Builds Espruino 2v29 for Linux as 32-bit board twins with 5,100, 8,190 and 12,000 JsVars (OUT_DIR/espruino-<vars>).
#
# Usage: tools/engines/espruino/build.sh OUT_DIR      (the engine suite expects OUT_DIR = build/engines/espruino)
# Inputs: $TINYHSM_ENGINE_SOURCES (default /work/shared/engines)/espruino-RELEASE_2V29.tar.gz, checked against
# SHA256SUMS there; tinyhsm-linux.patch and tinyhsm-linux.make beside this script.
# Needs: make, python3 (as `python`, or set PYTHON), gcc with -m32 (Debian gcc-multilib). Where the kernel cannot run
# 32-bit x86 programs, the launcher (test/engines/espruino.ts) runs them under qemu-i386-static (Debian qemu-user-static).
#
# Why so (see the sources): Espruino's Makefile takes its version from git (`git tag | grep RELEASE_`), so the tree is
# unpacked into a fresh repository with a commit tagged RELEASE_2V29. boards/LINUX.py sets 'variables': 0, i.e.
# resizable JsVars of 32-bit refs; scripts/build_platform_config.py lets VARIABLES=<n> fix the count instead, which
# makes JsVarRef as wide as on a board with that count (src/jsutils.h). The count sets the JsVar layout in every file,
# so each twin is a separate object tree (OBJDIR/GENDIR/BINDIR per count); make rebuilds only what changed, and the
# whole script does nothing when the three binaries are newer than all of its inputs.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
OUT="$(cd "$1" && pwd)"
SOURCES="${TINYHSM_ENGINE_SOURCES:-/work/shared/engines}"
ARCHIVE="espruino-RELEASE_2V29.tar.gz"
TAG="RELEASE_2V29"
COUNTS=(12000 8190 5100)
PATCH="$HERE/tinyhsm-linux.patch"
SETDEFINES="$HERE/tinyhsm-linux.make"
INPUTS=("$SOURCES/$ARCHIVE" "$PATCH" "$SETDEFINES" "$HERE/build.sh")

up_to_date() {
  local c i
  for c in "${COUNTS[@]}"; do
    [ -x "$OUT/espruino-$c" ] || return 1
    for i in "${INPUTS[@]}"; do
      [ "$OUT/espruino-$c" -nt "$i" ] || return 1
    done
  done
}

if up_to_date; then
  echo "espruino: $OUT/espruino-{$(IFS=,; echo "${COUNTS[*]}")} are newer than their inputs; nothing to do"
  exit 0
fi

[ -f "$SOURCES/$ARCHIVE" ] || { echo "espruino: $SOURCES/$ARCHIVE not found (set TINYHSM_ENGINE_SOURCES)" >&2; exit 1; }
want="$(awk -v f="$ARCHIVE" '$2 == f { print $1 }' "$SOURCES/SHA256SUMS")"
[ -n "$want" ] || { echo "espruino: $ARCHIVE is not listed in $SOURCES/SHA256SUMS" >&2; exit 1; }
got="$(sha256sum "$SOURCES/$ARCHIVE" | awk '{ print $1 }')"
if [ "$want" != "$got" ]; then
  echo "espruino: $ARCHIVE has sha256 $got, SHA256SUMS says $want" >&2
  exit 1
fi

command -v make >/dev/null || { echo "espruino: make is missing (apt-get install make)" >&2; exit 1; }
PYTHON="${PYTHON:-$(command -v python || command -v python3 || true)}"
[ -n "$PYTHON" ] || { echo "espruino: python3 is missing" >&2; exit 1; }
if ! echo 'int main(void){return 0;}' | gcc -m32 -x c - -o "$OUT/.m32-probe" 2>/dev/null; then
  echo "espruino: gcc cannot build 32-bit programs (apt-get install gcc-multilib)" >&2
  exit 1
fi
rm -f "$OUT/.m32-probe"

# A fresh source tree whenever the archive or the patch is newer than the one unpacked.
SRC="$OUT/src"
stamp="$SRC/.tinyhsm-unpacked"
if [ ! -f "$stamp" ] || [ "$SOURCES/$ARCHIVE" -nt "$stamp" ] || [ "$PATCH" -nt "$stamp" ]; then
  echo "espruino: unpacking $ARCHIVE into $SRC"
  rm -rf "$SRC" "$OUT"/obj-* "$OUT"/gen-* "$OUT"/bin-*
  mkdir -p "$SRC"
  tar -xzf "$SOURCES/$ARCHIVE" -C "$SRC" --strip-components=1
  git -C "$SRC" init -q
  git -C "$SRC" add -A
  git -C "$SRC" -c user.name=tinyhsm -c user.email=tinyhsm@localhost -c commit.gpgsign=false \
    commit -q -m "Espruino $TAG as archived in $ARCHIVE"
  git -C "$SRC" tag "$TAG"
  # Left uncommitted, so that the build label stays 2v29 (the Makefile counts commits since the tag).
  git -C "$SRC" apply --whitespace=nowarn "$PATCH"
  touch "$stamp"
fi

started=$(date +%s)
for c in "${COUNTS[@]}"; do
  mkdir -p "$OUT/gen-$c" "$OUT/obj-$c" "$OUT/bin-$c"
  echo "espruino: building the $c-JsVar twin (log: $OUT/build-$c.log)"
  if ! make -C "$SRC" BOARD=LINUX RELEASE=1 VARIABLES="$c" PYTHON="$PYTHON" SETDEFINES="$SETDEFINES" \
    GENDIR="$OUT/gen-$c" OBJDIR="$OUT/obj-$c" BINDIR="$OUT/bin-$c" >"$OUT/build-$c.log" 2>&1; then
    tail -30 "$OUT/build-$c.log" >&2
    echo "espruino: the $c-JsVar build failed; see $OUT/build-$c.log" >&2
    exit 1
  fi
  cp "$OUT/bin-$c/espruino" "$OUT/espruino-$c.tmp"
  mv "$OUT/espruino-$c.tmp" "$OUT/espruino-$c"
done
echo "espruino: built $OUT/espruino-{$(IFS=,; echo "${COUNTS[*]}")} in $(( $(date +%s) - started )) s"
