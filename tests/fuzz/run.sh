#!/bin/sh
# Run every fuzz target (build/fuzz/fuzz_NAME, from tests/fuzz/fuzz_NAME.c) for
# FUZZ_SECONDS each (`make fuzz`, 60 by default), FUZZ_JOBS at once (one per
# core), and print the executions of each.  FUZZ_TARGETS="mail wav" runs only those.
#
# FUZZ_SMOKE=RUNS is the smoke `make check` runs: RUNS inputs per target with
# a fixed seed from the committed seeds only (a scratch corpus, removed), no
# comparison operands learnt (they hold addresses), no timed corpus reloads,
# no address space randomisation and a clock that stands still (steady.c), so the same tree passes or fails the same way every time;
# exploring is `make fuzz`'s job, and what it finds is committed to the seeds.
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

# Targets run side by side, FUZZ_JOBS at a time (default: one per core): each
# has its own corpus, crashes folder and log, and says what it found when it ends.
fuzz_one() { # NAME; exit status 1 when it failed
	name=$1
	bin=$out/fuzz_$name
	seeds=tests/fuzz/corpus/$name
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "fuzz: $name: no $bin or no seeds in $seeds" >&2
		return 1
	fi
	mkdir -p "$out/$name.crashes"
	if [ -n "${FUZZ_SMOKE:-}" ]; then
		corpus_dir=$out/$name.smoke
		rm -rf "$corpus_dir"
		# -use_cmp=0: the operands of comparisons libFuzzer learns from
		# include addresses (a pointer compared with an end), which ASLR
		# and the allocator change from run to run; -reload=0: the corpus
		# is read again every second, a schedule of the wall clock.  With
		# either the same seed explored differently each time (steady.c
		# fixes what the engine itself took from the clock).
		set -- -runs="$FUZZ_SMOKE" -seed=1 -use_cmp=0 -reload=0
	else
		corpus_dir=$out/$name.corpus
		set -- -max_total_time="$secs"
	fi
	mkdir -p "$corpus_dir"
	set -- "$@" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$out/$name.crashes/"
	[ -f "tests/fuzz/$name.dict" ] && set -- "$@" -dict="tests/fuzz/$name.dict"
	log=$out/$name.log
	if $norandom "$bin" "$@" "$corpus_dir" "$seeds" >"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		corpus=$(ls "$corpus_dir" | wc -l)
		if [ -n "${FUZZ_SMOKE:-}" ]; then
			rm -rf "$corpus_dir"
			printf 'fuzz: %-11s %10s executions (seed 1), no failure\n' "$name" "${execs:-?}"
		else
			printf 'fuzz: %-11s %10s executions in %ss (%s/s), %s inputs in the working corpus\n' \
				"$name" "${execs:-?}" "$secs" "$(( ${execs:-0} / (secs > 0 ? secs : 1) ))" "$corpus"
		fi
	else
		echo "fuzz: $name FAILED (log: $log, input: $out/$name.crashes/)"
		grep -E 'ERROR|SUMMARY|property|runtime error|Test unit written' "$log" | head -20
		return 1
	fi
}

# The smoke runs with the address space laid out the same each time (no
# ASLR, setarch -R, util-linux): some covered code still depends on where
# things are, and with it event, mkv and transcript went one of two ways.
norandom=""
if [ -n "${FUZZ_SMOKE:-}" ] && setarch "$(uname -m)" -R true 2>/dev/null; then
	norandom="setarch $(uname -m) -R"
fi

jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
running=0
for name in $names; do
	(fuzz_one "$name" || touch "$out/$name.failed") &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait
failed=""
for name in $names; do
	if [ -e "$out/$name.failed" ]; then
		failed="$failed $name"
		rm -f "$out/$name.failed"
	fi
done
rmdir "$VMPIPE_FUZZ_TMP" 2>/dev/null || true
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed"
	exit 1
fi
echo "fuzz: ok"
