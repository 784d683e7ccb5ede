#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Plain vs gzip vs zstd: one checkpoint (the Podman fixture with SIZE_MIB,
# default 512, MiB of deterministic memory-like data appended to its
# pages-1.img), exported three ways, mounted three times.  Printed side by
# side: time to the first byte of proc/1/cmdline and to the first `ls` of
# the mount (both from the daemon's start), time to read the big
# member in full through the mount against the decompressor alone
# (`zstd -dc` / `gzip -dc` to /dev/null: the floor), and the daemon's peak
# RSS (VmHWM).  Not a test: it needs root or a usable fusermount3, and
# takes a minute or two.
#
# usage: bench/compressed.sh [BUILD_DIR]   (env: SIZE_MIB, LAYOUT=sorted|end)
#   LAYOUT=sorted (default): members sorted by name, as Podman writes them,
#     so pages-1.img comes before pstree.img and the mount waits for it;
#   LAYOUT=end: pages-1.img moved last, so the mount need not wait.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
ckfs=$build/src/checkpointfs
size_mib=${SIZE_MIB:-512}
layout=${LAYOUT:-sorted}
[ -x "$ckfs" ] || { echo "no $ckfs: build first (meson setup build && ninja -C build)" >&2; exit 1; }
for t in zstd gzip fusermount3 python3; do
	command -v $t >/dev/null || { echo "$t is needed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ckfs-bench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
	fusermount3 -uz "$mnt" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

echo "making the archives (${size_mib} MiB extra in checkpoint/pages-1.img, layout $layout) ..." >&2
python3 - "$here" "$work/ckpt.tar" "$size_mib" "$layout" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import lib_bigtar
lib_bigtar.make_tar(sys.argv[1] + "/tests/fixtures/podman-counter.none.tar",
                    sys.argv[2], int(sys.argv[3]) << 20, where=sys.argv[4])
EOF
# the engines' defaults: zstd level 3 (one frame), gzip level 6
zstd -q -3 -T0 "$work/ckpt.tar" -o "$work/ckpt.tar.zst"
gzip -6 -c "$work/ckpt.tar" > "$work/ckpt.tar.gz"
tar_bytes=$(stat -c %s "$work/ckpt.tar")
big=archive/checkpoint/pages-1.img

declare -A R
run() { # kind archive floor-command
	local kind=$1 archive=$2 t0 pid hwm
	sync
	t0=$(now)
	"$ckfs" -f "$archive" "$mnt" 2>"$work/$kind.err" &
	pid=$!
	until mountpoint -q "$mnt"; do
		kill -0 $pid 2>/dev/null || { cat "$work/$kind.err" >&2; exit 1; }
		sleep 0.005
	done
	# a path first (needs only the images read at open), then the root
	# (`ls` renders metadata.json, whose sizes need the whole index)
	head -c1 "$mnt/proc/1/cmdline" >/dev/null
	R[$kind,cmdline]=$(since "$t0")
	ls "$mnt" >/dev/null
	R[$kind,ls]=$(since "$t0")
	cat "$mnt/$big" >/dev/null
	R[$kind,read]=$(since "$t0")
	hwm=$(awk '/VmHWM/ { print $2 }' /proc/$pid/status)
	R[$kind,rss]=$((hwm / 1024))
	fusermount3 -u "$mnt"
	wait $pid
	R[$kind,size]=$(stat -c %s "$archive")
	if [ -n "${3:-}" ]; then
		t0=$(now)
		$3 "$archive" >/dev/null
		R[$kind,floor]=$(since "$t0")
	else
		R[$kind,floor]=-
	fi
}

# warm the page cache the same way for all three
cat "$work"/ckpt.tar* >/dev/null
run plain "$work/ckpt.tar" ""
run gzip "$work/ckpt.tar.gz" "gzip -dc"
run zstd "$work/ckpt.tar.zst" "zstd -dc"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == 0) print "-"; else printf "%.2fx", a / b }'; }
mib() { awk -v a="$1" 'BEGIN { printf "%.0f MiB", a / 1048576 }'; }

printf '\ncheckpoint: %s tar (%s MiB extra in pages-1.img, layout %s), %s CPUs\n\n' \
	"$(mib "$tar_bytes")" "$size_mib" "$layout" "$(nproc)"
printf '%-34s %14s %14s %14s\n' "" plain gzip zstd
printf '%-34s %14s %14s %14s\n' "archive size" "$(mib ${R[plain,size]})" \
	"$(mib ${R[gzip,size]})" "$(mib ${R[zstd,size]})"
printf '%-34s %14s %14s %14s\n' "compression ratio" "1.00x" \
	"$(ratio "$tar_bytes" "${R[gzip,size]}")" "$(ratio "$tar_bytes" "${R[zstd,size]}")"
for row in "cmdline:first byte of proc/1/cmdline (s)" "ls:first ls of the mount (s)" \
	"read:big member read in full (s)" "floor:decompressor alone, -dc (s)"; do
	printf '%-34s %14s %14s %14s\n' "${row#*:}" "${R[plain,${row%%:*}]}" \
		"${R[gzip,${row%%:*}]}" "${R[zstd,${row%%:*}]}"
done
printf '%-34s %14s %14s %14s\n' "full read vs the floor (floor/read)" "-" \
	"$(ratio "${R[gzip,floor]}" "${R[gzip,read]}")" "$(ratio "${R[zstd,floor]}" "${R[zstd,read]}")"
printf '%-34s %14s %14s %14s\n' "daemon peak RSS (VmHWM, MiB)" "${R[plain,rss]}" \
	"${R[gzip,rss]}" "${R[zstd,rss]}"
