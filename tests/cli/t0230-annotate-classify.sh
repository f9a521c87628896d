#!/bin/sh
# derive annotate --stats (columns that filter --where reads), dsv classifier
# train (a classifier artifact with its weights object, held-out accuracy
# and ROC AUC on the DCLM human quality fixture) and annotate --classifier.
. "$(dirname "$0")/lib.sh"

Q="$FIXTURES/quality/dclm_human_quality_train.jsonl.gz"
G="git --git-dir .dsv/lineage"
printf '%s\n' '{"text":"one two three","label":1}' '{"text":"four five","label":0}' \
	'{"text":"six","label":"maybe"}' >badlabel.jsonl
printf '%s\n' '{"text":"good words here","y":1}' '{"text":"bad","y":0}' >nolabel.jsonl
for i in 1 2 3 4 5 6; do
	printf '{"text":"clear useful words about topic %s","labels":{"q":1}}\n' $i
	printf '{"text":"spam click buy now %s","labels":{"q":0}}\n' $i
done >nested.jsonl

dsv init -q repo >/dev/null && cd repo || exit 1
dsv commit -b small ../nolabel.jsonl -m small -q

test_expect_success 'annotate --stats writes the statistics columns' '
	dsv derive annotate small --stats -o st -m "stats" >out &&
	grep -q "2 of 2 records kept" out &&
	m=$($G show st:MANIFEST) &&
	for c in words chars lines mean_word_length alpha_ratio symbol_ratio \
		 stop_words dup_line_frac dup_5gram_frac; do
		printf "%s\n" "$m" | grep -q " col\.$c=[0-9a-f]\{64\}" || exit 1
	done &&
	$G show st:dsv.json | grep -q "\"selection\""
'

test_expect_success 'filter --where reads the statistics columns' '
	dsv derive filter st --where "words >= 3" -o st3 -m "3 words" >out &&
	grep -q "1 of 2 records kept" out &&
	dsv export st3 | grep -q "good words here"
'

test_expect_success 'a label that is not 0/1 is an error naming the record' '
	dsv commit -b bad ../badlabel.jsonl -m bad -q &&
	test_must_fail dsv classifier train bad --label label -o c0 2>err &&
	grep -q "record 3" err && grep -q "maybe" err &&
	test_must_fail dsv classifier train bad --label nosuch -o c0 2>err &&
	grep -q "no label field .nosuch." err &&
	test_must_fail $G rev-parse --verify -q c0
'

test_expect_success 'a nested label field is named with a dotted path' '
	dsv commit -b nested ../nested.jsonl -m nested -q &&
	dsv classifier train nested --label labels.q -o cn >out &&
	grep -q "12 records (6 positive)" out &&
	test_must_fail dsv classifier train nested --label labels.r -o cn2 2>err &&
	grep -q "no label field .labels.r." err
'

test_expect_success 'a 64-bit integer in the meta does not hide the label' '
	printf "{\"text\":\"spam %s\",\"id\":18446744073709551615,\"labels\":{\"q\":0}}\n" 1 2 >big.jsonl &&
	cat ../nested.jsonl big.jsonl >bigl.jsonl &&
	dsv commit -b bigl bigl.jsonl -m bigl -q &&
	dsv classifier train bigl --label labels.q -o cb >out &&
	grep -q "14 records (6 positive)" out
'

test_expect_success 'classifier train on a version that starts with an empty text' '
	{ echo "{\"text\":\"\",\"labels\":{\"q\":0}}"; cat ../nested.jsonl; } >emptyfirst.jsonl &&
	dsv commit -b ef emptyfirst.jsonl -m ef -q &&
	dsv classifier train ef --label labels.q -o cef >out &&
	grep -q "13 records (6 positive)" out
'

test_expect_success 'annotate --classifier counts the inference FLOPs' '
	dsv derive annotate nested --classifier cn -o na -m na -q &&
	$G show na:dsv.json | grep -q "\"flops\": [1-9]"
'

test_expect_success 'annotate --classifier refuses to replace a column without a word' '
	test_must_fail dsv derive annotate na --classifier cn -o x -m x 2>err &&
	grep -q "^dsv: error: .na. has a column .quality. already (name another with --column)" err &&
	test_must_fail $G rev-parse --verify -q x &&
	dsv derive annotate na --classifier cn --column quality2 -o na2 -m na2 -q
'

test_expect_success 'annotate needs one of --stats, --classifier' '
	dsv derive annotate small -o x -m x 2>err; test $? -eq 2 &&
	test_must_fail dsv derive annotate small --classifier small -o x -m x 2>err &&
	grep -q "not a classifier" err
'

test_expect_success 'annotate --column refuses a name filter --where cannot read as the column' '
	for c in text_bytes meta.score true 1st -x "a b"; do
		dsv derive annotate nested --classifier cn --column "$c" -o x -m x 2>err
		test $? -eq 2 && grep -q "^dsv: error: --column: .*$c" err || exit 1
	done &&
	test_must_fail $G rev-parse --verify -q x &&
	dsv derive annotate nested --classifier cn --column q_2.v-1 -o nq -m nq -q &&
	dsv derive filter nq --where "q_2.v-1 >= 0.5" -o nq5 -m nq5 -q
'

if [ -f "$Q" ]; then
	test_expect_success 'classifier train on the DCLM quality labels' '
		dsv commit -b q "$Q" -m "dclm quality" -q &&
		dsv classifier train q --label label -o qc --seed 1 --valid 0.2 >../train.out &&
		grep -q "240 train, 60 held out" ../train.out &&
		$G show qc:dsv.json | grep -q "\"kind\": \"classifier\"" &&
		$G show qc:dsv.json | grep -q "\"selection\"" &&
		$G show qc:CLASSIFIER | grep -q "^weights [0-9a-f]\{64\}$" &&
		test "$($G rev-parse qc^)" = "$($G rev-parse q)" &&
		dsv fsck >/dev/null
	'
	sed -n "s/^ held-out/  result classifier (dclm quality, seed 1, 80\/20): held-out/p" ../train.out
	test_expect_success 'the held-out metrics beat chance' '
		acc=$($G show qc:dsv.json | sed -n "s/.*\"valid_accuracy\": \([0-9.]*\).*/\1/p") &&
		auc=$($G show qc:dsv.json | sed -n "s/.*\"valid_roc_auc\": \([0-9.]*\).*/\1/p") &&
		awk -v a="$acc" -v u="$auc" "BEGIN { exit !(a > 0.6 && u > 0.7) }"
	'
	test_expect_success 'training is deterministic for a seed' '
		dsv classifier train q --label label -o qc2 --seed 1 -q &&
		test "$($G show qc:CLASSIFIER)" = "$($G show qc2:CLASSIFIER)"
	'
	test_expect_success 'annotate --classifier writes the score; the classifier is a parent' '
		dsv derive annotate q --classifier qc --column quality -o qa -m "scored" >out &&
		$G show qa:MANIFEST | grep -q " col\.quality=[0-9a-f]\{64\}" &&
		test "$($G rev-parse qa^2)" = "$($G rev-parse qc)" &&
		dsv derive filter qa --where "quality > 0.5" -o qhi -m "high" >out &&
		grep -q "records kept" out
	'
else
	test_skip 'classifier on the DCLM quality fixture' 'no fixture'
fi

test_done
