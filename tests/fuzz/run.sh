#!/bin/sh
# Run every fuzz target (build/fuzz/fuzz_NAME, from tests/fuzz/fuzz_NAME.c) for
# FUZZ_SECONDS each (default 10: the smoke `make check` runs; `make fuzz`
# passes its own, 60 by default), one after the other, and print the
# executions of each.  FUZZ_TARGETS="mail wav" runs only those.
#
# A target starts from its committed seeds (tests/fuzz/corpus/NAME/, never
# written) and its working corpus build/fuzz/NAME.corpus/ (kept between runs);
# a crash, leak, UB report, timeout or violated property leaves the input in
# build/fuzz/NAME.crashes/ and the log in build/fuzz/NAME.log.  Nothing goes
# to /tmp.  Exit status 1 when any target failed.
set -eu
cd "$(dirname "$0")/../.."
out=build/fuzz
secs=${FUZZ_SECONDS:-10}
case $secs in '' | 0 | *[!0-9]*) echo "fuzz: FUZZ_SECONDS must be a whole number of seconds, at least 1" >&2; exit 2 ;; esac

if [ -z "${FUZZ_NO_BUILD:-}" ]; then
	# Not a recursive make of the caller's: its jobserver is not ours.
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -j2 fuzz-build
fi

names=${FUZZ_TARGETS:-$(for f in tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); printf '%s ' "${n#fuzz_}"; done)}
# Scratch files a target needs (fuzz_config's pipeline file) live here.
VMPIPE_FUZZ_TMP="$PWD/$out/tmp"
export VMPIPE_FUZZ_TMP
mkdir -p "$VMPIPE_FUZZ_TMP"

failed=""
for name in $names; do
	bin=$out/fuzz_$name
	seeds=tests/fuzz/corpus/$name
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "fuzz: $name: no $bin or no seeds in $seeds" >&2
		failed="$failed $name"
		continue
	fi
	mkdir -p "$out/$name.corpus" "$out/$name.crashes"
	set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix="$out/$name.crashes/"
	[ -f "tests/fuzz/$name.dict" ] && set -- "$@" -dict="tests/fuzz/$name.dict"
	log=$out/$name.log
	if "$bin" "$@" "$out/$name.corpus" "$seeds" >"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		corpus=$(ls "$out/$name.corpus" | wc -l)
		printf 'fuzz: %-11s %10s executions in %ss (%s/s), %s inputs in the working corpus\n' \
			"$name" "${execs:-?}" "$secs" "$(( ${execs:-0} / (secs > 0 ? secs : 1) ))" "$corpus"
	else
		echo "fuzz: $name FAILED (log: $log, input: $out/$name.crashes/)"
		grep -E 'ERROR|SUMMARY|property|runtime error|Test unit written' "$log" | head -20
		failed="$failed $name"
	fi
done
rmdir "$VMPIPE_FUZZ_TMP" 2>/dev/null || true
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed"
	exit 1
fi
echo "fuzz: ok"
