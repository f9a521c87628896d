#!/bin/sh
# derive filter: datatrove's rule sets on the web fixtures (records kept per
# rule set against the stored datatrove decisions), --where over columns,
# meta fields and text length, the errors that point into the expression,
# and the size of a view.
. "$(dirname "$0")/lib.sh"

REF="$TOP/tests/ref/datatrove_decisions.tsv"
if ! have_fixtures || [ ! -f "$REF" ]; then
	test_skip 'filter on the web fixtures' 'no ../shared/fixtures/web or stored datatrove decisions'
	exit 0
fi
dsv init -q repo && cd repo
files=$(ls "$FIXTURES"/web/*.jsonl.gz | sort)
dsv commit $files -m "web fixtures" >/dev/null
git_() { git --git-dir .dsv/lineage "$@"; }
stat_() { git_ show "$1:dsv.json" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"stats\"][\"$2\"])"; }

# datatrove keeps this many of the fixtures under one rule set (column $1)
dt_kept() { awk -F'\t' -v c="$1" 'NR > 1 && $c == "keep"' "$REF" | wc -l; }

col=3
for set in gopher-quality gopher-repetition c4 fineweb; do
	test_expect_success "--rules $set keeps what datatrove keeps (within 1%)" '
		dsv derive filter main -o $set -m $set --rules $set >out &&
		kept=$(stat_ $set records_out) && want=$(dt_kept '$col') &&
		echo "  result $set: dsv keeps $kept, datatrove $want of $(stat_ $set records_in)" &&
		python3 -c "import sys; k, w = $kept, $want; sys.exit(0 if abs(k - w) <= 0.01 * w else 1)"
	'
	col=$((col + 1))
done

test_expect_success 'the drop reasons are datatrove strings, counted in dsv.json' '
	git_ show gopher-quality:dsv.json | python3 -c "
import json, sys
d = json.load(sys.stdin); s = d[\"stats\"]
assert \"gopher_short_doc\" in s[\"dropped\"] and \"gopher_below_alpha_threshold\" in s[\"dropped\"]
assert s[\"records_in\"] - s[\"records_out\"] == sum(v[\"records\"] for v in s[\"dropped\"].values())
assert d[\"params\"][\"thresholds\"][\"gopher-quality\"][\"min_doc_words\"] == 50
assert d[\"compute\"][\"mode\"] == \"selection\" and d[\"compute\"][\"cpu_s\"] > 0
"
'

test_expect_success 'all four rule sets chain: a record goes for the first rule it fails' '
	dsv derive filter main -o all4 -m all4 --rules gopher-quality,gopher-repetition,c4,fineweb >out &&
	grep -q "gopher_short_doc" out &&
	test $(stat_ all4 records_out) -le $(stat_ c4 records_out) &&
	test $(stat_ all4 records_out) -le $(stat_ gopher-quality records_out)
'

test_expect_success 'a reason name two rule sets share (empty) keeps each set'"'"'s reasons right' '
	dsv derive filter main -o rep-fw -m rep-fw --rules gopher-repetition,fineweb >/dev/null &&
	git_ show gopher-repetition:dsv.json >rep.json && git_ show rep-fw:dsv.json >both.json &&
	python3 -c "
import json
one = json.load(open(\"rep.json\"))[\"stats\"][\"dropped\"]
two = json.load(open(\"both.json\"))[\"stats\"][\"dropped\"]
for r, v in one.items():
    assert two[r][\"records\"] == v[\"records\"], (r, v, two[r])
fw = [\"line_punct_ratio\", \"short_line_ratio\", \"char_dup_ratio\", \"list_ratio\"]
assert sum(two[r][\"records\"] for r in fw) > 0, two
"
'

test_expect_success 'a filtered view adds well under 1% of the stored bytes' '
	before=$(du -sb .dsv/objects | cut -f1) &&
	dsv derive filter main -o view -m view --rules fineweb,c4 >/dev/null &&
	after=$(du -sb .dsv/objects | cut -f1) &&
	echo "  result view: $((after - before)) new bytes over $before" &&
	test $(( (after - before) * 100 )) -lt $before
'

test_expect_success '--where over text length and meta fields' '
	dsv derive filter main -o owt -m owt --where "meta.id >= \"owt-\" && meta.id < \"owt.\"" >/dev/null &&
	test $(stat_ owt records_out) = $(zcat $files | grep -c "\"id\": *\"owt-") &&
	dsv derive filter main -o kent -m kent --where "meta.url == \"https://www.kentlive.news/news/sevenoaks-mum-who-died-after-2582402\"" >/dev/null &&
	test $(stat_ kent records_out) = 2 &&
	dsv derive filter main -o long -m long --where "text_bytes > 5000 || !(meta.source != \"test_gz\")" >/dev/null &&
	test $(stat_ long records_out) -gt 697
'

test_expect_success '--where: a parenthesised value compares as the value, not its truth' '
	dsv derive filter main -o paren -m paren --where "(text_bytes) > 5000 && (meta.source) != \"x\"" >/dev/null &&
	dsv derive filter main -o noparen -m noparen --where "text_bytes > 5000 && meta.source != \"x\"" >/dev/null &&
	test $(stat_ paren records_out) = $(stat_ noparen records_out) &&
	test $(stat_ paren records_out) -gt 0
'

test_expect_success '--where names a meta field with non-ASCII letters' '
	printf "%s\n" "{\"text\":\"a\",\"d\\u00e9tail\":\"x\"}" "{\"text\":\"b\",\"d\\u00e9tail\":\"y\"}" >../u.jsonl &&
	dsv commit -q -b uni ../u.jsonl -m uni &&
	dsv derive filter uni -o uni-x -m x --where "meta.détail == \"x\"" >/dev/null &&
	test "$(dsv export uni-x | wc -l)" = 1 &&
	dsv export uni-x | grep -q "\"text\": *\"a\"" &&
	test_must_fail dsv derive filter uni -o uni-y -m y --where "text_bytes > 0 é" 2>err &&
	grep -q "unexpected .é. after" err
'

test_expect_success '--where names a meta key that holds dots, and nested fields' '
	printf "%s\n" "{\"text\":\"a\",\"warc.lang\":\"en\"}" "{\"text\":\"b\",\"warc\":{\"lang\":\"en\"}}" \
		"{\"text\":\"c\",\"warc.lang\":\"fr\"}" >../dots.jsonl &&
	dsv commit -q -b dots ../dots.jsonl -m dots &&
	dsv derive filter dots -o dots-en -m en --where "meta.warc.lang == \"en\"" >/dev/null &&
	test "$(dsv export dots-en | wc -l)" = 2
'

test_expect_success '--where: the text field is not a meta field' '
	printf "%s\n" "{\"text\":\"\",\"id\":1}" "{\"text\":\"x\",\"id\":2}" >../tm.jsonl &&
	dsv commit -q -b tm ../tm.jsonl -m tm &&
	dsv derive filter tm -o tm-x -m x --where "meta.text == \"\" || meta.id == 3" >out &&
	grep -q "0 of 2 records kept" out
'

test_expect_success '--where compares JSON booleans with true and false' '
	printf "%s\n" "{\"text\":\"a\",\"ok\":true}" "{\"text\":\"b\",\"ok\":false}" "{\"text\":\"c\"}" >../bool.jsonl &&
	dsv commit -q -b bools ../bool.jsonl -m bools &&
	dsv derive filter bools -o bools-t -m t --where "meta.ok == true" >/dev/null &&
	dsv export bools-t | grep -q "\"text\": *\"a\"" && test "$(dsv export bools-t | wc -l)" = 1 &&
	dsv derive filter bools -o bools-f -m f --where "meta.ok == false" >/dev/null &&
	dsv export bools-f | grep -q "\"text\": *\"b\"" && test "$(dsv export bools-f | wc -l)" = 1
'

test_expect_success '--where reads meta with a 64-bit integer or \u0000; other unreadable meta is an error' '
	printf "%s\n" "{\"text\":\"a\",\"id\":18446744073709551615,\"lang\":\"en\"}" \
		"{\"text\":\"b\",\"n\":\"a\\u0000b\",\"lang\":\"en\"}" "{\"text\":\"c\",\"lang\":\"fr\"}" >../big.jsonl &&
	dsv commit -q -b big ../big.jsonl -m big &&
	dsv derive filter big -o big-en -m en --where "meta.lang == \"en\"" >/dev/null &&
	test "$(dsv export big-en | wc -l)" = 2 &&
	dsv derive filter big -o big-id -m id --where "meta.id > 1e19" >/dev/null &&
	test "$(dsv export big-id | wc -l)" = 1 &&
	printf "%s\n" "{\"text\":\"d\",\"x\":1e400}" >../huge.jsonl &&
	dsv commit -q -b huge ../huge.jsonl -m huge &&
	test_must_fail dsv derive filter huge -o huge-x -m x --where "meta.x > 0" 2>err &&
	grep -q "row 0: meta: real number overflow" err &&
	test_must_fail git_ rev-parse -q --verify refs/heads/huge-x
'

test_expect_success '--where over a column of the version; --rules and --where together' '
	dsv derive filter c4 -o c4-again -m again --where "reason == 0" >out &&
	test $(stat_ c4-again records_out) = $(stat_ c4 records_out) &&
	dsv derive filter main -o both -m both --rules c4 --where "text_bytes < 3000" >out &&
	grep -q "too_few_sentences" out && grep -q "where" out &&
	git_ show both:dsv.json | grep -q "\"where\": \"text_bytes < 3000\""
'

test_expect_success '--where: reason is 0 where no filter dropped anything' '
	printf "%s\n" "{\"text\":\"\"}" "{\"text\":\"x\"}" >../one-empty.jsonl &&
	dsv commit -q -b oe ../one-empty.jsonl -m oe &&
	dsv derive mix uni:1 oe:1 -o two -m two -q &&
	dsv derive filter two -o two-f -m f --where "text_bytes > 0" -q &&
	test "$(git_ show two-f:MANIFEST | grep -c "col.reason=")" = 1 &&
	dsv derive filter two-f -o two-r -m r --where "reason == 0" >out &&
	grep -q "3 of 3 records kept" out &&
	dsv derive filter oe -o oe-r -m r --where "reason == 0" >out &&
	grep -q "2 of 2 records kept" out
'

test_expect_success 'a bad expression points at the column, exit 1, nothing committed' '
	test_must_fail dsv derive filter main -o bad -m bad --where "qualty > 0.5" 2>err &&
	printf "%s\n" "dsv: error: --where: unknown column '"'"'qualty'"'"' at 1:1" "    qualty > 0.5" "    ^" >expect &&
	test_cmp expect err &&
	test_must_fail dsv derive filter main -o bad -m bad --where "text_bytes > 1 && wrods < 3" 2>err &&
	grep -q "unknown column .wrods. at 1:19" err && tail -1 err | grep -q "^                      ^$" &&
	test_must_fail dsv derive filter main -o bad -m bad --where "text_bytes = 1" 2>err &&
	grep -q "unknown operator" err &&
	test_must_fail dsv derive filter main -o bad -m bad --where "(text_bytes > 1" 2>err &&
	grep -q "unbalanced" err &&
	test_must_fail dsv derive filter main -o bad -m bad --rules gopher,c4 2>err &&
	grep -q "unknown rule set .gopher." err &&
	dsv derive filter main -o bad -m bad 2>err; test $? -eq 2 && grep -q "give --rules or --where" err &&
	long=meta.$(printf "%0130d" 0) &&
	test_must_fail dsv derive filter main -o bad -m bad --where "$long == 1" 2>err &&
	grep -q "name too long (135 bytes)" err &&
	many=$(i=0; while [ $i -lt 70 ]; do printf "meta.f$i == 1 || "; i=$((i + 1)); done) &&
	test_must_fail dsv derive filter main -o bad -m bad --where "${many}text_bytes > 0" 2>err &&
	grep -q "too many names in one expression at .meta.f64. at 1:" err &&
	test_must_fail git_ rev-parse -q --verify refs/heads/bad
'

test_done
