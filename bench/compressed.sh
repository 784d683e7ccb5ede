#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Plain vs gzip vs zstd vs multi-frame zstd: one checkpoint exported four
# ways, each mounted fresh, with every figure printed next to its floor (the
# decompressor alone on the same bytes) and the ratio floor / checkpointfs
# (1.00x: as fast as the floor allows; higher is better).
#
# The checkpoint (ARCHIVE, a plain tar) is by default the Podman fixture
# with SIZE_MIB (default 512) MiB of deterministic memory-like data
# appended to its pages-1.img (see tests/integration/lib_bigtar.py).  With
# ARCHIVE=/tmp/fixtures-large/criu-bigheap.tar (a real CRIU dump of a
# 512 MiB heap, made by the shared tools/make-fixtures.sh, step
# criu-bigheap) the `vma/` row reads the whole heap.
#
# Measured, each from the daemon's start on a fresh mount:
#   - first byte of proc/*/cmdline, against the decompressor alone's
#     time for the share of the archive up to the end of pstree.img (the
#     mount needs the process tree; a Podman export stores pstree.img
#     after pages-*.img, so that is nearly all of it);
#   - `ls -l` of the mount's top (its sizes need the whole index), against
#     the decompressor alone over the whole archive;
#   - every proc/*/vma/* file read in full, and the biggest member read in
#     full (a second mount), against the decompressor alone;
#   - the daemon's peak RSS (VmHWM).
# and, when checkpointctl is on PATH, `checkpointctl show` and
# `checkpointctl memparse --search` on the same archives next to the
# mount's equivalents.  Not a test: it asserts nothing, needs root or a
# usable fusermount3, and takes a minute or two.
#
# usage: bench/compressed.sh [BUILD_DIR]
#   env: ARCHIVE=plain.tar, SIZE_MIB=512, LAYOUT=sorted|end (the synthetic
#   archive's member order: sorted as Podman writes it, or pages-1.img
#   last), FRAME_KIB=1024 (the multi-frame export's frame size)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
ckfs=$build/src/checkpointfs
size_mib=${SIZE_MIB:-512}
layout=${LAYOUT:-sorted}
frame_kib=${FRAME_KIB:-1024}
[ -x "$ckfs" ] || { echo "no $ckfs: build first (meson setup build && ninja -C build)" >&2; exit 1; }
for t in zstd gzip fusermount3 python3 split pgrep; do
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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2fx", a / b }'; }
mib() { awk -v a="$1" 'BEGIN { printf "%.0f MiB", a / 1048576 }'; }
secs() { # command...: wall seconds
	local t0
	t0=$(now)
	"$@" >/dev/null || return 1
	since "$t0"
}

tar=$work/ckpt.tar
if [ -n "${ARCHIVE:-}" ]; then
	echo "copying $ARCHIVE ..." >&2
	cp "$ARCHIVE" "$tar"
	what="$(basename "$ARCHIVE")"
else
	echo "making the archive (${size_mib} MiB extra in checkpoint/pages-1.img, layout $layout) ..." >&2
	python3 - "$here" "$tar" "$size_mib" "$layout" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import lib_bigtar
lib_bigtar.make_tar(sys.argv[1] + "/tests/fixtures/podman-counter.none.tar",
                    sys.argv[2], int(sys.argv[3]) << 20, where=sys.argv[4])
EOF
	what="Podman fixture + ${size_mib} MiB in pages-1.img, layout $layout"
fi

# where the process tree ends, and the biggest member
read -r pstree_end big < <(python3 - "$tar" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:") as t:
    ms = t.getmembers()
ps = [m for m in ms if m.name.lstrip("./").endswith("pstree.img")][-1]
big = max((m for m in ms if m.isfile()), key=lambda m: m.size)
print(ps.offset_data + ps.size, big.name.lstrip("./"))
EOF
)

echo "compressing (zstd -3 one frame, gzip -6, zstd -3 in ${frame_kib} KiB frames) ..." >&2
zstd -q -3 -T0 "$tar" -o "$tar.zst"
gzip -6 -c "$tar" > "$tar.gz"
split -b "${frame_kib}K" -d -a 6 "$tar" "$work/chunk."
zstd -q -3 --rm "$work"/chunk.[0-9]*
cat "$work"/chunk.*.zst > "$tar.frames.zst"
rm -f "$work"/chunk.*.zst
tar_bytes=$(stat -c %s "$tar")

