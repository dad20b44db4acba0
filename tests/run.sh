#!/bin/bash
# kzrescue's whole test run on Debian 12 (bookworm), as root:
#   sudo bash tests/run.sh
# 1. enables the `contrib` component (OpenZFS lives there) — idempotent;
# 2. installs the real tools the tests use as oracles (zdb, ztest, the OpenZFS
#    test-suite pool images, tgt, libiscsi, ...);
# 3. unpacks zfs-fuse beside them (it conflicts with zfsutils-linux as a
#    package) into $ZFS_FUSE_ROOT, for tests and fixture scripts that need it;
# 4. runs `cargo test` and prints the summary. Exits non-zero if anything fails.
# CI runs it via .ci/run with CI=true, which turns every "tool missing -> SKIPPED"
# into a failure.
#
# Build directory: sudo resets the environment, so an exported CARGO_TARGET_DIR
# is dropped and cargo builds into ./target as root. To keep yours, pass it
# through sudo explicitly (a relative path is taken from where you run sudo):
#   sudo CARGO_TARGET_DIR="$CARGO_TARGET_DIR" bash tests/run.sh
#   sudo -E bash tests/run.sh          # keeps your whole environment
# The directory in use is printed before the build.
#
# Output: what tests print (cargo test -- --show-output) is shown with control
# bytes escaped (ESC as \x1b, CR as \x0d, C1 controls as \u0080…): a test's
# output can neither move the cursor nor forge the summary, which is computed
# from the escaped log (`test result:` lines, as CI reads them).
#   bash tests/run.sh --sanitize < LOG     the escaping filter alone
#   bash tests/run.sh --summary LOG        the summary of a (filtered) log
#   bash tests/run.sh --target-dir         the build directory it would use
set -euo pipefail

# Escapes control bytes except TAB and LF: C0 and DEL as \xNN, C1 (UTF-8
# C2 80..C2 9F) as \u00NN. Byte-oriented, so invalid UTF-8 passes unchanged.
sanitize() {
  LC_ALL=C perl -pe 's/\xc2([\x80-\x9f])/sprintf("\\u%04x",ord $1)/ge; s/([\x00-\x08\x0b-\x1f\x7f])/sprintf("\\x%02x",ord $1)/ge'
}

# The summary of a test log: SKIPPED lines, FAILED tests, totals.
summary() {
  local log=$1
  grep -E '^SKIPPED' "$log" | sort | uniq || true
  grep -E '^test .* \.\.\. FAILED$' "$log" || true
  # why each failed: the panic line and the assertion text that follows it
  # (at most 12 lines per panic), so a CI tail shows the cause
  awk '/panicked at/ { n = 12 } n > 0 { if ($0 ~ /^note: run with/ || $0 ~ /^---- /) { n = 0; next } print "  | " $0; n-- }' "$log" | head -120
  awk '/^test result:/ { for (i=2;i<=NF;i++) { if ($(i)~/^passed;?$/) p+=$(i-1); if ($(i)~/^failed;?$/) f+=$(i-1); if ($(i)~/^ignored;?$/) g+=$(i-1) } }
       END { printf "TOTAL: %d passed, %d failed, %d ignored\n", p, f, g }' "$log"
  echo "SKIPPED: $(grep -c '^SKIPPED' "$log" || true)"
}

case "${1:-}" in
  --sanitize) sanitize; exit 0 ;;
  --summary) summary "$2"; exit 0 ;;
esac

# A relative CARGO_TARGET_DIR names a place relative to the caller's directory.
if [ -n "${CARGO_TARGET_DIR:-}" ] && [ "${CARGO_TARGET_DIR#/}" = "$CARGO_TARGET_DIR" ]; then
  export CARGO_TARGET_DIR="$PWD/$CARGO_TARGET_DIR"
fi
if [ "${1:-}" = --target-dir ]; then
  echo "${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target}"
  exit 0
fi

