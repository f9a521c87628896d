#!/bin/sh
# run.sh: runs dsv's tests and counts them. Every test prints "PASS name",
# "FAIL name" or "SKIP name: why"; the run ends with "N passed, N failed".
#   run.sh unit      unit tests and fuzz-corpus replays
#   run.sh kernels   kernel tests only (no store, no lineage: GPU machines)
#   run.sh all       all of those and the CLI tests
#   run.sh cli [tNNNN ...]
#                    the CLI tests only (those named, else all), with the
#                    binary $DSV_BIN when it is set (the sanitizer pass)
# With DSV_RESULTS=FILE the counts are also appended there (for .ci/run).
set -u
B=${B:-build}
mode=${1:-all}
[ $# -gt 0 ] && shift
top=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
times=$(mktemp)
gpu=$(mktemp -d)
trap 'rm -rf "$log" "$times" "$gpu"' EXIT

run() { # name, command...
	name=$1; shift
	t0=$(date +%s.%N)
	out=$("$@" 2>&1); rc=$?
	awk -v a="$t0" -v b="$(date +%s.%N)" -v n="$name" \
		'BEGIN { printf "%.1f %s\n", b - a, n }' >>"$times"
	printf '%s\n' "$out" | grep -E '^(PASS|FAIL|SKIP) ' >>"$log"
	if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL '; then
		echo "FAIL $name (exit $rc)" >>"$log"
	fi
	if [ $rc -ne 0 ] || printf '%s\n' "$out" | grep -q '^FAIL '; then
		printf '%s\n' "--- $name" "$out" | tail -n 60
	else
		printf '%s\n' "$out" | grep -E '^(SKIP|  seed|  result)' | sed "s|^|$name: |"
	fi
}

[ "$mode" = cli ] || for t in "$B"/tests/kernel_*; do
	[ -x "$t" ] || continue
	n=$(wc -l <"$log")
	run "$(basename "$t")" "$t"
	# the tests it skipped for want of a GPU
	tail -n +$((n + 1)) "$log" |
		sed -n 's/^SKIP \([A-Za-z0-9_]*\): no CUDA device$/\1/p' >"$gpu/${t##*/}"
done
# Those tests again on the CPU, through the CUDA emulation (tests/emu):
# each binary runs whole with the emulated library, and its GPU tests count
# as passed when it passes ("name (emulated)"). They run twice, the second
# time with each block's threads and each grid's blocks in reverse order,
# which a missing barrier cannot survive both ways. On a machine with a GPU
# nothing skipped, and they ran for real above.
emu=$top/$B/libdsvcuda-emu.so
if [ -f "$emu" ] && [ "$mode" != cli ]; then
	for order in forward reverse; do
		tag=emulated
		[ $order = reverse ] && tag="emulated, threads in reverse"
		for t in "$B"/tests/kernel_*; do
			[ -s "$gpu/${t##*/}" ] || continue
			full=$log
			log=$(mktemp)
			run "${t##*/} ($tag)" env DSV_CUDA_LIB="$emu" DSV_EMU_ORDER=$order \
				OMP_WAIT_POLICY=passive "$t"
			r=PASS
			grep -q '^FAIL ' "$log" && r=FAIL
			sed "s/.*/$r & ($tag)/" "$gpu/${t##*/}" >>"$full"
			rm -f "$log"
			log=$full
		done
	done
fi
if [ "$mode" = unit ] || [ "$mode" = all ]; then
	for t in "$B"/tests/test_*; do
		[ -x "$t" ] && run "$(basename "$t")" "$t"
	done
	for t in "$B"/tests/replay_*; do
		[ -x "$t" ] || continue
		n=${t##*/replay_}
		run "replay_$n" "$t" "$top/tests/fuzz/corpus/$n" "$top/tests/fuzz/reject/$n"
	done
fi
if [ "$mode" = all ] || [ "$mode" = cli ]; then
	for t in "$top"/tests/cli/t[0-9]*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t")
		if [ $# -gt 0 ]; then
			pick=0
			for want; do
				case $name in "$want"-*) pick=1 ;; esac
			done
			[ $pick = 1 ] || continue
		fi
		run "$name" sh "$t"
	done
fi

echo "slowest:"; sort -rn "$times" | head -n 5 | awk '{t = $1; $1 = ""; printf "  %6.1f s %s\n", t, $0}'
pass=$(grep -c '^PASS ' "$log"); fail=$(grep -c '^FAIL ' "$log"); skip=$(grep -c '^SKIP ' "$log")
if [ "$fail" -gt 0 ]; then echo "failed:"; grep '^FAIL ' "$log" | sed 's/^/  /'; fi
[ -n "${DSV_RESULTS:-}" ] && echo "$pass $fail $skip" >>"$DSV_RESULTS"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
