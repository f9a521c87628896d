#!/bin/sh
# A 100-version history, each version 1% changed from the previous: the last
# version exports exactly, before and after dsv repack, and the threshold
# repacks sparse shards on its own as the history grows.
. "$(dirname "$0")/lib.sh"

python3 "$TOP/tests/corpus.py" make --mb 1 -o v0.jsonl 2>/dev/null
dsv init -q repo && cd repo
dsv commit -q ../v0.jsonl -m v0

test_expect_success '100 successive 1% versions all commit' '
	i=1; prev=../v0.jsonl
	while [ $i -le 100 ]; do
		python3 "$TOP/tests/corpus.py" mutate $prev ../v$i.jsonl --seed $i 2>/dev/null &&
		dsv commit -q ../v$i.jsonl -m v$i || exit 1
		prev=../v$i.jsonl; i=$((i + 1))
	done
	test "$(git --git-dir .dsv/lineage rev-list --count main)" = 101
'

test_expect_success 'the last and a middle version export exactly' '
	dsv export main -o ../last.jsonl && test_cmp ../v100.jsonl ../last.jsonl &&
	dsv export main~50 -o ../mid.jsonl && test_cmp ../v50.jsonl ../mid.jsonl
'

test_expect_success 'the threshold repacked sparse shards along the way' '
	git --git-dir .dsv/lineage log --format=%B main | grep -q . &&
	for c in $(git --git-dir .dsv/lineage rev-list main); do
		git --git-dir .dsv/lineage show $c:dsv.json; done | grep -q "records_repacked"
'

test_expect_success 'repack writes dense shards and exports the same bytes' '
	dsv repack main >out && grep -q "rewritten into dense shards" out &&
	! git --git-dir .dsv/lineage show main:MANIFEST | grep -q "^order \|sel=" &&
	git --git-dir .dsv/lineage show main:dsv.json | grep -q "\"op\": \"repack\"" &&
	dsv export main -o ../packed.jsonl && test_cmp ../v100.jsonl ../packed.jsonl &&
	dsv diff main~1 main --json | grep -q "\"added\": 0, \"added_bytes\": 0, \"removed\": 0"
'

test_expect_success 'repack run again records nothing' '
	before=$(git --git-dir .dsv/lineage rev-parse main) &&
	dsv repack main >out && grep -q "nothing to repack" out &&
	test "$(git --git-dir .dsv/lineage rev-parse main)" = "$before"
'

test_expect_success 'repack of a dense version onto a new branch makes the branch, no commit' '
	G="git --git-dir .dsv/lineage" &&
	at=$($G rev-parse main) && n=$($G rev-list --all --count) &&
	dsv repack main --branch dense >out &&
	grep -qx "nothing to repack: .main. is dense already" out &&
	grep -qx "branch .dense. created at $($G rev-parse --short=7 main)" out &&
	test "$($G rev-parse dense)" = "$at" &&
	dsv repack main -b dense2 -q >out && test ! -s out &&
	test "$($G rev-parse dense2)" = "$at" &&
	test "$($G rev-list --all --count)" = "$n" &&
	dsv repack dense >out && ! grep -q "created" out
'

test_expect_success 'repack of a tag onto a new branch; fsck passes' '
	dsv tag old main~60 && # v41: main itself is the repack commit
	test_must_fail dsv repack old 2>err && grep -q "not a branch" err &&
	test_must_fail dsv repack old --branch main 2>err && grep -q "is at" err &&
	dsv repack old --branch packed-old -q &&
	dsv export packed-old | cmp - ../v41.jsonl &&
	dsv fsck | grep -q "^ok$"
'

test_done
