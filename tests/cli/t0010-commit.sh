#!/bin/sh
# commit, log, export: a version goes in and comes back byte for byte;
# content addressing shows in what a second commit stores.
. "$(dirname "$0")/lib.sh"

zcat "$DEMO/web-a.jsonl.gz" >web-a.jsonl
zstd -qdc "$DEMO/web-b.jsonl.zst" >web-b.jsonl
cp "$DEMO/web-a.jsonl.gz" web-a.jsonl.gz

test_expect_success 'init makes .dsv with a bare git lineage' '
	dsv init repo >out && grep -q "Initialized empty dsv repository" out &&
	test -d repo/.dsv/objects && test -d repo/.dsv/lineage &&
	git --git-dir repo/.dsv/lineage rev-parse --is-bare-repository | grep -q true
'

test_expect_success 'init creates missing parent directories, and says why it cannot' '
	dsv init -q deep/er/repo && test -d deep/er/repo/.dsv/lineage &&
	: >afile && test_must_fail dsv init afile/x 2>err &&
	grep -q "cannot create .afile/x.: Not a directory" err
'

test_expect_success 'init twice fails and keeps the repository' '
	test_must_fail dsv init repo 2>err && grep -q "error" err
'

cd repo

test_expect_success 'commit a .jsonl.gz file' '
	dsv commit ../web-a.jsonl.gz -m "web: first crawl" >out &&
	grep -q "\[main [0-9a-f]\{7\}\] web: first crawl" out &&
	grep -q "600 records" out
'

test_expect_success 'export gives the input back byte for byte' '
	dsv export main -o ../out.jsonl && test_cmp ../web-a.jsonl ../out.jsonl &&
	dsv export main >../out2.jsonl && test_cmp ../web-a.jsonl ../out2.jsonl
'

test_expect_success 'export -o writes through a FIFO or a symlink, not over it' '
	mkfifo ../fifo && { cat ../fifo >../fifo.out & } &&
	dsv export main -o ../fifo; test -p ../fifo || { kill $!; false; } &&
	wait &&
	test_cmp ../web-a.jsonl ../fifo.out &&
	: >../target && ln -s target ../link && dsv export main -o ../link &&
	test -L ../link && test_cmp ../web-a.jsonl ../target
'

test_expect_success 'export -o into a missing directory says why it fails' '
	test_must_fail dsv export main -o ../nodir/x.jsonl 2>err &&
	grep -q "cannot create .*nodir/x.jsonl.: No such file or directory" err
'

# SIGTERM: a background job of a script starts with SIGINT ignored; exec,
# so that $! is dsv under bash too
test_expect_success 'an export stopped by a signal leaves no file behind' '
	python3 -c "for i in range(300000): print(\"{\\\"text\\\": \\\"record %d\\\"}\" % i)" >../many.jsonl &&
	dsv commit ../many.jsonl -b many -m many -q && stopped=0 d=0 &&
	while [ $d -le 100 ]; do
		exec "$DSV" export many -o ../many-out.jsonl &
		pid=$!
		sleep "$(printf "0.%03d" $d)"
		kill -TERM $pid 2>/dev/null
		wait $pid && { test_cmp ../many.jsonl ../many-out.jsonl || exit 1; } ||
			stopped=$((stopped + 1))
		for f in ../many-out.jsonl.dsv-tmp.*; do
			test -e "$f" && { echo "stopped after $d ms: $f left"; exit 1; }
		done
		rm -f ../many-out.jsonl
		d=$((d + 10))
	done
	echo "  $stopped of 11 exports stopped" && test $stopped -gt 0
'

test_expect_success 'git log of the lineage shows the message' '
	git --git-dir .dsv/lineage log --oneline | grep -q "web: first crawl" &&
	git --git-dir .dsv/lineage show main:dsv.json | grep -q "\"ingest\"" &&
	git --git-dir .dsv/lineage show main:MANIFEST | grep -q "^shard "
'

test_expect_success 'committing the same data again stores nothing new' '
	dsv commit ../web-a.jsonl -m "again, uncompressed" >out &&
	grep -q " 0 new objects" out && grep -q "600 records already" out &&
	test "$(dsv ls main~1 --json | grep -c shard)" = "$(dsv ls main --json | grep -c shard)"