# Debian packages the tests need. Add yours here (one list, one place).
APT_PACKAGES=(
  zfsutils-linux zfs-test          # zdb, zhack, ztest; OpenZFS test-suite pool images
  tgt libiscsi-bin                 # user-space iSCSI target and initiator tools
  zstd bzip2                       # fixture and test-suite image compression
  gdisk fdisk                      # sgdisk/sfdisk: cross-check partition tables
  libfuse2 fuse                    # runtime of the unpacked zfs-fuse
  python3
  mount                            # losetup (4Kn loop-device tests)
  gcc libc6-dev                    # the linker rustc calls (a fresh Debian has none)
  curl ca-certificates             # only to fetch rustup when cargo is missing
)
# KZ_SETUP_ONLY=1 installs and unpacks everything but runs no tests.
# Cargo profile for the test run: "release" (optimised; zdb-oracle, crypto and
# image-walking tests run much faster) or "debug". Override with KZ_PROFILE=debug.
KZ_PROFILE=${KZ_PROFILE:-release}
export ZFS_FUSE_ROOT=${ZFS_FUSE_ROOT:-/opt/zfs-fuse}

cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { printf '== %s (+%ss)\n' "$*" "$(( $(date +%s) - t0 ))"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/run.sh: run as root (it installs Debian packages): sudo bash tests/run.sh" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive

# 1. contrib component (deb822 sources of Debian 12; classic sources.list as fallback).
src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ]; then
  if grep -qE '^Components:' "$src" && grep -E '^Components:' "$src" | grep -vq '\bcontrib\b'; then
    say "enabling contrib in $src"
    sed -i -E '/^Components:/{/\bcontrib\b/!s/$/ contrib/}' "$src"
  fi
elif [ -f /etc/apt/sources.list ] && ! grep -qE '^deb .* contrib' /etc/apt/sources.list; then
  say "enabling contrib in /etc/apt/sources.list"
  sed -i -E '/^deb /{/\bcontrib\b/!s/$/ contrib/}' /etc/apt/sources.list
fi

# 2. packages.
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get update"
  apt-get update -q
  say "installing ${missing[*]}"
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "all ${#APT_PACKAGES[@]} packages already installed"
fi

# 3. zfs-fuse, unpacked (not installed: it conflicts with zfsutils-linux).
if [ ! -x "$ZFS_FUSE_ROOT/usr/sbin/zfs-fuse" ] && [ ! -x "$ZFS_FUSE_ROOT/sbin/zfs-fuse" ]; then
  say "unpacking zfs-fuse into $ZFS_FUSE_ROOT"
  tmp=$(mktemp -d)
  ( cd "$tmp" && apt-get download -q zfs-fuse )
  mkdir -p "$ZFS_FUSE_ROOT"
  dpkg -x "$tmp"/zfs-fuse_*.deb "$ZFS_FUSE_ROOT"
  rm -rf "$tmp"
fi

# KZ_SETUP_ONLY=1: stop here (tools installed, no tests run).
if [ "${KZ_SETUP_ONLY:-0}" = 1 ]; then say "setup done (KZ_SETUP_ONLY=1)"; exit 0; fi

# 4. Rust toolchain and the tests.
if ! command -v cargo >/dev/null; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null; then
  # Debian 12's own cargo (Rust 1.65) is too old for edition 2024: use rustup.
  say "cargo not found: installing Rust stable with rustup (minimal profile)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || { echo "tests/run.sh: cargo not found; install Rust (https://rustup.rs)" >&2; exit 2; }

prof=()
[ "$KZ_PROFILE" = release ] && prof=(--release)
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  say "build directory: $CARGO_TARGET_DIR (CARGO_TARGET_DIR)"
else
  say "build directory: $PWD/target (CARGO_TARGET_DIR not set; under sudo pass it explicitly, see the header)"
fi
say "cargo test ${prof[*]} (CI=${CI:-})"
log=$(mktemp)
set +e
cargo test "${prof[@]}" --no-fail-fast -- --show-output 2>&1 | sanitize | tee "$log"
rc=${PIPESTATUS[0]}
set -e

echo
echo "== summary"
summary "$log"
rm -f "$log"
say "done, cargo test exit code $rc"
exit "$rc"
