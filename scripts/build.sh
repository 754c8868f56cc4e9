#!/usr/bin/env bash
# Configures and builds sgl-c. Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# Default: ./build, Release, warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"
shift || true
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSGLC_WERROR=ON "$@" >/dev/null
ninja -C "$dir"
