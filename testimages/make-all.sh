#!/bin/bash
# Rebuilds every fixture this directory's scripts make, then SHA256SUMS.
# Needs root and the packages of tests/run.sh (zfs-fuse unpacked at $ZFS_FUSE_ROOT).
# Note: each rebuild gives new guids and times; commit images and goldens together.
set -euo pipefail
cd "$(dirname "$0")"
bash make-fuse-v23.sh
bash make-fuse-raidz.sh
bash make-gptdisks.sh
bash make-ztest.sh
bash make-sums.sh
