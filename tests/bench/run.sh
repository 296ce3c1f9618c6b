#!/bin/sh
# `make bench`: see tests/bench/bench.py.
set -eu
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 tests/bench/bench.py "${1:-build}"
