#!/bin/sh
# `make lambda`: the AWS Lambda deployment package, BUILD/vmpipe-lambda.zip.
# Owner: lambda.  Usage: scripts/package-lambda.sh [BUILD_DIR] [OUT.zip]
#
# Layout (ROOT = /var/task on Lambda, or wherever the zip is unpacked):
#   bootstrap                    static launcher (deploy/bootstrap.c)
#   bin/vmpipe                   the engine
#   lib/ld-linux-*.so.*          the dynamic loader of the build machine
#   lib/*.so.*                   every shared library the engine and the plugins
#                                need (ldd, i.e. the full closure), libc included
#   lib/vmpipe/plugins/*.so      the plugins (their default location, also for
#                                `./bootstrap check`)
#   etc/                         pipelines and templates (not etc/connect/)
#
# bootstrap runs lib/ld-linux… --library-path ROOT/lib bin/vmpipe lambda, so the
# package runs on Amazon Linux 2023 (provided.al2023) whatever glibc it has.
#
# transcribe-sphinx (PocketSphinx + its ~40 MB model) is left out: on Lambda,
# Amazon Transcribe does the speech.  VMPIPE_LAMBDA_SPHINX=1 puts it in, with
# the en-us model under share/pocketsphinx/model/en-us (set `model =` to
# ${LAMBDA_TASK_ROOT}/share/pocketsphinx/model/en-us in the pipeline).
set -eu
cd "$(dirname "$0")/.."
B=${1:-build}
OUT=${2:-$B/vmpipe-lambda.zip}
CC=${CC:-cc}
SPHINX=${VMPIPE_LAMBDA_SPHINX:-0}

die() { echo "package-lambda: $*" >&2; exit 1; }
[ -x "$B/vmpipe" ] || die "$B/vmpipe not built (run make first)"
command -v zip >/dev/null || die "zip is not installed (apt-get install zip)"

# Staged beside the zip it makes, so two packages built at once (the test
# suite's workers) never share a stage.
STAGE=${OUT%.zip}.pkg
rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/lib/vmpipe/plugins" "$STAGE/etc"

# The engine and the plugins, without debug sections.
install -m 755 "$B/vmpipe" "$STAGE/bin/vmpipe"
strip --strip-unneeded "$STAGE/bin/vmpipe"
for so in "$B"/plugins/*.so; do
	[ -e "$so" ] || continue
	name=$(basename "$so" .so)
	if [ "$name" = transcribe-sphinx ] && [ "$SPHINX" != 1 ]; then
		echo "  skip    $name (VMPIPE_LAMBDA_SPHINX=1 to include it)"
		continue
	fi
	install -m 644 "$so" "$STAGE/lib/vmpipe/plugins/"
	strip --strip-unneeded "$STAGE/lib/vmpipe/plugins/$name.so"
done

# Shared libraries: ldd lists the whole closure of each object.  Lines are
# "name => /path (addr)", the loader "/lib64/ld-linux-x86-64.so.2 (addr)",
# and the vDSO, which has no file.
LOADER=
for obj in "$STAGE/bin/vmpipe" "$STAGE"/lib/vmpipe/plugins/*.so; do
	[ -e "$obj" ] || continue
	out=$(ldd "$obj") || die "ldd $obj failed"
	if echo "$out" | grep -q 'not found'; then
		echo "$out" | grep 'not found' >&2
		die "$obj needs a library that is not installed"
	fi
	echo "$out" | while read -r a b c _; do
		case "$b" in
		'=>')
			if [ -n "$c" ] && [ -f "$c" ] && [ ! -e "$STAGE/lib/$a" ]; then
				cp -L "$c" "$STAGE/lib/$a"
			fi ;;
		*)
			case "$a" in
			/*ld-linux*) [ -e "$STAGE/lib/$(basename "$a")" ] || cp -L "$a" "$STAGE/lib/" ;;
			esac ;;
		esac
	done
done
LOADER=$(cd "$STAGE/lib" && ls ld-linux* 2>/dev/null | head -1)
[ -n "$LOADER" ] || die "no dynamic loader found in ldd's output"
chmod 755 "$STAGE/lib/$LOADER"

# The launcher, static so it needs nothing from the image.
if ! $CC -static -Os -s -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-DLOADER_NAME="\"$LOADER\"" -o "$STAGE/bootstrap" deploy/bootstrap.c 2>"$STAGE/cc.log"; then
	cat "$STAGE/cc.log" >&2
	die "cannot link deploy/bootstrap.c statically (is libc6-dev installed?)"
fi
rm -f "$STAGE/cc.log"
chmod 755 "$STAGE/bootstrap"

# Pipelines and templates.
for f in etc/*; do
	[ "$(basename "$f")" = connect ] && continue
	cp -R "$f" "$STAGE/etc/"
done
if [ "$SPHINX" = 1 ]; then
	m=/usr/share/pocketsphinx/model/en-us
	[ -d "$m" ] || die "$m not found"
	mkdir -p "$STAGE/share/pocketsphinx/model"
	cp -R "$m" "$STAGE/share/pocketsphinx/model/"
fi

rm -f "$OUT"
OUT_ABS=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
(cd "$STAGE" && zip -q -r -X "$OUT_ABS" .)
size=$(stat -c %s "$OUT")
unpacked=$(du -sb "$STAGE" | cut -f1)
nlib=$(ls "$STAGE/lib" | grep -c '\.so')
nplug=$(ls "$STAGE/lib/vmpipe/plugins" | grep -c '\.so$' || true)
awk -v o="$OUT" -v s="$size" -v u="$unpacked" -v l="$nlib" -v p="$nplug" 'BEGIN {
	printf "%s: %d bytes (%.1f MiB; %.1f MiB unpacked), %d libraries, %d plugins\n",
	       o, s, s / 1048576, u / 1048576, l, p }'
