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
	grep -q "^[0-9a-f]\{7\} commit   added      [0-9a-f]\{12\}:0 (2 copies)  meta2$" out &&
	grep -q "^[0-9a-f]\{7\} filter   holds it   [0-9a-f]\{12\}:1  second$" out &&
	grep -q "^2 versions hold it (1 added it), 0 dropped it, 0 did not keep it$" out
'

# The same text in other shards: rewritten away and back by map (a new
# shard), committed again under other meta on another branch, repeated by a
# mix. The records index knows only the first shard; blame finds them all.
test_expect_success 'blame: copies in other shards, where each came in, what did not keep it' '
	printf "{\"text\":\"alpha one\",\"k\":1}\n{\"text\":\"other\"}\n" >a.jsonl &&
	printf "{\"text\":\"alpha one\",\"k\":2}\n" >b.jsonl &&
	dsv commit a.jsonl -b story -m story -q &&
	dsv derive map story --cmd "sed s/alpha/beta/" -o beta -m beta -q &&
	dsv derive map beta --cmd "sed s/beta/alpha/" -o back -m back -q &&
	dsv commit b.jsonl -b again -m again -q &&
	dsv derive mix again:3 -o again3 -m again3 -q &&
	r=$(dsv diff --records story beta | sed -n "s/^- \([0-9a-f]\{32\}\).*/\1/p") &&
	short() { $G rev-parse --short=7 "$1"; } &&
	shard() { $G show "$1":MANIFEST | sed -n "2s/^shard \([0-9a-f]\{12\}\).*/\1/p"; } &&
	test "$(shard back)" != "$(shard story)" &&
	test "$(shard again)" != "$(shard story)" &&
	dsv blame $r >out &&
	grep -qx "record $r: first stored by $(short story) (shard $(shard story), row 0)" out &&
	grep -qx "$(short story) commit   added      $(shard story):0  story" out &&
	grep -qx "$(short beta) map      not kept   beta" out &&
	grep -qx "$(short back) map      added      $(shard back):0  back" out &&
	grep -qx "$(short again) commit   added      $(shard again):0  again" out &&
	grep -qx "$(short again3) mix      holds it   $(shard again):0 (3 copies)  again3" out &&
	grep -qx "4 versions hold it (3 added it), 0 dropped it, 1 did not keep it" out &&
	dsv blame $r back >out &&
	! grep -q "again" out && grep -q " back$" out &&
	grep -qx "2 versions hold it (2 added it), 0 dropped it, 1 did not keep it" out &&
	dsv blame --json $r again3 | python3 -c "
import json, sys
d = json.load(sys.stdin)
v = [(x[\"message\"], x[\"verdict\"], x.get(\"copies\")) for x in d[\"versions\"]]
assert v == [(\"again\", \"added\", 1), (\"again3\", \"holds\", 3)], v
assert d[\"versions\"][1][\"shard\"].startswith(\"$(shard again)\")" &&
	test_must_fail dsv blame $r nosuch 2>err && grep -q "nosuch" err &&
	test_must_fail dsv blame $r back main 2>err && grep -q "at most one revision" err
'

# A record hash may be shortened, as git takes a short id, to 4 digits or
# more that only one record of the records index starts with.
test_expect_success 'blame: a record hash by its prefix; an ambiguous one is named' '
	seq 1 1500 | sed "s/.*/{\"text\":\"rec &\"}/" >many.jsonl &&
	dsv commit many.jsonl -b many -m many -q &&
	dsv diff --records story many | sed -n "s/^+ \([0-9a-f]\{32\}\).*/\1/p" >hashes &&
	h=$(head -n 1 hashes) && dsv blame $h >expect &&
	dsv blame $(echo $h | cut -c1-10) >out && test_cmp expect out &&
	dsv blame --json $(echo $h | cut -c1-12) | grep -q "\"record\": \"$h\"" &&
	p=$(cut -c1-4 hashes | sort | uniq -d | head -n 1) && test -n "$p" &&
	test_must_fail dsv blame $p 2>err &&
	grep -q "^dsv: error: record hash $p is ambiguous: $p[0-9a-f]\{28\} and $p[0-9a-f]\{28\}" err &&
	test_must_fail dsv blame 0c1 2>err && grep -q "4 to 32 hex digits" err
'

# blame reads every hash column before it judges a version: a failure there
# or in reading a version must fail the command with its message, never
# pass a version over and print a verdict the history does not support.
test_expect_success 'blame: every allocation failure fails cleanly or changes nothing' '
	r=$(dsv diff --records story beta | sed -n "s/^- \([0-9a-f]\{32\}\).*/\1/p") &&
	dsv blame $r >expect &&
	n=$(DSV_FAULT=count "$DSV" blame $r 2>&1 >/dev/null |
		sed -n "s/.* alloc \([0-9]*\)$/\1/p") &&
	test "$n" -gt 0 && i=1 failures=0 &&
	while [ $i -le $n ]; do
		if DSV_FAULT=alloc:$i "$DSV" blame $r >out 2>err; then
			test_cmp expect out || { echo "alloc:$i: other output"; exit 1; }
		else
			grep -q "^dsv: error: " err || { echo "alloc:$i: no message"; cat err; exit 1; }
			failures=$((failures + 1))
		fi
		i=$((i + 1))
	done &&
	echo "  result: $failures of $n injected failures failed blame, all with a message" &&
	test $failures -gt 0
'

test_expect_success 'blame: a damaged shard fails it, naming the object' '
	r=$(dsv diff --records story beta | sed -n "s/^- \([0-9a-f]\{32\}\).*/\1/p") &&
	id=$($G show back:MANIFEST | sed -n "2s/^shard \([0-9a-f]\{64\}\).*/\1/p") &&
	rm -rf ../damaged && cp -R . ../damaged && cd ../damaged &&
	f=.dsv/objects/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-) &&
	chmod u+w $f && head -c 100 $f >$f.part && mv $f.part $f &&
	test_must_fail dsv blame $r >out 2>err && grep -q "$id" err &&
	dsv blame $r story >out && grep -q " story$" out
'

test_done
