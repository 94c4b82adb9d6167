#!/usr/bin/env bash
# Configures and builds jetcryptfs with CMake: into build/ normally, into
# build-asan/ with AddressSanitizer + UndefinedBehaviorSanitizer when
# JCFS_SANITIZE=1 (or --asan). BUILD_DIR overrides the directory. Prints the
# build directory on its last line so other scripts can pick it up.
set -euo pipefail

cd "$(dirname "$0")/.."

sanitize=${JCFS_SANITIZE:-0}
for arg in "$@"; do
	case "$arg" in
	--asan|--sanitize) sanitize=1 ;;
	-h|--help) echo "usage: scripts/build.sh [--asan]"; exit 0 ;;
	*) echo "build: unknown argument $arg" >&2; exit 2 ;;
	esac
done

if [ "$sanitize" = 1 ]; then
	dir=${BUILD_DIR:-build-asan}
	opts=(-DJCFS_SANITIZE=ON)
else
	dir=${BUILD_DIR:-build}
	opts=(-DJCFS_SANITIZE=OFF)
fi

cmake -B "$dir" -S . "${opts[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
echo "$dir"
