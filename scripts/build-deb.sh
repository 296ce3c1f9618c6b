#!/bin/sh
# make deb: build the Debian package from a copy of the source tree (so the
# tree's build/ and build-san/ are never cleaned or written by
# dpkg-buildpackage), then run lintian on it.  The .deb goes to OUT.
#
#   scripts/build-deb.sh OUT
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
for tool in dpkg-buildpackage dh fakeroot; do
	command -v $tool >/dev/null || { echo "deb: $tool is missing: run \`make deps-test\` (dpkg-dev, debhelper, fakeroot)" >&2; exit 1; }
done
version=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
work=$(mktemp -d "${TMPDIR:-/tmp}/vmpipe-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src="$work/vmpipe-$version"
mkdir "$src"
# The tracked files and new ones not ignored (a work in progress builds too);
# without git, everything but builds, test modules and VCS data.
if git -C "$here" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$here" && git ls-files -z --cached --others --exclude-standard) |
		(cd "$here" && xargs -0 sh -c 'for f; do [ -e "$f" ] && [ ! -L "$f" -o -f "$f" ] && printf "%s\0" "$f"; done' sh) |
		(cd "$here" && tar --null -T - -cf -) | (cd "$src" && tar -xf -)
else
	(cd "$here" && tar --exclude=./build --exclude=./build-san --exclude=./tests/node_modules \
		--exclude=./.git -cf - .) | (cd "$src" && tar -xf -)
fi
log="$work/build.log"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b -j2 >"$log" 2>&1); then
	echo "deb: dpkg-buildpackage failed:" >&2
	tail -40 "$log" >&2
	exit 1
fi
deb=$(ls "$work"/vmpipe_*.deb)
mv "$deb" "$out/"
deb="$out/$(basename "$deb")"
echo "deb: $deb"
if command -v lintian >/dev/null; then
	# Tags we keep are explained in debian/vmpipe.lintian-overrides.  Its
	# temporary files (it leaves some) go with $work.
	TMPDIR="$work" lintian --fail-on error,warning,info --info "$deb" || {
		echo "deb: lintian found problems (above)" >&2
		exit 1
	}
fi