'

test_expect_success 'commit --append lists the old shards and the new ones' '
	dsv commit --append ../web-b.jsonl -m "web: second crawl" >out &&
	grep -q "100 records already" out && grep -q "1000 records in the version" out &&
	dsv ls main >ls && grep -q "1000 records" ls &&
	cat ../web-a.jsonl ../web-b.jsonl >../ab.jsonl &&
	dsv export main -o ../ab-out.jsonl && test_cmp ../ab.jsonl ../ab-out.jsonl
'

test_expect_success 'log shows every version, newest first; --json parses' '
	dsv log >out && grep -c "^commit " out | grep -q "^3$" &&
	head -1 out | grep -q "(HEAD -> main)" &&
	dsv log --json | python3 -c "import json,sys; d=json.load(sys.stdin); assert len(d)==3 and d[0][\"op\"]==\"commit\"" &&
	test "$(dsv log --oneline -n 1 | wc -l)" -eq 1 &&
	dsv log --oneline -n 0 >out && test ! -s out &&
	dsv log --oneline -2 >out && test "$(wc -l <out)" -eq 2 &&
	dsv log --oneline -n 2 >expect && test_cmp expect out
'

test_expect_success 'log --graph draws the lineage' '
	dsv log --graph >out && grep -q "^\* [0-9a-f]\{7\} (HEAD -> main) web: second crawl" out
'

test_expect_success 'revisions: main~1, tags, id prefixes' '
	dsv tag v1 main~1 && dsv tag | grep -qx v1 &&
	id=$(git --git-dir .dsv/lineage rev-parse main~2) &&
	dsv export $(echo $id | cut -c1-10) -o ../p.jsonl && test_cmp ../web-a.jsonl ../p.jsonl &&
	dsv export v1 -o ../v1.jsonl && test_cmp ../web-a.jsonl ../v1.jsonl &&
	test_must_fail dsv show nosuchrev 2>err && grep -q "unknown revision" err &&
	test_must_fail dsv export "" 2>err && grep -q "empty revision" err &&
	test_must_fail dsv show abc 2>err && grep -q "unknown revision .abc. (an id prefix needs 4" err
'

# Versions are multisets: web-b repeats 100 records of web-a, so the
# appended version holds a second copy of each and 400 records are added.
test_expect_success 'a name both a tag and a branch means the tag, with a warning' '
	dsv commit ../web-b.jsonl -b v1 -m "branch v1" -q &&
	dsv export v1~0 -o ../v1.jsonl 2>err && test_cmp ../web-a.jsonl ../v1.jsonl &&
	grep -q "warning: .v1. is both a tag and a branch: it names the tag (.heads/v1. names the branch)" err &&
	dsv export heads/v1 -o ../v1.jsonl 2>err && test_cmp ../web-b.jsonl ../v1.jsonl &&
	test ! -s err && dsv export main -o /dev/null 2>err && test ! -s err &&
	dsv branch -d v1
'

test_expect_success 'diff counts records added and removed by hash' '
	dsv diff main~1 main >out &&
	grep -q "^+ 400 records added" out && grep -q "^- 0 records removed" out &&
	grep -q "^  600 records in both" out &&
	dsv diff main main~1 --json | grep -q "\"removed\": 400" &&
	dsv diff --records main~1 main | grep -c "^+ [0-9a-f]\{32\}$" | grep -q "^400$"
'

test_expect_success 'diff A..B is diff A B; other commands refuse a range, saying so' '
	dsv diff main~1 main >expect && dsv diff main~1..main >out && test_cmp expect out &&
	dsv diff main~1.. >out && test_cmp expect out &&
	dsv diff main~1...main 2>err; test $? -eq 2 && grep -q "A...B is not taken" err &&
	test_must_fail dsv log main~1..main 2>err &&
	grep -q "error: .main~1..main. is a range: this command takes versions, not ranges" err
'

test_expect_success 'show and cat print the artifact and its records' '
	dsv show main >out && grep -q "\"op\": \"commit\"" out && grep -q "^--- MANIFEST" out &&
	dsv cat main --limit 3 >out && test $(wc -l <out) -eq 3 &&
	head -3 ../ab.jsonl >expect && test_cmp expect out
