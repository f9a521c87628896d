#!/bin/sh
# dsv gc: keeps every object a branch or tag reaches, deletes an unreachable
# branch's objects once the branch is gone, respects the grace period, and
# cleans stale temporary files.
. "$(dirname "$0")/lib.sh"

zcat "$DEMO/web-a.jsonl.gz" >a.jsonl
zstd -qdc "$DEMO/web-b.jsonl.zst" >b.jsonl
python3 "$TOP/tests/corpus.py" mutate a.jsonl a2.jsonl --seed 3 2>/dev/null
dsv init -q repo && cd repo
dsv commit -q ../a.jsonl -m v1 && dsv commit -q ../a2.jsonl -m v2 && dsv tag v1 main~1
dsv commit -q ../b.jsonl --branch side -m side

test_expect_success 'gc with everything reachable deletes nothing' '
	n=$(find .dsv/objects -type f | wc -l) &&
	dsv gc --grace 0 >out && grep -q "deleted 0 unreachable" out &&
	test "$(find .dsv/objects -type f | wc -l)" = "$n"
'

test_expect_success 'a deleted branch: --dry-run lists, gc deletes, refs still export' '
	dsv branch -d side &&
	dsv gc --dry-run --grace 0 >out && grep -q "would delete [1-9]" out &&
	grep -c "^[0-9a-f]\{64\} [0-9]*$" out >count && test "$(cat count)" -ge 1 &&
	dsv gc --grace 1h >out && grep -q "deleted 0 unreachable" out &&
	dsv gc --grace 0 >out && grep -q "deleted [1-9]" out &&
	dsv fsck >out && grep -q "^ok$" out &&
	dsv export main | cmp - ../a2.jsonl && dsv export v1 | cmp - ../a.jsonl
'

test_expect_success 'recommitting after gc stores the records again (index rebuilt)' '
	dsv commit ../b.jsonl --branch side2 -m side2 >out &&
	dsv export side2 | cmp - ../b.jsonl && dsv fsck | grep -q "^ok$"
'

test_expect_success 'gc.grace in the config, and stale tmp files' '
	echo "gc.grace = 0" >>.dsv/config &&
	: >.dsv/tmp/obj-stale && touch -d "2 hours ago" .dsv/tmp/obj-stale &&
	dsv gc --json >out && grep -q "\"tmp_files\": 1" out && test ! -e .dsv/tmp/obj-stale &&
	mkdir -p .dsv/tmp/map.old/sub .dsv/tmp/map.live &&
	echo x >.dsv/tmp/map.old/sub/records && echo y >.dsv/tmp/map.live/records &&
	touch -d "2 hours ago" .dsv/tmp/map.old/sub/records .dsv/tmp/map.old/sub \
		.dsv/tmp/map.old .dsv/tmp/map.live &&
	sed -i "s/gc.grace = 0/gc.grace = 1h/" .dsv/config &&
	dsv gc --json >out && grep -q "\"tmp_files\": 1" out &&
	test ! -e .dsv/tmp/map.old && test -e .dsv/tmp/map.live/records &&
	echo "gc.grace = soon" >>.dsv/config && test_must_fail dsv gc 2>err && grep -q "gc.grace" err
'

test_expect_success 'a tag git made to a blob names no artifact: gc and fsck pass over it' '
	sed -i "/gc.grace = soon/d" .dsv/config &&
	blob=$(echo hi | git --git-dir .dsv/lineage hash-object -w --stdin) &&
	git --git-dir .dsv/lineage tag blobtag "$blob" &&
	dsv fsck >out && grep -q "^ok$" out && dsv gc >/dev/null &&
	! dsv tag | grep -q blobtag && dsv export v1 -o v1.jsonl
'

# A kill mid-write leaves temporary files: train's run file before its
# rename (runs/NAME.tmp; the run NAME holds .NAME.lock, a run named x.tmp
# holds .x.tmp.lock and its file stays) and libgit2's loose objects and
# packs, a ref delete's packed-refs.new. gc removes those older than the
# grace period; a dry run counts them.
test_expect_success 'stale temporary files of train, libgit2 and ref deletes go after the grace period' '
	mkdir -p .dsv/runs && : >.dsv/runs/.r.lock && : >.dsv/runs/.x.tmp.lock &&
	echo run >.dsv/runs/r.tmp && echo run >.dsv/runs/x.tmp &&
	g=.dsv/lineage/objects && echo obj >$g/tmp_object_git2_0123456789abcdef &&
	echo pack >$g/pack/pack_git2_a1b2c3 && echo new >$g/tmp_object_git2_fedcba98 &&
	echo refs >.dsv/lineage/packed-refs.new &&
	old=".dsv/runs/r.tmp .dsv/runs/x.tmp $g/tmp_object_git2_0123456789abcdef $g/pack/pack_git2_a1b2c3 .dsv/lineage/packed-refs.new" &&
	touch -d "2 hours ago" $old &&
	dsv gc --dry-run --grace 1h >out &&
	grep -q "^would delete 0 unreachable objects (0 B), 4 stale temporary files (18 B)$" out &&
	ls $old >/dev/null &&
	dsv gc --grace 1h --json >out && grep -q "\"tmp_files\": 4, \"tmp_bytes\": 18," out &&
	test ! -e .dsv/runs/r.tmp && test ! -e $g/tmp_object_git2_0123456789abcdef &&
	test ! -e $g/pack/pack_git2_a1b2c3 && test ! -e .dsv/lineage/packed-refs.new &&
	test -e .dsv/runs/x.tmp && test -e $g/tmp_object_git2_fedcba98 &&
	rm .dsv/runs/x.tmp .dsv/runs/.x.tmp.lock .dsv/runs/.r.lock $g/tmp_object_git2_fedcba98 &&
	dsv fsck | grep -q "^ok$"
