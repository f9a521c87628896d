#!/bin/sh
# derive sample, split and mix: deterministic seeded choices, disjoint
# splits that cover the input, mixes with repeat counts or a record target;
# every input is a parent.
. "$(dirname "$0")/lib.sh"

G="git --git-dir .dsv/lineage"
awk 'BEGIN { for (i = 1; i <= 1000; i++) printf "{\"text\":\"document number %d\"}\n", i }' >a.jsonl
awk 'BEGIN { for (i = 1; i <= 50; i++) printf "{\"text\":\"other text %d\"}\n", i }' >b.jsonl
awk 'BEGIN { for (i = 1; i <= 200000; i++) printf "{\"text\":\"line %d\"}\n", i }' >big.jsonl

dsv init -q repo >/dev/null && cd repo || exit 1
dsv commit -b a ../a.jsonl -m a -q && dsv commit -b b ../b.jsonl -m b -q

count() { dsv export "$1" | wc -l | tr -d ' '; }

test_expect_success 'sample --n keeps exactly n records, the same ones for a seed' '
	dsv derive sample a --n 100 --seed 7 -o s1 -m s1 -q &&
	test "$(count s1)" = 100 &&
	dsv derive sample a --n 100 --seed 7 -o s2 -m s2 -q &&
	test "$($G show s1:MANIFEST)" = "$($G show s2:MANIFEST)" &&
	dsv derive sample a --n 100 --seed 8 -o s3 -m s3 -q &&
	test "$($G show s1:MANIFEST)" != "$($G show s3:MANIFEST)"
'

test_expect_success 'sample --fraction keeps about that share' '
	dsv derive sample a --fraction 0.3 -o f1 -m f1 -q &&
	n=$(count f1) && test "$n" -gt 230 && test "$n" -lt 370 &&
	dsv derive sample a --fraction 1 -o f2 -m f2 -q && test "$(count f2)" = 1000 &&
	$G show f1:dsv.json | grep -q "\"not_sampled\""
'

test_expect_success 'bad sample options are usage errors' '
	dsv derive sample a -o x -m x 2>err; test $? -eq 2 &&
	dsv derive sample a --n 5 --fraction 0.5 -o x -m x 2>err; test $? -eq 2 &&
	dsv derive sample a --fraction 2 -o x -m x 2>err; test $? -eq 2 &&
	dsv derive sample a --n 0 -o x -m x 2>err; test $? -eq 2 &&
	test_must_fail $G rev-parse --verify -q x
'

test_expect_success 'split makes disjoint train and valid versions covering the input' '
	dsv derive split a --valid 0.2 --seed 3 -o sp -m split >out &&
	dsv export sp-train | sort >../train && dsv export sp-valid | sort >../valid &&
	test "$(wc -l <../valid)" -gt 140 && test "$(wc -l <../valid)" -lt 260 &&
	test -z "$(comm -12 ../train ../valid)" &&
	sort ../train ../valid >../both && sort ../a.jsonl >../all &&
	test_cmp ../all ../both &&
	test "$($G rev-parse sp-train^)" = "$($G rev-parse a)" &&
	test "$($G rev-parse sp-valid^)" = "$($G rev-parse a)"
'

test_expect_success 'split refuses an existing branch and records nothing' '
	dsv branch sp2-train a &&
	test_must_fail dsv derive split a --valid 0.2 -o sp2 -m again 2>err &&
	grep -q "sp2-train" err &&
	test_must_fail $G rev-parse --verify -q sp2-valid &&
	dsv derive split a -o sp3 -m x 2>err; test $? -eq 2
'

test_expect_success 'a split that fails at any write records neither side' '
	n=1 fails=0 ok_run=0
	while [ $ok_run -lt 3 ] && [ $n -le 200 ]; do
		for kind in write rename alloc; do
			if DSV_FAULT=$kind:$n "$DSV" derive split b --valid 0.3 -o fsp -m f -q 2>err; then
				ok_run=$((ok_run + 1))
				$G update-ref -d refs/heads/fsp-train && $G update-ref -d refs/heads/fsp-valid
			else
				ok_run=0 fails=$((fails + 1))
				grep -q "^dsv: error: " err || { echo "$kind:$n: no message"; exit 1; }
				$G rev-parse -q --verify fsp-valid && { echo "$kind:$n: fsp-valid left"; cat err; exit 1; }
				$G rev-parse -q --verify fsp-train && { echo "$kind:$n: fsp-train left"; exit 1; }
			fi
		done
		n=$((n + 1))
	done
	echo "  result: $fails injected failures, none half-recorded" &&
	test $fails -gt 0 && dsv fsck >/dev/null
'

# SIGTERM, not SIGINT: a background job of a script starts with SIGINT
# ignored; exec, so that $! is dsv under bash too (which may otherwise fork
# once more)
test_expect_success 'a split stopped by a signal at any moment records both sides or neither' '
	dsv commit -b big ../big.jsonl -m big -q &&
	both=0 neither=0 d=0
	while [ $d -le 100 ]; do
		exec "$DSV" derive split big --valid 0.3 -o isp -m i -q 2>/dev/null &
		pid=$!
		sleep "$(printf "0.%03d" $d)"
		kill -TERM $pid 2>/dev/null
		wait $pid
		t=$($G rev-parse -q --verify isp-train) v=$($G rev-parse -q --verify isp-valid)
		if [ -n "$t" ] && [ -n "$v" ]; then
			both=$((both + 1))
		elif [ -z "$t" ] && [ -z "$v" ]; then
			neither=$((neither + 1))
		else
			echo "stopped after $d ms: one side recorded"; exit 1
		fi
		$G update-ref -d refs/heads/isp-train 2>/dev/null
		$G update-ref -d refs/heads/isp-valid 2>/dev/null
		d=$((d + 5))
	done
	echo "  result: $both runs recorded both sides, $neither neither" &&
	dsv fsck >/dev/null
