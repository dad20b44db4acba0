#!/bin/bash
# Rewrites testimages/SHA256SUMS: the sha256 of the raw (unpacked) bytes of
# every testimages/*.zst. tests/fixtures.rs checks them.
set -euo pipefail
cd "$(dirname "$0")"
# Only the fixtures these scripts make (other helpers keep their own checks).
for f in fuse-*.zst gptdisk-*.zst gptmirror-*.zst ztest-*.zst; do
  [ -e "$f" ] || continue
  printf '%s  %s\n' "$(zstd -dc "$f" | sha256sum | cut -d' ' -f1)" "${f%.zst}"
done | sort -k2 >SHA256SUMS
