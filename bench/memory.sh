#!/bin/bash
# Memory benchmark (issue 3): checkpointfs against the floor, in one run.
#
# usage: bench/memory.sh [CKFS] [ARCHIVE] [TRUTH]
#   CKFS     the binary (default build/src/checkpointfs)
#   ARCHIVE  a plain tar of a CRIU dump with a big heap (default
#            /tmp/fixtures-large/criu-bigheap.tar, made by the shared
#            tools/make-fixtures.sh with FX_STEPS=criu-bigheap)
#   TRUTH    its truth file (default: ARCHIVE with .truth.json)
#
# Prints, side by side with the floor (the same bytes read straight from
# the extracted pages image with cat and grep): mount time, grep -c of the
# heap markers over vma/, sequential read throughput (page cache warm),
# time for gdb to load the core, and the daemon's peak RSS.  Not a test:
# nothing here asserts a time.
set -euo pipefail
export LC_ALL=C

ckfs=$(realpath "${1:-build/src/checkpointfs}")
archive=$(realpath "${2:-/tmp/fixtures-large/criu-bigheap.tar}")
truth=${3:-${archive%.tar}.truth.json}
work=$(mktemp -d)
mnt=$work/mnt
mkdir "$mnt" "$work/raw"
cleanup() {
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || :
	rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
mibs() { echo "scale=0; $1 / 1048576 / $2" | bc -l; }
row() { printf '%-34s %14s %14s %8s\n' "$@"; }

pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["root_pid"])' "$truth")
marker=CKPTFS-BIG-MARKER

# the floor's bytes: the pages image(s), extracted once (outside timing)
tar -xf "$archive" -C "$work/raw" --wildcards 'pages-*.img'
raw_bytes=$(cat "$work"/raw/pages-*.img | wc -c)

t0=$(now)
"$ckfs" "$archive" "$mnt"
t1=$(now)
mount_s=$(secs "$t0" "$t1")
dpid=$(pgrep -n -f "checkpointfs $archive") || dpid=

echo "archive: $archive ($(stat -c %s "$archive") bytes), pid $pid, pages: $raw_bytes bytes"
row "measure" "checkpointfs" "floor" "ratio"
row "mount (s)" "$(printf %.4f "$mount_s")" "-" "-"

vmas=("$mnt/proc/$pid/vma/"*)
if [ -e "${vmas[0]}" ]; then
	cat "${vmas[@]}" >/dev/null # warm both sides
	cat "$work"/raw/pages-*.img >/dev/null
	t0=$(now); g1=$(grep -ac "$marker" "${vmas[@]}" | awk -F: '{s += $NF} END {print s}'); t1=$(now)
	ck=$(secs "$t0" "$t1")
	t0=$(now); g2=$(grep -ac "$marker" "$work"/raw/pages-*.img | awk -F: '{s += $NF} END {print s}'); t1=$(now)
	fl=$(secs "$t0" "$t1")
	row "grep -c marker (s) [$g1 vs $g2 lines]" "$(printf %.3f "$ck")" "$(printf %.3f "$fl")" "$(ratio "$ck" "$fl")"
	vbytes=$(cat "${vmas[@]}" | wc -c)
	t0=$(now); cat "${vmas[@]}" >/dev/null; t1=$(now)
	ck=$(secs "$t0" "$t1")
	t0=$(now); cat "$work"/raw/pages-*.img >/dev/null; t1=$(now)
	fl=$(secs "$t0" "$t1")
	row "read warm (MiB/s)" "$(mibs "$vbytes" "$ck")" "$(mibs "$raw_bytes" "$fl")" \
		"$(ratio "$(mibs "$vbytes" "$ck")" "$(mibs "$raw_bytes" "$fl")")"
else
	row "vma/ files" "absent" "-" "-"
fi

# the cold path through FUSE: the pages member itself, first read
pm=$(cd "$mnt/archive" && ls pages-*.img | head -1)
t0=$(now); cat "$mnt/archive/$pm" >/dev/null; t1=$(now)
ck=$(secs "$t0" "$t1")
t0=$(now); cat "$work/raw/$pm" >/dev/null; t1=$(now)
fl=$(secs "$t0" "$t1")
sz=$(stat -c %s "$work/raw/$pm")
row "archive/$pm read (MiB/s)" "$(mibs "$sz" "$ck")" "$(mibs "$sz" "$fl")" \
	"$(ratio "$(mibs "$sz" "$ck")" "$(mibs "$sz" "$fl")")"

if [ -e "$mnt/proc/$pid/core" ] && command -v gdb >/dev/null; then
	t0=$(now)
	gdb -batch -nx -ex 'set auto-load off' -ex 'info threads' \
		-c "$mnt/proc/$pid/core" >/dev/null 2>&1 || :
	t1=$(now)
	row "gdb loads core (s)" "$(printf %.3f "$(secs "$t0" "$t1")")" "-" "-"
fi

if [ -n "$dpid" ]; then
	row "daemon peak RSS (MiB)" "$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$dpid/status")" "-" "-"
fi
