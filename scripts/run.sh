#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running sgl-c: installs the
# dependencies, builds, then starts the OpenAI-compatible server
# (`sglc serve`, on http://127.0.0.1:30000). Arguments are passed to it; with
# none it serves the embedded default model, stories260K.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
exec ./build/sglc serve "$@"
