#!/usr/bin/env bash
# Proves the SDK works out of tree: installs the SDK component of an x402 build into a temporary
# prefix, builds examples/plugin-round-robin against that prefix alone, and prints the path of
# the resulting routing-round-robin.so on stdout (everything else goes to stderr).
#
# Usage: tests/sdk/build_example_plugin.sh [BUILD_DIR] [WORK_DIR]
#   BUILD_DIR: a configured x402 build tree (default: build)
#   WORK_DIR:  where the prefix and the example build go (default: a fresh mktemp -d)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$repo/build}"
work="${2:-$(mktemp -d -t x402-sdk-XXXXXX)}"
prefix="$work/prefix"

cmake --install "$build" --component sdk --prefix "$prefix" >&2
cmake -S "$repo/examples/plugin-round-robin" -B "$work/example" -G Ninja \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >&2
cmake --build "$work/example" >&2

plugin="$work/example/routing-round-robin.so"
test -f "$plugin" || { echo "build_example_plugin: $plugin was not produced" >&2; exit 1; }
nm -D --defined-only "$plugin" | grep -q ' x402_plugin_entry$' \
  || { echo "build_example_plugin: $plugin does not export x402_plugin_entry" >&2; exit 1; }
echo "$plugin"