'

# Ref deletes do not take the store lock: a delete holding packed-refs.lock
# may be between writing packed-refs.new and its rename, so gc leaves the
# file while the lock is held, and takes the lock itself while it sweeps.
test_expect_success 'packed-refs.new stays while packed-refs.lock is held' '
	echo refs >.dsv/lineage/packed-refs.new &&
	: >.dsv/lineage/packed-refs.lock &&
	dsv gc --grace 0 >/dev/null &&
	test -e .dsv/lineage/packed-refs.new &&
	rm .dsv/lineage/packed-refs.lock &&
	dsv gc --grace 0 >/dev/null &&
	test ! -e .dsv/lineage/packed-refs.new &&
	test ! -e .dsv/lineage/packed-refs.lock
'

# A dry run deletes nothing: it shares the store lock, so a writer holding
# it (here flock(1), standing for an hours-long derivation) does not keep it
# waiting, as it keeps gc itself.
if command -v flock >/dev/null 2>&1; then
	( flock -s 9 && exec sleep 60 ) 9>>.dsv/lock &
	holder=$!
	test_expect_success 'gc --dry-run runs beside a writer holding the store lock' '
		i=0 && while flock -n .dsv/lock true; do
			i=$((i + 1)) && test $i -lt 200 || return 1
			sleep 0.05
		done &&
		dsv gc --dry-run --grace 0 >out 2>err && test ! -s err &&
		grep -q "^would delete 0 unreachable" out
	'
	kill $holder && wait $holder 2>/dev/null
else
	test_skip 'gc --dry-run beside a writer' 'no flock(1)'
fi

# After deleting, gc rebuilds the index; the token cache must survive it,
# or every shard is encoded again and a running train loses its arrays.
test_expect_success 'gc keeps the token cache of the arrays it keeps' '
	dsv tokenizer train main --vocab 300 -o tok -q 2>/dev/null &&
	dsv tokenize main --tokenizer tok -q && : >marker &&
	echo "{\"text\": \"junk\"}" >junk.jsonl &&
	dsv commit -q junk.jsonl --branch junk -m junk &&
	dsv branch -d junk >/dev/null &&
	find .dsv/objects -type f -newer marker -exec touch -d "2 hours ago" {} + &&
	dsv gc >out && grep -q "deleted 1 unreachable" out &&
	dsv tokenize main --tokenizer tok --json >tj &&
	grep -q "\"shards\": 2, \"shards_cached\": 2," tj
'

# A train or export reads token arrays as it goes: gc keeps the arrays of
# the shards it keeps under a tokenizer a branch reaches, whatever their age.
test_expect_success 'gc keeps the token arrays of live shards and tokenizers' '
	dsv gc --grace 0 >out &&
	dsv tokenize main --tokenizer tok --json >tj &&
	grep -q "\"shards_cached\": 2, \"new_objects\": 0," tj &&
	dsv branch -d tok >/dev/null &&
	dsv gc --grace 0 >out && grep -q "deleted 2 unreachable" out &&
	dsv fsck | grep -q "^ok$"
'

# fsck while gc deletes: an object listed and then deleted is no damage.
# (The race needs many deletions; each round restores the same garbage.)
test_expect_success 'fsck while gc deletes unreachable objects passes' '
	for i in $(seq 1 60); do
		echo "{\"text\": \"garbage $i\"}" >g.jsonl &&
		dsv commit -q g.jsonl --branch g$i -m g &&
		dsv branch -d g$i >/dev/null || return 1
	done &&
	cp -a .dsv/objects objects.keep &&
	for round in 1 2 3 4 5 6; do
		rm -rf .dsv/objects && cp -a objects.keep .dsv/objects &&
		{ dsv fsck >fsck.out 2>&1 & pid=$!; } &&
		dsv gc --grace 0 >/dev/null && wait $pid &&
		grep -q "^ok$" fsck.out || { cat fsck.out; return 1; }
	done
'

test_done
