#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running sgl-c: installs the
# dependencies, builds, then runs `sglc generate` (the arguments are passed on;
# with none it uses the embedded default model, stories260K).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
exec ./build/sglc generate "$@"
