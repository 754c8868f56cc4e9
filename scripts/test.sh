#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite:
# installs the dependencies, builds (Release, -Werror) and runs every CTest
# test, then builds with AddressSanitizer + UndefinedBehaviorSanitizer (clang)
# and runs the unit, fuzz-replay and CLI tests again under the sanitizers.
# Prints ctest's summaries; exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
scripts/setup.sh

status=0
echo "== Release build (gcc, -Werror) =="
scripts/build.sh build
(cd build && ctest --output-on-failure -j "$jobs" --timeout 900) || status=1

echo "== Sanitizer build (clang, ASan + UBSan, -Werror) =="
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DSGLC_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j "$jobs" --timeout 900 -L 'unit|fuzz|cli|tokenizer|chat_template|e2e') || status=1

if [ "$status" = 0 ]; then echo "ALL TESTS PASSED"; else echo "SOME TESTS FAILED"; fi
exit "$status"
