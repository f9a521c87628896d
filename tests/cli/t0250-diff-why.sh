#!/bin/sh
# diff says why: records removed between a version and one derived from it
# are counted by the derivation on the way that dropped them and its
# reason, copies included; --records names it per record, --json too.
. "$(dirname "$0")/lib.sh"

zcat "$DEMO/web-a.jsonl.gz" >web-a.jsonl
G="git --git-dir .dsv/lineage"
dsv init -q repo && cd repo && dsv commit ../web-a.jsonl -m base -q || exit 1
# the "dropped" count of a derive's summary for a reason
dropped() { awk -v r="$1" '$1 == r { print $2 }' "$2"; }
dsv derive filter main --where "text_bytes >= 1000" -o long -m long >f.out &&
dsv derive sample long --fraction 0.5 --seed 3 -o half -m half >s.out || exit 1
short=$(dropped where f.out) unsampled=$(dropped not_sampled s.out)
f=$(dsv log --oneline -n 1 long | cut -c1-7)
s=$(dsv log --oneline -n 1 half | cut -c1-7)

test_expect_success 'removed records are counted by the derivation and reason that dropped them' '
	test "$short" -gt 0 && test "$unsampled" -gt 0 &&
	dsv diff main half >out &&
	grep -qx -e "- $((short + unsampled)) records removed (.*)" out &&
	grep -qx "    $short by $f filter: where $short" out &&
	grep -qx "    $unsampled by $s sample: not_sampled $unsampled" out &&
	test "$(grep -n "by $f" out | cut -d: -f1)" -lt "$(grep -n "by $s" out | cut -d: -f1)"
'

test_expect_success '--records names the derivation per record; --json groups them' '
	dsv diff main half --records >out &&
	test "$(grep -c "^- [0-9a-f]\{32\}  [0-9a-f]\{7\} filter where$" out)" = "$short" &&
	test "$(grep -c "^- [0-9a-f]\{32\}  [0-9a-f]\{7\} sample not_sampled$" out)" = "$unsampled" &&
	dsv diff main half --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
by = {(g[\"op\"], g[\"reason\"]): g[\"records\"] for g in d[\"removed_by\"]}
assert by == {(\"filter\", \"where\"): $short, (\"sample\", \"not_sampled\"): $unsampled}, by
assert sum(by.values()) == d[\"removed\"]"
'

test_expect_success '--records --json lists the records, with why for the removed' '
	dsv diff main half --records --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
rm = d[\"removed_records\"]
assert len(rm) == len({r[\"hash\"] for r in rm}) == $short + $unsampled, len(rm)
why = sorted((r[\"op\"], r[\"reason\"]) for r in rm)
assert why.count((\"filter\", \"where\")) == $short, why[:3]
assert d[\"added_records\"] == [] and d[\"added\"] == 0"
'

test_expect_success 'copies: a mix repeats records, dedup drops the copies after the first' '
	dsv derive mix main:3 -o thrice -m thrice -q &&
	dsv derive dedup --exact thrice -o once -m once -q &&
	dsv derive dedup --fuzzy thrice -o oncef -m once -q &&
	dsv export main >main.jsonl && n=$(wc -l <main.jsonl) &&
	dsv export once | test_cmp main.jsonl - &&
	dsv export oncef | test_cmp main.jsonl - &&
	dsv diff thrice once >out &&
	grep -qx -e "- $((2 * n)) records removed (.*)" out &&
	grep -q "^    $((2 * n)) by [0-9a-f]\{7\} dedup: exact_duplicate $((2 * n))$" out
'

test_expect_success 'what no derivation dropped is said so; unrelated versions get no reasons' '
	dsv derive map half --cmd "sed s/the/THE/" -o upper -m upper -q &&
	dsv diff main upper >out &&
	grep -q "by [0-9a-f]\{7\} filter: where $short" out &&
	grep -q "not dropped by a derivation on the way" out &&
	dsv commit ../web-a.jsonl -b other -m other -q &&
	dsv derive filter other --where "text_bytes < 500" -o tiny -m tiny -q &&
	dsv diff half tiny >out && ! grep -q " by " out &&
	dsv diff long main >out && ! grep -q " by " out
'

test_expect_success 'records a mix left out are removed, by no derivation' '
	dsv derive mix main:1 --records 10 -o ten -m ten -q &&
	dsv diff main ten >out &&
	grep -qx -e "- $(($(dsv export main | wc -l) - 10)) records removed (.*)" out &&
	! grep -q " by [0-9a-f]\{7\} " out
'

test_expect_success 'copies stored twice in one commit are counted where each lies' '
	{ echo "{\"text\":\"twice\"}"; echo "{\"text\":\"once\"}"; echo "{\"text\":\"twice\"}"; } >dup.jsonl &&
	dsv commit dup.jsonl -b dup -m dup -q && $G show dup:MANIFEST | grep -q "rows=3" &&
	dsv derive dedup --exact dup -o dup1 -m dup1 -q &&
	dsv diff dup dup1 >out &&
	grep -q "^    1 by [0-9a-f]\{7\} dedup: exact_duplicate 1$" out &&
	! grep -q "not dropped" out
'

test_expect_success 'blame: a mix of a filtered version did not drop what the filter did' '
	dsv derive mix long:1 -o mixlong -m mixlong -q &&
	r=$(dsv diff main long --records | sed -n "s/^- \([0-9a-f]\{32\}\)  .*/\1/p" | head -n 1) &&
	dsv blame $r >out &&
	grep -q "^$f filter   dropped    where" out &&
	! grep -q " mix .*dropped" out
'

test_expect_success 'blame: a version that keeps a later copy of the record holds it' '
	{ echo "{\"text\":\"same\",\"i\":0}"; echo "{\"text\":\"same\",\"i\":1}"; } >meta2.jsonl &&
	dsv commit meta2.jsonl -b meta2 -m meta2 -q &&
	dsv derive filter meta2 --where "meta.i == 1" -o second -m second -q &&
	r=$(dsv diff meta2 second --records | sed -n "s/^- \([0-9a-f]\{32\}\)  .*/\1/p") &&
	dsv blame $r >out &&
	grep -q "^[0-9a-f]\{7\} filter   holds it   second$" out &&
	grep -q "^2 versions hold it, 0 derivations dropped it$" out
'

test_done
