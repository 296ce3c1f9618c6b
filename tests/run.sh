#!/bin/sh
# The test runner behind `make check`: unit tests (normal build, ASan/UBSan
# build, valgrind), integration tests (pytest on the built binary, then the
# sanitizer build), a short fuzz smoke.  Ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3
passed=0
failed=0
failures=""

note() { printf '%s\n' "$*"; }
count() { # count NAME RC
	if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures="$failures
  $1"; fi
}

# cmocka binaries: each test case counts.  They run side by side, as many at
# once as there are cores (each has its own log), and are counted in order.
NCPU=$(nproc 2>/dev/null || echo 2)
run_unit() { # BUILD WRAPPER LABEL
	# Only its own children are waited for (by pid): a pytest pass may be
	# running in the background meanwhile.
	pids=""
	running=0
	for t in "$1"/tests/test_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		log="$1/tests/$name.$3.log"
		(VMPIPE_ROOT="$ROOT" VMPIPE_BUILD="$ROOT/$1" VMPIPE_NO_DLCLOSE=1 $2 "$t" >"$log" 2>&1
		 echo $? >"$log.rc") &
		pids="$pids $!"
		running=$((running + 1))
		if [ "$running" -ge "$NCPU" ]; then
			# shellcheck disable=SC2086
			wait $pids
			pids=""
			running=0
		fi
	done
	# shellcheck disable=SC2086
	[ -z "$pids" ] || wait $pids
	for t in "$1"/tests/test_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		log="$1/tests/$name.$3.log"
		rc=$(cat "$log.rc" 2>/dev/null || echo 1)
		rm -f "$log.rc"
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		p=${p:-0}
		f=${f:-0}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # crashed, leaked, sanitizer report
		passed=$((passed + p))
		failed=$((failed + f))
		if [ "$f" -ne 0 ]; then
			failures="$failures
  $3 $name (see $log)"
			tail -30 "$log"
		fi
		note "unit[$3] $name: $p passed, $f failed"
	done
}

# pytest-xdist (Debian's python3-pytest-xdist) runs the integration tests on
# every core (VMPIPE_TEST_JOBS: a number, or auto): tests bind ephemeral
# ports, build shared helpers under a file lock (conftest.shared_tool) and
# keep their files in their own tmp_path, so they may run side by side.
JOBS=""
if $PY -c 'import xdist' 2>/dev/null; then
	JOBS="-n ${VMPIPE_TEST_JOBS:-auto}"
fi

# A pass of pytest in the background (its log and exit status in files), so
# that passes on different builds overlap: most of an integration test's time
# is spent waiting on a peer, a timer or a child process, not on a core.
pytest_start() { # BUILD LABEL [pytest args...]
	b=$1; label=$2; shift 2
	log="$b/pytest.$label.log"
	# tmp_path directories live here for the run, and go with it.
	base="$TMPDIR/pytest-$label"
	(start=$(date +%s)
	 # shellcheck disable=SC2086
	 VMPIPE_BUILD="$b" VMPIPE_NO_DLCLOSE=1 $PY -m pytest -q -p no:cacheprovider $JOBS --durations=15 \
		--basetemp="$base" "$@" >"$log" 2>&1
	 echo $? >"$log.rc"
	 echo $(($(date +%s) - start)) >"$log.secs"
	 rm -rf "$base") &
}

pytest_count() { # BUILD LABEL, after pytest_start and wait
	b=$1; label=$2
	log="$b/pytest.$label.log"
	rc=$(cat "$log.rc" 2>/dev/null || echo 1)
	note "pytest[$label]: $(tail -n 40 "$log" | grep -E 'passed|failed|error' | tail -1) ($(cat "$log.secs" 2>/dev/null || echo ?) s)"
	rm -f "$log.rc" "$log.secs"
	p=$(tail -1 "$log" | grep -o '[0-9]* passed' | grep -o '[0-9]*')
	f=$(tail -1 "$log" | grep -o '[0-9]* failed' | grep -o '[0-9]*')
	e=$(tail -1 "$log" | grep -o '[0-9]* error' | grep -o '[0-9]*')
	p=${p:-0}; f=${f:-0}; e=${e:-0}
	f=$((f + e))
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		failures="$failures
  pytest[$label] (see $log)"
		grep -E '^(FAILED|ERROR)' "$log" | head -40
	fi
}

# Every temporary file of the run goes under build/tmp (mkdtemp, tempfile,
# pytest's tmp_path, node), which must be empty again at the end: a test
# removes what it made.
TMPDIR="$ROOT/build/tmp"
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR"
export TMPDIR

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"

VALGRIND="valgrind -q --vgdb=no --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
command -v valgrind >/dev/null || VALGRIND=""
start=$(date +%s)
elapsed() { echo "$(($(date +%s) - start)) s"; }

note "== unit tests (plain, asan)"
run_unit build "" plain
run_unit build-san "" asan

# The integration passes on the plain and the sanitizer builds run side by
# side, with the valgrind unit pass; then valgrind's integration subset with
# the fuzz smoke.  Each counts as before, in this order.
note "== integration tests (plain, asan) and unit tests (valgrind) [$(elapsed)]"
pytest_start build plain tests/integration
pytest_start build-san asan tests/integration -m "not slow"
[ -n "$VALGRIND" ] && run_unit build "$VALGRIND" valgrind
wait
pytest_count build plain
pytest_count build-san asan

note "== integration tests (valgrind) and fuzz smoke [$(elapsed)]"
[ -n "$VALGRIND" ] && VMPIPE_WRAPPER="$VALGRIND" pytest_start build valgrind tests/integration -m valgrind
fuzz=""
if [ -x tests/fuzz/run.sh ]; then
	FUZZ_SMOKE=20000 sh tests/fuzz/run.sh >build/fuzz.log 2>&1
	fuzz=$?
fi
wait
[ -n "$VALGRIND" ] && pytest_count build valgrind
if [ -n "$fuzz" ]; then
	count "fuzz smoke (see build/fuzz.log)" "$fuzz"
	grep -E '^fuzz:|property violated|runtime error|ERROR' build/fuzz.log | head -30
fi
note "(tests took $(elapsed))"

note "== temporary files"
left=$(cd "$TMPDIR" && find . -mindepth 1 -maxdepth 2 | sed 's|^\./||' | sort | head -20)
if [ -n "$left" ]; then
	note "tests left files in $TMPDIR:"
	printf '  %s\n' $left
	count "temporary files left by the tests" 1
else
	note "none left"
	count "temporary files" 0
	rmdir "$TMPDIR"
fi

if [ "$failed" -ne 0 ]; then
	printf '\nfailures:%s\n' "$failures"
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
