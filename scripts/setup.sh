#!/usr/bin/env bash
# Installs what sgl-c needs to build, run and test on Debian 12 (idempotent):
# apt packages (toolchain, libraries, PyTorch/NumPy/Jinja2 for reference checks,
# Node.js for the test clients) and the pinned npm test clients in tests/js.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

pkgs=(build-essential cmake ninja-build pkg-config clang
      libcjson-dev libutf8proc-dev libpcre2-dev libmicrohttpd-dev
      python3 python3-numpy python3-torch python3-jinja2 curl ca-certificates)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f tests/js/package.json ]; then
  if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
    echo "setup: installing the npm test clients (tests/js)"
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
