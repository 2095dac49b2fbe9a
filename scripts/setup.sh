#!/usr/bin/env bash
# Installs every Debian package the project needs to build and test.
# Idempotent: packages already present are skipped, so a second run costs a few seconds.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libyaml-cpp-dev libssl-dev libsqlite3-dev libsecp256k1-dev libluajit-5.1-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format clang-tidy sqlite3
  libpqxx-dev libpq-dev libhiredis-dev
  postgresql-15 redis-server
  wrk nginx-light gnuplot-nox
)
# Node.js runs the official x402 clients and the JWT checker in tests; keep a newer one if present.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