'

test_expect_success 'mix with repeat counts; every input is a parent' '
	dsv derive mix a:2 b:1 -o m1 -m "mix" >out &&
	test "$(count m1)" = 2050 && grep -q "mix: 2050 records from 1050 (1.95x)" out &&
	test "$($G rev-parse m1^1)" = "$($G rev-parse a)" &&
	test "$($G rev-parse m1^2)" = "$($G rev-parse b)" &&
	$G show m1:MANIFEST | grep -q "repeat=2" &&
	$G show m1:dsv.json | grep -q "\"mix\""
'

test_expect_success 'mix --records hits the target with the weights as shares' '
	dsv derive mix a:1 b:1 --records 500 -o m2 -m "mix 500" -q &&
	test "$(count m2)" = 500 &&
	test "$(dsv export m2 | grep -c "other text")" = 250 &&
	dsv derive mix a:1 b:1 --records 500 -o m3 -m "again" -q &&
	test "$($G show m2:MANIFEST)" = "$($G show m3:MANIFEST)"
'

test_expect_success 'mix --records gives exactly N when the shares do not divide it' '
	dsv derive mix a:1 b:1 sp-valid:1 --records 10 -o m10 -m "mix 10" >out &&
	test "$(count m10)" = 10 && grep -q "^ 3 new selections" out &&
	$G show m10:dsv.json | grep -q "\"new_selections\": 3" &&
	dsv derive mix a:1 b:1 sp-valid:1 --records 2 -o m2r -m "mix 2" -q &&
	test "$(count m2r)" = 2 &&
	dsv derive mix a:1 b:2 --records 5 -o m5 -m "mix 5" -q &&
	test "$(count m5)" = 5 && test "$(dsv export m5 | grep -c "other text")" = 3
'

test_expect_success 'mix --records takes part of an input that repeats records' '
	dsv derive mix m1 --records 1500 -o m1500 -m "part of a mix" -q &&
	test "$(count m1500)" = 1500 &&
	dsv derive mix m1:1 b:1 --records 4000 -o m4000 -m "more than a mix" -q &&
	test "$(count m4000)" = 4000
'

test_expect_success 'sample --n refuses a version that repeats records, commits nothing' '
	test_must_fail dsv derive sample m1 --n 10 -o srep -m x 2>err &&
	grep -q "repeats records" err && grep -q "mix m1 --records 10" err &&
	test_must_fail $G rev-parse --verify -q srep &&
	dsv derive sample m1 --fraction 0.5 -o srep -m x -q
'

test_expect_success 'mix --records refuses an input with no records, commits nothing' '
	dsv derive sample a --fraction 0 -o none -m none -q &&
	test "$(count none)" = 0 &&
	test_must_fail dsv derive mix none:1 b:1 --records 10 -o mnone -m x 2>err &&
	grep -q ".none. has no records" err &&
	test_must_fail $G rev-parse --verify -q mnone
'

test_expect_success 'mix --tokens counts text bytes / 4' '
	dsv derive mix a:1 --tokens 1000 -o m4 -m "tokens" -q &&
	n=$(count m4) && test "$n" -gt 150 && test "$n" -lt 250
'

test_expect_success 'bad mix inputs are errors' '
	dsv derive mix a:1.5 b:1 -o x -m x 2>err; test $? -eq 2 &&
	dsv derive mix a:0 -o x -m x 2>err; test $? -eq 2 &&
	dsv derive mix a:x -o x -m x 2>err; test $? -eq 2 &&
	test_must_fail dsv derive mix a b nosuch -o x -m x 2>err &&
	grep -q nosuch err &&
	test_must_fail dsv derive mix a a -o x -m x 2>err &&
	test_must_fail $G rev-parse --verify -q x
'

test_expect_success 'log --graph draws forks and merges, one column a row' '
	at() { t=$1; shift; env GIT_AUTHOR_DATE=@$t "$DSV" "$@"; } &&
	at 1000 derive split a --valid 0.5 --seed 1 -o gs -m split -q &&
	at 1001 derive mix gs-train:1 gs-valid:1 -o gboth -m mixed -q &&
	at 1002 derive sample gs-valid --n 3 --seed 1 -o gfew -m few -q &&
	at 1003 derive mix gboth:1 gfew:1 -o gall -m all -q &&
	dsv log --graph --oneline gall | sed "s/[0-9a-f]\{7\} //" >graph &&
	cat >expect <<-\EOF &&
	* (gall) all
	|\
	| * (gfew) few
	* | (gboth) mixed
	|\|
	| * (gs-valid) split
	* | (gs-train) split
	|/
	* (a, sp2-train) a
	EOF
	test_cmp expect graph &&
	dsv log --graph gall >full &&
	sed -n 2p full | grep -qx "|\\\\" &&
	sed -n 3p full | grep -q "^| |   dataset mix: "
'

test_done
