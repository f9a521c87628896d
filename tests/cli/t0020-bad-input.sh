#!/bin/sh
# Bad input gets a clear error naming file, line and column, and the
# repository stays exactly as it was; --skip-bad commits the good records.
. "$(dirname "$0")/lib.sh"

dsv init -q . && zcat "$DEMO/web-a.jsonl.gz" >good.jsonl
dsv commit good.jsonl -m base >/dev/null
before=$(git --git-dir .dsv/lineage rev-parse main)

head -5 good.jsonl >bad.jsonl
printf '{"text": "ok", "id": 1 "x": 2}\n' >>bad.jsonl
head -3 good.jsonl >>bad.jsonl

test_expect_success 'malformed JSON names file, line and column; exit 1' '
	dsv commit bad.jsonl -m bad 2>err; test $? -eq 1 &&
	grep -q "^dsv: error: .bad.jsonl.:6:24: " err
'

test_expect_success 'after the failure the branch has not moved and fsck passes' '
	test "$(git --git-dir .dsv/lineage rev-parse main)" = "$before" &&
	dsv fsck >out && grep -q "^ok$" out &&
	dsv export main -o out.jsonl && test_cmp good.jsonl out.jsonl
'

test_expect_success 'a missing text field, a non-string text, invalid UTF-8' '
	printf "{\"body\": \"x\"}\n" >a.jsonl &&
	test_must_fail dsv commit a.jsonl -m x 2>err && grep -q "a.jsonl.:1:" err &&
	grep -q "no \"text\" field (--text-field names" err &&
	test_must_fail dsv commit a.jsonl --text-field content -m x 2>err &&
	grep -q "no \"content\" field" err &&
	printf "{\"text\": 5}\n" >b.jsonl &&
	test_must_fail dsv commit b.jsonl -m x 2>err && grep -q "b.jsonl.:1:" err &&
	printf "{\"text\": \"caf\\351\"}\n" >c.jsonl &&
	test_must_fail dsv commit c.jsonl -m x 2>err && grep -q "c.jsonl.:1:" err &&
	test "$(git --git-dir .dsv/lineage rev-parse main)" = "$before"
'

test_expect_success 'a missing file is an error that names it' '
	test_must_fail dsv commit nosuch.jsonl -m x 2>err && grep -q "nosuch.jsonl" err
'

test_expect_success 'a directory is an error that says how to name its files' '
	mkdir -p corpus && cp good.jsonl corpus/ &&
	test_must_fail dsv commit good.jsonl corpus/ -m x 2>err &&
	grep -q "error: .corpus/. is a directory: name its files (.corpus/\*.jsonl.gz.)" err &&
	test "$(git --git-dir .dsv/lineage rev-parse main)" = "$before"
'

test_expect_success '--skip-bad commits the good records and records the bad ones' '
	dsv commit --skip-bad bad.jsonl -m skip >out &&
	grep -q "1 bad record skipped" out &&
	git --git-dir .dsv/lineage show main:dsv.json >dj &&
	grep -q "\"records_bad\": 1" dj && grep -q "bad.jsonl.:6:24" dj &&
	dsv ls main | grep -q " 8 records"
'

test_expect_success 'a commit with no records is refused' '
	: >empty.jsonl && test_must_fail dsv commit empty.jsonl -m none 2>err &&
	grep -q "nothing to commit" err
'

test_expect_success 'a message is required; bad options are usage errors' '
	dsv commit good.jsonl 2>err; test $? -eq 2 && grep -q "message" err &&
	dsv commit good.jsonl -m x --level 99 2>err; test $? -eq 2 &&
	dsv commit good.jsonl -m x --text-mode words 2>err; test $? -eq 2
'

test_expect_success '--level takes the levels compression.level takes, fast ones too' '
	dsv commit good.jsonl -m fast --level -5 -b fast >/dev/null &&
	dsv export fast -o fast.jsonl && test_cmp good.jsonl fast.jsonl &&
	dsv commit good.jsonl -m x --level -8 2>err; test $? -eq 2 &&
	grep -q -- "-7..22" err
'

test_expect_success 'a bad compression setting is an error, not the default' '
	cp .dsv/config config.good &&
	for v in 30 -8 abc "" 99999999999999999999; do
		cp config.good .dsv/config &&
		printf "compression.level = %s\n" "$v" >>.dsv/config &&
		test_must_fail dsv log -n 1 2>err &&
		grep -q "config.: compression.level = .$v.: expected an integer -7..22" err ||
		exit 1
	done &&
	cp config.good .dsv/config && echo "compression.window = 28" >>.dsv/config &&
	test_must_fail dsv commit good.jsonl -m w 2>err &&
	grep -q "compression.window = .28.: expected an integer 0..27" err &&
	cp config.good .dsv/config && echo "compression.window = 0" >>.dsv/config &&
	dsv commit good.jsonl -m w -b nolong -q &&
	cp config.good .dsv/config
'

test_done
