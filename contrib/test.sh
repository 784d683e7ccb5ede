#!/bin/sh
# Build (warnings as errors) and run every test: unit, fuzz replay, lint,
# and the integration tests that really mount the fixtures.
set -eu
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
if [ -d "$build" ]; then
	meson configure "$build" -Dwerror=true
else
	meson setup "$build" -Dwerror=true
fi
ninja -C "$build"
meson test -C "$build" --print-errorlogs "$@"