'

test_expect_success 'show prints the whole message, as log does' '
	dsv commit ../web-a.jsonl -b msg -m "$(printf "subject\n\nbody line")" >/dev/null &&
	dsv show msg >out && grep -qx "    subject" out && grep -qx "    body line" out &&
	dsv log -n 1 msg >out && grep -qx "    body line" out
'

test_expect_success 'commit --branch NEW starts a dataset of its own; with --append it continues HEAD' '
	zcat "$DEMO/books.jsonl.gz" >../books.jsonl &&
	dsv commit "$DEMO/books.jsonl.gz" --branch books -m books >out &&
	grep -q "\[books " out && dsv branch | grep -q "^  books" &&
	dsv branch | grep -q "^\* main" &&
	dsv export books -o ../b.jsonl && test_cmp ../books.jsonl ../b.jsonl &&
	test "$(git --git-dir .dsv/lineage rev-list --count books)" = 1 &&
	! git --git-dir .dsv/lineage show books:dsv.json | grep -q "\"previous\"" &&
	dsv audit books --json | python3 -c "import json, sys; assert len(json.load(sys.stdin)[\"ancestors\"]) == 1" &&
	dsv commit "$DEMO/books.jsonl.gz" --append --branch more -m more -q &&
	test "$(git --git-dir .dsv/lineage rev-parse more~1)" = "$(git --git-dir .dsv/lineage rev-parse main)" &&
	dsv export more | tail -n 4 | cmp - ../books.jsonl &&
	dsv branch -d more >/dev/null
'

test_expect_success 'log --all and log REV... walk from every branch and tag, each once' '
	git --git-dir .dsv/lineage log --format=%h --all | sort >expect &&
	dsv log --oneline --all | cut -c1-7 | sort >out && test_cmp expect out &&
	dsv log --oneline main books >out && grep -q "(books) books" out &&
	test "$(grep -c "web: first crawl" out)" -eq 1 &&
	dsv log --graph --all >out &&
	grep -Eq "^(\| )*\* [0-9a-f]{7} \(books\) books" out &&
	grep -Eq "^(\| )*\* [0-9a-f]{7} \(msg\) subject" out &&
	test_must_fail dsv log main nosuch 2>err && grep -q "unknown revision .nosuch." err
'

test_expect_success 'plain text in line, paragraph and file modes' '
	printf "one\ntwo\n\nthree\n" >../t.txt &&
	dsv commit ../t.txt --text-mode line --branch lines -m lines >/dev/null &&
	dsv export lines --format text >out && printf "one\ntwo\nthree\n" >expect && test_cmp expect out &&
	dsv commit ../t.txt --text-mode paragraph --branch paras -m paras >/dev/null &&
	dsv ls paras --json | python3 -c "import json,sys; assert sum(e[\"kept\"] for e in json.load(sys.stdin)) == 2" &&
	dsv cat paras --format text >out && printf "one\ntwo\nthree\n" >expect && test_cmp expect out &&
	dsv commit "$DEMO/shakespeare.txt" --branch play -m play >/dev/null &&
	dsv export play --format text -o ../play.txt && test_cmp "$DEMO/shakespeare.txt" ../play.txt &&
	printf "one\ntwo\n" | dsv commit - --text-mode line --branch piped -m piped >/dev/null &&
	dsv export piped --format text >out && printf "one\ntwo\n" >expect && test_cmp expect out &&
	printf "{\"text\":\"one\"}\n" | dsv commit - --branch pipedjson -m pipedjson >/dev/null &&
	dsv export pipedjson --format text >out && echo one >expect && test_cmp expect out
'

test_expect_success '--text-field picks another field' '
	printf "{\"body\": \"hello\", \"id\": 1}\n" >../f.jsonl &&
	dsv commit ../f.jsonl --text-field body --branch tf -m tf >/dev/null &&
	dsv export tf >out && test_cmp ../f.jsonl out &&
	test_must_fail dsv commit ../f.jsonl --branch tf2 -m x 2>err && grep -q "text" err
'

