#!/bin/sh
# Install the dependencies, build checkpointfs, and mount the bundled sample
# checkpoint (a Podman export of a shell loop counting seconds) on
# ./sample-mnt, then show what a user sees there.
set -eu
cd "$(dirname "$0")/.."
sh contrib/deps.sh
[ -d build ] || meson setup build
ninja -C build
mkdir -p sample-mnt
if mountpoint -q sample-mnt; then
	fusermount3 -u sample-mnt
fi
./build/src/checkpointfs tests/fixtures/podman-counter.none.tar sample-mnt
echo "== mounted tests/fixtures/podman-counter.none.tar on ./sample-mnt"
ls -l sample-mnt sample-mnt/proc
for p in sample-mnt/proc/*; do
	printf '%s: %s\n' "${p##*/}" "$(tr '\0' ' ' <"$p/cmdline")"
done
echo "== unmount with: fusermount3 -u sample-mnt"