declare -A R
mount_it() { # archive: mounts (the command returns once mounted), sets pid and t0
	sync
	t0=$(now)
	# daemonized, as users run it: a polling loop here would take a CPU
	# from the decoder on a small machine
	"$ckfs" "$1" "$mnt" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	pid=$(pgrep -n -f "^$ckfs $1 $mnt\$")
}
umount_it() {
	local hwm
	hwm=$(awk '/VmHWM/ { print $2 }' /proc/$pid/status)
	fusermount3 -u "$mnt"
	while kill -0 $pid 2>/dev/null; do sleep 0.01; done
	echo $((hwm / 1024))
}
read_vmas() { find "$mnt/proc/" -path '*/vma/*' -type f -exec cat {} + >/dev/null; }
vma_bytes() { find "$mnt/proc/" -path '*/vma/*' -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

run() { # kind archive floor-command
	local kind=$1 archive=$2 floor=$3 a b
	mount_it "$archive"
	head -qc1 "$mnt"/proc/[0-9]*/cmdline >/dev/null
	R[$kind,cmdline]=$(since "$t0")
	ls -l "$mnt" >/dev/null
	R[$kind,ls]=$(since "$t0")
	read_vmas
	R[$kind,vma]=$(since "$t0")
	R[vma_bytes]=$(vma_bytes)
	a=$(umount_it)
	mount_it "$archive"
	cat "$mnt/archive/$big" >/dev/null
	R[$kind,big]=$(since "$t0")
	b=$(umount_it)
	R[$kind,rss]=$((a > b ? a : b))
	R[$kind,size]=$(stat -c %s "$archive")
	if [ -n "$floor" ]; then
		R[$kind,floor]=$(secs $floor "$archive")
		# its share up to pstree.img (a pipe into head would cost more
		# than the decoder itself on incompressible data)
		R[$kind,floor_ps]=$(awk -v f="${R[$kind,floor]}" -v a="$pstree_end" \
			-v b="$tar_bytes" 'BEGIN { printf "%.3f", f * a / b }')
	else
		R[$kind,floor_ps]=-
		R[$kind,floor]=-
	fi
}

# warm the page cache the same way for all of them
cat "$tar" "$tar".* >/dev/null
run plain "$tar" ""
run gzip "$tar.gz" "gzip -dc"
run zstd "$tar.zst" "zstd -dc"
run frames "$tar.frames.zst" "zstd -dc"

row() { printf '%-44s %12s %12s %12s %12s\n' "$@"; }
rowk() { # label key
	row "$1" "${R[plain,$2]}" "${R[gzip,$2]}" "${R[zstd,$2]}" "${R[frames,$2]}"
}
rowr() { # label floor-key ours-key
	row "$1" "$(ratio "${R[plain,$2]}" "${R[plain,$3]}")" \
		"$(ratio "${R[gzip,$2]}" "${R[gzip,$3]}")" \
		"$(ratio "${R[zstd,$2]}" "${R[zstd,$3]}")" \
		"$(ratio "${R[frames,$2]}" "${R[frames,$3]}")"
}

printf '\ncheckpoint: %s tar (%s), %s CPUs\n' "$(mib "$tar_bytes")" "$what" "$(nproc)"
printf 'vma/ files: %s in all; biggest member: %s\n\n' "$(mib "${R[vma_bytes]}")" "$big"
row "" plain gzip zstd "zstd frames"
row "archive size" "$(mib ${R[plain,size]})" "$(mib ${R[gzip,size]})" \
	"$(mib ${R[zstd,size]})" "$(mib ${R[frames,size]})"
row "compression ratio" "1.00x" "$(ratio "$tar_bytes" "${R[gzip,size]}")" \
	"$(ratio "$tar_bytes" "${R[zstd,size]}")" "$(ratio "$tar_bytes" "${R[frames,size]}")"
rowk "first byte of proc/*/cmdline (s)" cmdline
rowk "  floor: -dc, its share up to pstree.img (s)" floor_ps
rowr "  floor / checkpointfs" floor_ps cmdline
rowk "first ls -l of the mount (s)" ls
rowk "every vma/ file read in full (s)" vma
rowk "biggest member read in full (s)" big
rowk "  floor: -dc of the whole archive (s)" floor
rowr "  floor / checkpointfs, vma/ files" floor vma
rowr "  floor / checkpointfs, biggest member" floor big
rowk "daemon peak RSS (VmHWM, MiB)" rss

if command -v checkpointctl >/dev/null; then
	printf '\ncheckpointctl on PATH: the same questions, answered by both (s)\n\n'
	row "" plain gzip zstd "zstd frames"
	for kind in plain gzip zstd frames; do
		case $kind in
		plain) a=$tar ;; gzip) a=$tar.gz ;; zstd) a=$tar.zst ;; frames) a=$tar.frames.zst ;;
		esac
		R[$kind,cc_show]=$(secs checkpointctl show "$a" || echo -)
		R[$kind,cc_mem]=$(secs checkpointctl memparse --search=CKPTFS "$a" || echo -)
		mount_it "$a"
		cat "$mnt/info" "$mnt/metadata.json" >/dev/null
		R[$kind,ck_show]=$(since "$t0")
		grep -ac CKPTFS "$mnt"/proc/*/vma/* >/dev/null || true
		R[$kind,ck_mem]=$(since "$t0")
		umount_it >/dev/null
	done
	rowk "checkpointctl show" cc_show
	rowk "mount + cat info metadata.json" ck_show
	rowk "checkpointctl memparse --search" cc_mem
	rowk "mount + grep -ac over vma/" ck_mem
fi
