#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) into a directory of
# their own and runs each for a bounded time from the seed corpus in
# tests/fuzz/corpus/<target>. A crash, leak, timeout or failed property
# check fails the run and leaves the input under <build-dir>/artifacts/.
# Without clang (or libFuzzer's runtime) this fails: the fuzz runs are part
# of the suite, not an optional extra.
#
#   run.sh [--build-dir DIR] [--time SECONDS] [--build-only] [TARGET...]
#
# TARGET is natsconf, header, keysfile, block, desc or node (default: all). FUZZ_SECONDS
# overrides --time, so that `FUZZ_SECONDS=600 scripts/test.sh -R fuzz` runs
# longer. Inputs the fuzzer finds are kept in <build-dir>/work/<target> and
# reused by the next run in the same directory; the repository's corpus is
# only read.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
all=(natsconf header keysfile block desc node)
dir=$top/build/fuzz
secs=30
build_only=0
targets=()

while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) dir=$2; shift 2 ;;
	--time) secs=$2; shift 2 ;;
	--build-only) build_only=1; shift ;;
	-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
secs=${FUZZ_SECONDS:-$secs}
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
	case " ${all[*]} " in
	*" $t "*) ;;
	*) echo "fuzz: unknown target '$t' (known: ${all[*]})" >&2; exit 2 ;;
	esac
done

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz: error: clang not found; install it (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
	exit 1
fi

# One build at a time per directory: the ctest tests may run in parallel.
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
exec 9>"$dir/.lock"
flock 9
if [ ! -f "$dir/CMakeCache.txt" ]; then
	cmake -S "$here" -B "$dir" -DCMAKE_C_COMPILER=clang >"$dir/configure.log" 2>&1 || {
		cat "$dir/configure.log" >&2
		echo "fuzz: error: configuring the fuzz targets with clang failed (log: $dir/configure.log)" >&2
		exit 1
	}
fi
cmake --build "$dir" -j2 >"$dir/build.log" 2>&1 || {
	tail -n 40 "$dir/build.log" >&2
	echo "fuzz: error: building the fuzz targets failed (log: $dir/build.log)" >&2
	exit 1
}
flock -u 9
[ "$build_only" = 1 ] && { echo "fuzz: targets built in $dir"; exit 0; }

# The config target reads relative includes from its working directory:
# give it the unit tests' config files and the corpus's own.
rundir=$dir/rundir
mkdir -p "$rundir"
cp -r "$top/tests/unit/data/." "$rundir/"
cp "$here/corpus/natsconf/"*.conf "$rundir/"

# Fixed sanitizer settings, whatever the caller exported (test.sh's
# sanitizer mode turns leak detection off for the daemon; here leaks count).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0
for t in "${targets[@]}"; do
	work=$dir/work/$t art=$dir/artifacts/$t log=$dir/fuzz_$t.log
	mkdir -p "$work" "$art"
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192
	      -print_final_stats=1 -artifact_prefix="$art/")
	[ -f "$here/$t.dict" ] && args+=(-dict="$here/$t.dict")
	echo "fuzz: $t for ${secs}s (log: $log)"
	rc=0
	(cd "$rundir" && "$dir/fuzz_$t" "${args[@]}" "$work" "$here/corpus/$t") \
		</dev/null >"$log" 2>&1 || rc=$?
	execs=$(awk '/stat::number_of_executed_units:/ { print $2 }' "$log")
	last=$(grep -E '^#[0-9]+.*cov:' "$log" | tail -n 1 || true)
	if [ "$rc" -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|==[0-9]+==|#[0-9]+ 0x|Test unit written|artifact' "$log" | head -n 40 >&2 || true
		echo "fuzz: FAIL: $t: the fuzzer stopped with status $rc; input kept in $art/ (log: $log)" >&2
		echo "fuzz: reproduce: (cd $rundir && $dir/fuzz_$t $art/<file>)" >&2
		status=1
		continue
	fi
	if [ -z "$execs" ] || [ "$execs" -eq 0 ]; then
		echo "fuzz: FAIL: $t: no input was executed (log: $log)" >&2
		status=1
		continue
	fi
	echo "fuzz: ok: $t: $execs executions; final: ${last#\#}"
done
exit "$status"
