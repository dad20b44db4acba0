# Shared pieces of the benchmarks in bench/, sourced (not run):
#   . "$(dirname "$0")/lib.sh"
# Each function says what it sets; none of them exits the calling script.

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# tgtd_start LOGDIR: starts a private tgtd (its own control port, an
# iSCSI portal on a free port of 127.0.0.1) in the foreground of a
# background job and waits until it answers. Sets PORT (the portal), CTL
# (tgtadm's -C) and TGTD (its pid). Stop it with tgtd_stop.
tgtd_start() {
  PORT=$(free_port)
  CTL=$((1000 + PORT % 31000))
  tgtd -f -C "$CTL" --iscsi "portal=127.0.0.1:$PORT" >"$1/tgtd.log" 2>&1 &
  TGTD=$!
  for _ in $(seq 100); do tgtadm -C "$CTL" --op show --mode system >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "tgtd on 127.0.0.1:$PORT did not answer (see $1/tgtd.log)" >&2
  return 1
}

# tgt_adm ARGS…: tgtadm for the iSCSI driver of the tgtd tgtd_start started.
tgt_adm() { tgtadm -C "$CTL" --lld iscsi "$@"; }

# tgtd_stop: removes target 1 and stops the tgtd of tgtd_start (by its pid;
# SIGKILL after 5 s). Safe to call twice, or when tgtd_start was not.
tgtd_stop() {
  [ -n "${TGTD:-}" ] || return 0
  kill -CONT "$TGTD" 2>/dev/null || true
  tgtadm -C "$CTL" --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
  tgtadm -C "$CTL" --op delete --mode system >/dev/null 2>&1 || true
  for _ in $(seq 50); do kill -0 "$TGTD" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$TGTD" 2>/dev/null || true
  wait "$TGTD" 2>/dev/null || true
  TGTD=""
}

# zfsfuse_start LOGDIR: uses the zfs-fuse daemon already running, or starts
# one from $ROOT/sbin (ROOT: zfs-fuse unpacked, e.g. /opt/zfs-fuse) and waits
# until `zpool list` answers. Sets ZPOOL, ZFS and ZFSFUSE (the pid of the
# daemon started here, empty when one was running). Stop with zfsfuse_stop.
zfsfuse_start() {
  ZPOOL="$ROOT/sbin/zpool"; ZFS="$ROOT/sbin/zfs"
  [ -x "$ZPOOL" ] || { echo "zfs-fuse not found in $ROOT (set ZFS_FUSE_ROOT)" >&2; return 2; }
  ZFSFUSE=""
  "$ZPOOL" list >/dev/null 2>&1 && return 0
  "$ROOT/sbin/zfs-fuse" --no-daemon --pidfile "$1/zfs-fuse.pid" >"$1/zfs-fuse.log" 2>&1 &
  ZFSFUSE=$!
  for _ in $(seq 50); do "$ZPOOL" list >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "zfs-fuse did not answer (see $1/zfs-fuse.log)" >&2
  return 1
}

# zfsfuse_stop: stops the daemon zfsfuse_start started (none otherwise).
zfsfuse_stop() {
  if [ -n "${ZFSFUSE:-}" ]; then
    kill "$ZFSFUSE" 2>/dev/null || true
    wait "$ZFSFUSE" 2>/dev/null || true
    ZFSFUSE=""
  fi
}

# bench_fill DIR SIZE_MB: writes about SIZE_MB MiB into DIR as files of
# 64 MiB, 8 MiB, 1 MiB, 128 KiB and 4 KiB in turn, over 37 directories;
# every other file is random (incompressible), the rest repeat a short text.
bench_fill() {
  python3 - "$1" "$2" <<'PY'
import os, sys
root, total = sys.argv[1], int(sys.argv[2]) << 20
rnd = open('/dev/urandom', 'rb')
written, i = 0, 0
sizes = [64 << 20, 8 << 20, 1 << 20, 128 << 10, 4 << 10]
while written < total:
    sz = sizes[i % len(sizes)]
    d = os.path.join(root, f"d{i % 37}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}"), 'wb') as f:
        left = sz
        while left:
            n = min(left, 1 << 20)
            f.write(rnd.read(n) if i % 2 else (b"kzrescue bench %d " % i) * (n // 20) + b"x" * (n % 20 if n >= 20 else n))
            left -= n
    written += sz; i += 1
PY
}
