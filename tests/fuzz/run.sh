#!/bin/sh
# Short fuzz smoke for `make check`: build each fuzzer with clang's libFuzzer
# (+ASan/UBSan) against the engine sources and run it for a few seconds from
# the seed corpus.  FUZZ_SECONDS overrides the time per fuzzer.
set -eu
cd "$(dirname "$0")/../.."
out=build/fuzz
mkdir -p "$out"
secs=${FUZZ_SECONDS:-15}
srcs=$(ls engine/*.c engine/aws/*.c engine/mail/*.c engine/runtime/*.c 2>/dev/null | grep -v '/main.c$')
flags="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Iinclude -iquote engine
 $(pkg-config --cflags libcurl libcrypto inih jansson expat)"
libs="$(pkg-config --libs libcurl libcrypto inih jansson expat) -lgsm -ldl -lpthread -lm"
for f in tests/fuzz/fuzz_*.c; do
	name=$(basename "$f" .c)
	corpus=tests/fuzz/corpus/${name#fuzz_}
	# shellcheck disable=SC2086
	clang $flags -o "$out/$name" "$f" $srcs $libs
	work="$out/$name.corpus"
	mkdir -p "$work"
	echo "fuzz: $name for ${secs}s"
	"$out/$name" -max_total_time="$secs" -rss_limit_mb=1024 -print_final_stats=1 \
		"$work" "$corpus" 2>"$out/$name.log" || { tail -40 "$out/$name.log"; exit 1; }
	grep -E 'stat::number_of_executed_units' "$out/$name.log" || true
done
echo "fuzz: ok"
