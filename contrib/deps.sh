#!/bin/sh
# Install what checkpointfs needs to build and test, from Debian 12's archive.
set -eu
pkgs="meson ninja-build pkg-config gcc clang libc6-dev
	libfuse3-dev fuse3 libarchive-dev libprotobuf-c-dev protobuf-c-compiler
	libzstd-dev zstd libjson-c-dev zlib1g-dev
	python3 jq gdb elfutils yara binutils file"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $pkgs