test_expect_success 'audit totals the ingest compute of the ancestry' '
	dsv audit main >out && grep -q "^ingest " out && grep -q "3 artifacts" out &&
	dsv audit main --json | python3 -c "import json,sys; d=json.load(sys.stdin); assert len(d[\"ancestors\"])==3; assert d[\"by_mode\"][\"ingest\"][\"wall_s\"] > 0"
'

test_expect_success 'fsck passes on a healthy repository' '
	dsv fsck >out && grep -q "^ok$" out
'

test_expect_success 'status names the branch and version; --json says the same' '
	dsv status >out && grep -q "On branch main" out && grep -q "1000 records" out &&
	dsv status --json | python3 -c "
import json, subprocess, sys
d = json.load(sys.stdin)
head = subprocess.check_output([\"git\", \"--git-dir\", \".dsv/lineage\", \"rev-parse\", \"main\"]).decode().strip()
assert (d[\"branch\"], d[\"detached\"]) == (\"main\", False), d
v = d[\"version\"]
assert v[\"artifact\"] == head and v[\"records\"] == 1000 and v[\"shards\"] >= 1, v
assert d[\"store\"][\"objects\"] > 0 and d[\"store\"][\"stored_bytes\"] > 0, d" &&
	test "$(dsv status --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\"version\"][\"summary\"])")" = \
		"$(git --git-dir .dsv/lineage log -1 --format=%s main)" &&
	mkdir st-empty && (cd st-empty && dsv init -q && dsv status --json) | python3 -c "
import json, sys
d = json.load(sys.stdin)
assert d[\"version\"] is None and d[\"store\"][\"objects\"] == 0, d"
'

test_expect_success 'switch makes a branch current; -c makes one first' '
	dsv switch books >out && grep -qx "Switched to branch .books." out &&
	dsv branch | grep -q "^\* books" && dsv status | grep -q "On branch books" &&
	dsv log --oneline -1 | grep -q "(HEAD -> books)" &&
	dsv switch -c from-main main >out &&
	grep -qx "Switched to a new branch .from-main." out &&
	test "$(git --git-dir .dsv/lineage rev-parse HEAD)" = "$(git --git-dir .dsv/lineage rev-parse main)" &&
	test_must_fail dsv switch nosuch 2>err && grep -q "no branch .nosuch." err &&
	dsv tag sw-tag main && test_must_fail dsv switch sw-tag 2>err &&
	grep -q "not a branch (.dsv switch -c NEW sw-tag. makes one there)" err &&
	test_must_fail dsv switch -c books 2>err && grep -q "already exists" err &&
	{ dsv switch 2>err; test $? -eq 2; } &&
	dsv switch main >/dev/null && dsv branch -d from-main >/dev/null &&
	dsv tag -d sw-tag >/dev/null &&
	dsv status | grep -q "On branch main"
'

test_expect_success '--json escapes names: a branch named a"b' '
	dsv commit "$DEMO/web-a.jsonl.gz" -m q -b "a\"b" --json >q.json &&
	grep -q "\"branch\": \"a\\\\\"b\"" q.json &&
	dsv branch --json | grep -q "\"name\": \"a\\\\\"b\""
'

test_expect_success 'a branch or tag named @ (HEAD as a revision) is refused' '
	test_must_fail dsv branch @ 2>err && grep -q "invalid name" err &&
	test_must_fail dsv tag @ 2>err && grep -q "invalid name" err &&
	test_must_fail dsv commit "$DEMO/web-a.jsonl.gz" -m q -b @ 2>err &&
	! dsv branch | grep -q "@"
'

test_expect_success 'reals in --json output keep the digits dsv.json has' '
	dsv log --json -n 1 >out && grep -q "\"wall_s\": " out &&
	! grep -Eq "[0-9]\.[0-9]{16}" out
'

# Objects are made with mkostemp (mode 0600); they take the mode any file
# gets under the umask, so a repository shared through a group or published
# read-only is readable by those it is shared with.
test_expect_success 'objects follow the umask, not mkostemp' '
	mkdir um && (cd um && umask 027 && dsv init -q . &&
		echo "{\"text\": \"umask\"}" >u.jsonl && dsv commit -q u.jsonl -m u &&
		find .dsv/objects -type f | xargs ls -l >modes) &&
	test -s um/modes && ! grep -v "^-rw-r----- " um/modes
'

test_done
