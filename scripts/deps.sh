#!/bin/sh
# Install the Debian packages (and pinned npm test packages) vmpipe needs.
# Idempotent: quiet and fast when everything is present. Called by the Makefile.
#
#   scripts/deps.sh          what building and `make run` need
#   scripts/deps.sh --test   that, and what the tests and benchmarks need
#                            (`make check`, `make bench`)
set -eu

BUILD_PKGS="build-essential pkg-config libcurl4-openssl-dev libssl-dev libinih-dev
libjansson-dev libexpat1-dev libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us
libgsm1-dev libmp3lame-dev libmicrohttpd-dev python3 lowdown"
TEST_PKGS="libcmocka-dev python3-pytest python3-botocore python3-aiosmtpd flite sox
valgrind clang libclang-rt-14-dev python3-boto3 curl zip unzip python3-yaml lame libsox-fmt-mp3
postfix chromium python3-websocket python3-pytest-xdist debhelper lintian fakeroot dpkg-dev"

PKGS=$BUILD_PKGS
[ "${1:-}" = "--test" ] && PKGS="$BUILD_PKGS $TEST_PKGS"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
		|| missing="$missing $p"
done
# node and npm for s3rver: Debian's nodejs and npm packages, unless the
# commands are there already (a NodeSource nodejs carries its own npm, and
# Debian's npm would conflict with it).  Debian's nodejs alone has no npm.
if [ "${1:-}" = "--test" ]; then
	command -v node >/dev/null || missing="$missing nodejs"
	command -v npm >/dev/null || missing="$missing npm"
fi

if [ -n "$missing" ]; then
	echo "deps: installing:$missing" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

[ "${1:-}" = "--test" ] || exit 0

# npm test dependencies, pinned by tests/package-lock.json
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/tests/package.json" ] && [ ! -d "$here/tests/node_modules/s3rver" ]; then
	# Debian's npm package (in TEST_PKGS above): node alone does not bring it.
	command -v npm >/dev/null || { echo "deps: npm not found (the tests need it for s3rver)" >&2; exit 1; }
	echo "deps: npm ci (tests/)" >&2
	log=$(mktemp)
	if ! (cd "$here/tests" && npm ci --no-audit --no-fund >"$log" 2>&1); then
		echo "deps: npm ci failed in tests/:" >&2
		tail -20 "$log" >&2
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
fi
exit 0
