#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Layering check: data flows one way, base -> archive -> image -> model ->
# vfs -> fuse -> main, so a file in src/<layer>/ may include headers of its
# own layer and of lower layers only.  Also: the generated protobuf headers
# (*.pb-c.h) stay inside image/, and a private header (*_i.h) inside the
# layer that owns it.  Prints every offending include as FILE:LINE: ...
# usage: check-layering.sh [SRC_DIR]   (default: src next to this script)
set -eu
src=${1:-$(dirname "$0")/../src}
[ -d "$src" ] || { echo "check-layering: no $src" >&2; exit 2; }

rank() {
	case $1 in
	base) echo 0 ;; archive) echo 1 ;; image) echo 2 ;; model) echo 3 ;;
	vfs) echo 4 ;; fuse) echo 5 ;; main) echo 6 ;; *) echo -1 ;;
	esac
}

bad=0
checked=0
for f in "$src"/*.c "$src"/*.h "$src"/*/*.c "$src"/*/*.h; do
	[ -f "$f" ] || continue
	rel=${f#"$src"/}
	case $rel in
	*/*) layer=${rel%%/*} ;;
	*) layer=main ;;
	esac
	own=$(rank "$layer")
	if [ "$own" -lt 0 ]; then
		echo "$rel: src/$layer/ is not a known layer" \
			"(base archive image model vfs fuse main)"
		bad=$((bad + 1))
		continue
	fi
	checked=$((checked + 1))
	# "#include "dir/name.h"" lines, with their line numbers
	out=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
		while IFS= read -r line; do
			num=${line%%:*}
			inc=$(printf '%s\n' "$line" | sed 's/^[^"]*"\([^"]*\)".*/\1/')
			case $inc in
			*.pb-c.h)
				[ "$layer" = image ] ||
					echo "$rel:$num: includes $inc: protobuf types stay in image/"
				continue ;;
			esac
			case $inc in
			*/*) ilayer=${inc%%/*} ;;
			*) continue ;; # same directory
			esac
			irank=$(rank "$ilayer")
			[ "$irank" -ge 0 ] || continue # not a layer (e.g. a system header)
			if [ "$irank" -gt "$own" ]; then
				echo "$rel:$num: includes $inc: $layer must not depend on $ilayer (order: base archive image model vfs fuse main)"
			elif [ "$ilayer" != "$layer" ]; then
				case ${inc##*/} in
				*_i.h)
					echo "$rel:$num: includes $inc: a private header of $ilayer/" ;;
				esac
			fi
		done)
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		bad=$((bad + $(printf '%s\n' "$out" | wc -l)))
	fi
done
if [ "$checked" -eq 0 ]; then
	echo "check-layering: no sources under $src" >&2
	exit 2
fi
if [ "$bad" -ne 0 ]; then
	echo "check-layering: $bad offending include(s) in $checked files"
	exit 1
fi
echo "check-layering: $checked files, layering respected"
