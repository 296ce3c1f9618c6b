#!/bin/sh
# Install the Debian packages (and pinned npm test packages) vmpipe needs.
# Idempotent: quiet and fast when everything is present. Called by the Makefile.
set -eu

PKGS="build-essential pkg-config libcurl4-openssl-dev libssl-dev libinih-dev
libjansson-dev libexpat1-dev libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us
libcmocka-dev python3-pytest python3-botocore python3-aiosmtpd flite sox
valgrind clang libclang-rt-14-dev python3-boto3 curl zip unzip libgsm1-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
		|| missing="$missing $p"
done

if [ -n "$missing" ]; then
	echo "deps: installing:$missing" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

command -v npm >/dev/null || { echo "deps: npm not found (needed for tests: s3rver)" >&2; }

# npm test dependencies, pinned by tests/package-lock.json
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/tests/package.json" ] && [ ! -d "$here/tests/node_modules/s3rver" ]; then
	echo "deps: npm ci (tests/)" >&2
	(cd "$here/tests" && npm ci --silent --no-audit --no-fund >/dev/null)
fi
exit 0
