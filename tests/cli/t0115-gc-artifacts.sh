#!/bin/sh
# gc keeps what artifacts other than dataset versions need: a classifier's
# weights (named in its CLASSIFIER file), a model's weights and checkpoints
# (MODEL), and the checkpoints of an unfinished training run (.dsv/runs).
. "$(dirname "$0")/lib.sh"

dsv init -q .
python3 - <<'PY'
import json, random
rng = random.Random(7)
good = "the study finds clear evidence and careful analysis".split()
bad = "click buy now free cheap deal winner".split()
with open("labelled.jsonl", "w") as f:
    for i in range(200):
        lab = i % 2
        words = [rng.choice(good if lab else bad) for _ in range(30)]
        f.write(json.dumps({"text": " ".join(words), "label": lab}) + "\n")
PY
dsv commit labelled.jsonl -m labelled >/dev/null

weights_file() { # object id -> its path
	echo ".dsv/objects/$(echo "$1" | cut -c1-2)/$(echo "$1" | cut -c3-)"
}

test_expect_success 'gc keeps a classifier and its weights' '
	dsv classifier train main --label label -o clf >/dev/null &&
	w=$(git --git-dir .dsv/lineage show clf:CLASSIFIER | sed -n "s/^weights //p") &&
	test -f "$(weights_file $w)" &&
	dsv gc --grace 0 >/dev/null &&
	test -f "$(weights_file $w)" &&
	dsv derive annotate main --classifier clf --column quality -o scored -m s >/dev/null
'

test_expect_success 'gc keeps the checkpoints an unfinished run names' '
	printf "ckpt\n" >ckpt.txt &&
	dsv commit ckpt.txt --text-mode file --branch tmp -m tmp >/dev/null &&
	id=$(git --git-dir .dsv/lineage show tmp:MANIFEST | awk "/^shard /{print \$2}") &&
	dsv branch -d tmp >/dev/null &&
	mkdir -p .dsv/runs && printf "checkpoint %s\n" "$id" >.dsv/runs/unfinished &&
	dsv gc --grace 0 >/dev/null && test -f "$(weights_file $id)" &&
	rm .dsv/runs/unfinished && dsv gc --grace 0 >/dev/null &&
	! test -f "$(weights_file $id)"
'

# A run reads its version, tokenizer and validation version to the end,
# and its model names them as parents: the artifacts in its run file keep
# their objects even after their branch is deleted.
test_expect_success 'gc keeps the version an unfinished run trains on' '
	printf "run input\n" >input.txt &&
	dsv commit input.txt --text-mode file --branch input -m input >/dev/null &&
	aid=$(git --git-dir .dsv/lineage rev-parse input) &&
	id=$(git --git-dir .dsv/lineage show input:MANIFEST | awk "/^shard /{print \$2}") &&
	dsv branch -d input >/dev/null &&
	printf "rev %s\nconfig seed = 1\n" "$aid" >.dsv/runs/training &&
	dsv gc --grace 0 >/dev/null && test -f "$(weights_file $id)" &&
	dsv fsck | grep -q "^ok$" &&
	rm .dsv/runs/training && dsv gc --grace 0 >/dev/null &&
	! test -f "$(weights_file $id)"
'

test_expect_success 'fsck passes after gc' '
	dsv fsck | grep -q "^ok$"
'

# fsck checks those objects too: a model or classifier without its weights
# is damage, not "ok".
test_expect_success 'fsck names a classifier whose weights are missing' '
	w=$(git --git-dir .dsv/lineage show clf:CLASSIFIER | sed -n "s/^weights //p") &&
	mv "$(weights_file $w)" saved &&
	test_must_fail dsv fsck >out 2>/dev/null &&
	grep -q "^artifact [0-9a-f]*: object $w is missing" out &&
	mv saved "$(weights_file $w)" && dsv fsck | grep -q "^ok$"
'

# fsck and gc read CLASSIFIER with annotate's parser: a file it refuses is
# a bad artifact, and gc stops rather than guess what to keep.
test_expect_success 'fsck and gc refuse a CLASSIFIER with an unknown line' '
	G="git --git-dir .dsv/lineage" &&
	{ $G show clf:CLASSIFIER && echo "threshold 0.5"; } >bad &&
	blob=$($G hash-object -w bad) &&
	tree=$($G ls-tree clf | awk -F "\t" -v b="$blob" "BEGIN { OFS = FS }
		\$2 == \"CLASSIFIER\" { sub(/[0-9a-f]+\$/, b, \$1) } { print }" |
		$G mktree) &&
	c=$(echo bad | GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t \
		GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t \
		$G commit-tree "$tree" -p "$($G rev-parse clf^)") &&
	$G update-ref refs/heads/clf-bad "$c" &&
	test_must_fail dsv fsck >out 2>/dev/null &&
	grep -q "CLASSIFIER:5: unknown key" out &&
	test_must_fail dsv gc --grace 0 2>err &&
	grep -q "CLASSIFIER:5: unknown key" err &&
	$G update-ref -d refs/heads/clf-bad && dsv fsck | grep -q "^ok$"
'

test_done
