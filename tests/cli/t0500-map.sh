#!/bin/sh
# t0500-map.sh: derive map: records through an external program, order with
# -j, crashes, hangs, garbage and blank answers, reported compute.
. "$(dirname "$0")/lib.sh"

dsv init >/dev/null && dsv commit "$DEMO/web-a.jsonl.gz" -m web -q
dsv export main >in.jsonl

test_expect_success 'map through cat keeps every record byte for byte' '
	dsv derive map main --cmd cat -o same -m same -q &&
	dsv export same >out.jsonl && test_cmp in.jsonl out.jsonl
'

test_expect_success 'map -j 4 keeps the input order' '
	dsv derive map main --cmd cat -j 4 -o same4 -m same4 -q &&
	dsv export same4 >out4.jsonl && test_cmp in.jsonl out4.jsonl
'

test_expect_success 'map writes source columns and names its parent' '
	dsv show same >show.txt &&
	grep -q "col.source=" show.txt && grep -q "col.source_row=" show.txt &&
	grep -q "\"op\": \"map\"" show.txt &&
	grep -q "\"mode\": \"transformation\"" show.txt &&
	test "$(git --git-dir .dsv/lineage log -1 --format=%P same)" = \
	     "$(git --git-dir .dsv/lineage rev-parse main)"
'

if command -v jq >/dev/null; then
test_expect_success 'map transforms texts (upper case through jq)' '
	dsv derive map main --cmd "jq -c \".text |= ascii_upcase\"" -o up -m up -q &&
	dsv export up | jq -r .text >up.txt &&
	jq -r ".text | ascii_upcase" in.jsonl >want.txt && test_cmp want.txt up.txt
'
else
test_skip 'map transforms texts (upper case through jq)' 'no jq'
fi

test_expect_success 'the program holds none of the repository'"'"'s files open' '
	dsv derive map main --cmd "ls -l /proc/self/fd/ >>fds.txt; cat" -o fds -m fds -q &&
	test -s fds.txt && ! grep -q "\.dsv/" fds.txt
'

test_expect_success 'a program that writes garbage: error names the record, no commit' '
	test_must_fail dsv derive map main --cmd "sed 5s/.*/garbage/" -o g -m g 2>err &&
	grep -q "record 5 (hash [0-9a-f]*)" err && grep -q "not a JSON object" err &&
	test_must_fail dsv show g
'

printf 's/"text":"/"text":"\377/' >badutf8.sed
test_expect_success 'an answer with invalid UTF-8: the error says so and where' '
	test_must_fail dsv derive map main --cmd "sed 4s/.*/[1]/" -o g -m g 2>err &&
	grep -q "record 4 .*not a JSON object with a string \"text\" (col 1: " err &&
	test_must_fail dsv derive map main --cmd "sed -f badutf8.sed" -o g -m g 2>err &&
	grep -q "record 1 .*(col 10: invalid UTF-8)" err && test_must_fail dsv show g
'

test_expect_success '--skip-bad counts and lists the garbage record' '
	dsv derive map main --cmd "sed 5s/.*/garbage/" --skip-bad -o g2 -m g2 -q &&
	dsv show g2 >show.txt &&
	grep -q "\"records_failed\": 1" show.txt && grep -q "\"record\": 5" show.txt &&
	test "$(dsv export g2 | wc -l)" -eq 599
'

cat >nostdin.sh <<'PROG'
#!/bin/sh
# answers 600 records without reading one (stdin closed), garbage for 590
exec 0<&-
i=1
while [ $i -le 600 ]; do
	if [ $i = "${GARBAGE_AT:-0}" ]; then echo garbage; else echo "{\"text\":\"n$i\"}"; fi
	i=$((i + 1))
done
PROG
chmod +x nostdin.sh

test_expect_success 'answers to records not yet sent keep their source hash' '
	dsv derive map main --cmd ./nostdin.sh -o ns -m ns -q &&
	dsv derive filter ns --where "source == 0" -o ns0 -m ns0 -q &&
	dsv show ns0 | grep -q "\"records\": 0," &&
	test_must_fail dsv derive map main --cmd "sed 590s/.*/garbage/" -o g -m g 2>want &&
	GARBAGE_AT=590 test_must_fail dsv derive map main --cmd ./nostdin.sh -o g -m g 2>got &&
	grep -o "record 590 (hash [0-9a-f]*)" want >want.name &&
	grep -o "record 590 (hash [0-9a-f]*)" got >got.name &&
	test_cmp want.name got.name
'

test_expect_success 'a blank answer drops the record' '
	dsv derive map main --cmd "sed 3s/.*//" -o b -m b -q &&
	dsv show b | grep -q "\"records_dropped\": 1" &&
	sed 3d in.jsonl >want.jsonl && dsv export b >got.jsonl && test_cmp want.jsonl got.jsonl
'

cat >crash.sh <<'PROG'
#!/bin/sh
# copies its input, and dies on the seventh record of the version
while IFS= read -r l; do
	case "$l" in *"$CRASH_ON"*) exit 3;; esac
	printf '%s\n' "$l"
done
PROG
chmod +x crash.sh
export CRASH_ON="$(sed -n 7p in.jsonl | grep -o '"url":"[^"]*"')"

test_expect_success 'a crashing program: error names the record, no commit' '
	test_must_fail dsv derive map main --cmd ./crash.sh -j 2 -o c -m c 2>err &&
	grep -q "record 7 " err && grep -q "exited with status 3" err &&
	test_must_fail dsv show c
'

test_expect_success '--skip-bad restarts a crashed program after the record' '
	dsv derive map main --cmd ./crash.sh --skip-bad -o c2 -m c2 -q &&
	sed 7d in.jsonl >want.jsonl && dsv export c2 >got.jsonl &&
	test_cmp want.jsonl got.jsonl &&
	dsv show c2 | grep -q "exited with status 3"
'

test_expect_success '--skip-bad with a program that fails on every record: an error, no commit' '
	dsv derive sample main --n 5 --seed 1 -o five -m five -q &&
	test_must_fail dsv derive map five --cmd "exit 3" --skip-bad -o none -m none 2>err &&
	grep -q "failed on all 5 records" err && test_must_fail dsv show none
'

cat >crashrep.sh <<'PROG'
#!/bin/sh
# reports a GPU second, copies, and dies on the seventh record of the
# version in the middle of writing a second report
printf '{"gpu_s":1}\n' >>"$DSV_COMPUTE_FILE"
while IFS= read -r l; do
	case "$l" in *"$CRASH_ON"*) printf '{"gpu_s":' >>"$DSV_COMPUTE_FILE"; exit 3;; esac
	printf '%s\n' "$l"
done
PROG
chmod +x crashrep.sh

test_expect_success '--skip-bad: a report the crashed program left unfinished is dropped, the rest counted' '
	dsv derive map main --cmd ./crashrep.sh --skip-bad -o cr -m cr -q 2>err &&
	grep -q "dropped a partial line" err &&
	git --git-dir .dsv/lineage show cr:dsv.json >cr.json &&
	grep -q "\"records_failed\": 1" cr.json &&
	grep -q "^    \"gpu_s\": 2.0," cr.json &&
	grep -q "\"partial_lines_dropped\": 1" cr.json
'

test_expect_success 'a program that fails after answering every record: error, no commit' '
	test_must_fail dsv derive map main --cmd "cat; exit 3" --skip-bad -o x1 -m x1 2>err &&
	grep -q "exited with status 3 after answering records 1..600" err &&
	test_must_fail dsv show x1 &&
	test_must_fail dsv derive map main --cmd "cat; exit 4" -j 3 -o x1 -m x1 2>err &&
	grep -q "exited with status 4 after answering records [0-9]*1\.\.[0-9]*00;" err &&
	test_must_fail dsv derive map main --cmd "cat; sleep 30" --timeout 1 -o x1 -m x1 2>err &&
	grep -q "did not exit within --timeout 1 s after answering records 1..600" err &&
	# one that closes its stdout and runs on is held to --timeout too
	timeout 15 "$DSV" derive map main --cmd "cat; exec >&-; sleep 20" --timeout 1 \
		-o x1 -m x1 2>err; test $? -eq 1 &&
	grep -q "did not exit within --timeout 1 s after answering records 1..600" err &&
	! grep -q "record 601" err && test_must_fail dsv show x1
'

test_expect_success 'more lines than records: an error naming the slice, also with --skip-bad' '
	test_must_fail dsv derive map main -j 2 --skip-bad -o x2 -m x2 \
		--cmd "cat; [ \$DSV_WORKER = 1 ] && echo {\\\"text\\\":\\\"x\\\"}; true" 2>err &&
	grep -q "wrote 301 lines for 300 records (records 301..600)" err &&
	test_must_fail dsv show x2
'

test_expect_success 'a hanging program is killed after --timeout' '
	test_must_fail dsv derive map main --cmd "sleep 30" --timeout 1 -o h -m h 2>err &&
	grep -q "record 1 " err && grep -q "timeout 1 s" err
'

cat >stubborn.sh <<'PROG'
#!/bin/sh
# ignores SIGINT and SIGTERM, says it has started, and hangs
trap "" INT TERM
echo $$ >>"$PIDFILE"
sleep 60
PROG
chmod +x stubborn.sh

if command -v setsid >/dev/null && command -v timeout >/dev/null; then
test_expect_success '--timeout holds when a process that left the group keeps the pipes open' '
	# without the bound, dsv waits for the 20 s sleep: timeout 15 kills it (124)
	timeout 15 "$DSV" derive map main --timeout 1 -o ts -m ts \
		--cmd "setsid sleep 20 & sleep 30" 2>err; test $? -eq 1 &&
	grep -q "record 1 .*within --timeout 1 s" err && test_must_fail dsv show ts
'
else
test_skip '--timeout holds when a process that left the group keeps the pipes open' 'no setsid or timeout'
fi

test_expect_success 'SIGTERM during map kills the programs, commits nothing, leaves no spool' '
	for j in 1 3; do
		rm -f pids; export PIDFILE=$PWD/pids
		exec "$DSV" derive map main --cmd ./stubborn.sh -j $j -o sig -m sig 2>err &
		dsvpid=$! && i=0 &&
		while [ "$(cat pids 2>/dev/null | wc -l)" -lt $j ] && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1)); done &&
		kill -TERM $dsvpid; wait $dsvpid; rc=$?
		test $rc -eq 143 && grep -q "interrupted by signal 15" err &&
		for p in $(cat pids); do
			# killed: gone once init has reaped it
			i=0; while kill -0 $p 2>/dev/null && [ $i -lt 50 ]; do
				sleep 0.1; i=$((i + 1)); done
			! kill -0 $p 2>/dev/null || return 1
		done &&
		test -z "$(ls .dsv/tmp | grep map)" && test_must_fail dsv show sig ||
		return 1
	done
'

test_expect_success 'reported compute is recorded and marked as reported' '
	dsv derive map main -o rep -m rep -q --cmd "echo {\\\"gpu_s\\\":2.5,\\\"flops\\\":1e12,\\\"energy_j\\\":100,\\\"devices\\\":[\\\"FakeGPU\\\"]} >>\"\$DSV_COMPUTE_FILE\"; cat" &&
	git --git-dir .dsv/lineage show rep:dsv.json >rep.json &&
	grep -q "\"gpu_s\": 2.5" rep.json && grep -q "FakeGPU" rep.json &&
	grep -q "\"flops\": 1000000000000" rep.json &&
	grep -A3 "\"reported\"" rep.json | grep -q gpu_s
'

cat >badrep.sh <<'PROG'
#!/bin/sh
# reports compute as $BADREP says (worker 1 only with -j 2), then copies
if [ "${DSV_WORKER:-0}" = "$((DSV_WORKERS - 1))" ]; then
	printf '%s' "$BADREP" >>"$DSV_COMPUTE_FILE"
fi
exec cat
PROG
chmod +x badrep.sh

test_expect_success 'a report of more devices than the record has slots keeps every GPU second' '
	devs=$(for i in 0 1 2 3 4 5 6 7 8 9; do printf "{\"name\":\"G%s\",\"gpu_s\":1}," $i; done) &&
	BADREP="{\"devices\":[${devs%,}]}
" dsv derive map main --cmd ./badrep.sh -o d10 -m d10 -q &&
	git --git-dir .dsv/lineage show d10:dsv.json >d10.json &&
	python3 -c "
import json
d = json.load(open(\"d10.json\"))
c = d[\"compute\"]
assert c[\"gpu_s\"] == 10, c
assert sum(x[\"gpu_s\"] for x in c[\"devices\"]) == 10, c
assert d[\"stats\"][\"compute_sources\"][\"program_reported\"][\"gpu_s\"] == 10
"
'

test_expect_success 'a device with a long name reported on many lines stays one device' '
	long=NVIDIA-H100-80GB-HBM3-with-a-device-name-longer-than-the-slot-it-goes-in &&
	BADREP=$(for i in 0 1 2 3 4 5 6 7 8 9; do printf "{\"devices\":[{\"name\":\"%s\",\"gpu_s\":1}]}\n" $long; done) &&
	BADREP="$BADREP
" dsv derive map main --cmd ./badrep.sh -o dlong -m dlong -q &&
	git --git-dir .dsv/lineage show dlong:dsv.json >dlong.json &&
	python3 -c "
import json
c = json.load(open(\"dlong.json\"))[\"compute\"]
assert [x[\"gpu_s\"] for x in c[\"devices\"]] == [10], c
"
'

test_expect_success 'a malformed compute report is an error naming its line, no commit' '
	BADREP="{\"gpu_s\":1,\"devices\":[{\"name\":\"G\",\"gpu_s\":-5}]}" \
		test_must_fail dsv derive map main --cmd ./badrep.sh -o br -m br 2>err &&
	grep -q "line 1: .devices\[0\]. must be" err &&
	BADREP="{\"devices\":\"G\"}" \
		test_must_fail dsv derive map main --cmd ./badrep.sh -o br -m br 2>err &&
	grep -q "line 1: .devices. must be an array" err &&
	BADREP="{\"flops\":1e308}
{\"flops\":1e308}
" test_must_fail dsv derive map main --cmd ./badrep.sh -o br -m br 2>err &&
	grep -q "line 2: .flops. must be a number >= 0 (and the lines. sum finite)" err &&
	BADREP="{\"tokens_in\":1e30}" \
		test_must_fail dsv derive map main --cmd ./badrep.sh -o br -m br 2>err &&
	grep -q "line 1: .tokens_in. must be a number >= 0 (and the lines. sum below 2^63)" err &&
	BADREP="{\"gpu_s\":1}
{\"gpu_s\":" test_must_fail dsv derive map main --cmd ./badrep.sh -j 2 -o br -m br 2>err &&
	grep -q "program for records 301..600: .DSV_COMPUTE_FILE line 2: not a JSON object" err &&
	test_must_fail dsv show br
'

# Edits every other record's text, touching nothing else.
cat >half.sh <<'PROG'
#!/bin/sh
exec sed '2~2s/"text":"/"text":"EDITED /'
PROG
chmod +x half.sh
./half.sh <in.jsonl >half-want.jsonl

shards() { dsv show "$1" | sed -n 's/^shard \([0-9a-f]*\) .*/\1/p' | sort -u; }

test_expect_success 'an unchanged answer reuses its stored row: map cat is a view' '
	shards main >main.shards && shards same >same.shards &&
	test_cmp main.shards same.shards &&
	dsv show same >show.txt &&
	grep -q "\"records_reused\": 600" show.txt &&
	grep -q "\"records_new\": 0" show.txt &&
	grep -q "\"new_shards\": 0" show.txt &&
	! grep -q "^order " show.txt
'

cat >spaced.sh <<'PROG'
#!/bin/sh
exec sed 's/"text":"/"text" : "/'
PROG
cat >url.sh <<'PROG'
#!/bin/sh
exec sed '1s/"url":"/"url":"x/'
PROG
chmod +x spaced.sh url.sh

test_expect_success 'an answer kept only if its line is the same; its meta counts' '
	dsv derive map main --cmd ./spaced.sh -o spaced -m spaced -q &&
	dsv show spaced | grep -q "\"records_new\": 600" &&
	./spaced.sh <in.jsonl >want.jsonl && dsv export spaced >got.jsonl &&
	test_cmp want.jsonl got.jsonl &&
	dsv derive map main --cmd ./url.sh -o url -m url -q &&
	dsv show url >show.txt &&
	grep -q "\"records_reused\": 599" show.txt &&
	grep -q "\"records_new\": 1" show.txt &&
	dsv export url | head -1 | grep -q "\"url\":\"xhttp"
'

test_expect_success 'only the changed records are stored, in the input order' '
	n0=$(find .dsv/objects -type f | wc -l) &&
	dsv derive map main --cmd ./half.sh -o half -m half -q &&
	dsv export half >half-got.jsonl && test_cmp half-want.jsonl half-got.jsonl &&
	dsv show half >show.txt &&
	grep -q "\"records_reused\": 300" show.txt &&
	grep -q "\"records_new\": 300" show.txt &&
	grep -q "\"new_shards\": 1" show.txt &&
	grep "^shard $(cat main.shards) rows=600 sel=[0-9a-f]* kept=300 col.source=" show.txt &&
	test "$(grep -c "^shard " show.txt)" -eq 2 && grep -q "^order " show.txt &&
	test "$(dsv export half | grep -c "\"text\":\"EDITED ")" -eq 300
'

test_expect_success 'reused rows carry their own source columns' '
	dsv derive filter half --where "source_row < 4" -o w -m w -q &&
	dsv export w >w.jsonl &&
	head -4 half-want.jsonl >w-want.jsonl && test_cmp w-want.jsonl w.jsonl
'

test_expect_success 'the same map twice gives the same manifest, also with -j 3' '
	dsv derive map main --cmd ./half.sh -o half2 -m half -q &&
	dsv derive map main --cmd ./half.sh -j 3 -o half3 -m half -q &&
	git --git-dir .dsv/lineage show half:MANIFEST >m1 &&
	git --git-dir .dsv/lineage show half2:MANIFEST >m2 &&
	git --git-dir .dsv/lineage show half3:MANIFEST >m3 &&
	test_cmp m1 m2 && test_cmp m1 m3
'

test_expect_success 'a skipped record is left out of a view' '
	dsv derive map main --cmd ./crash.sh --skip-bad -j 2 -o c3 -m c3 -q &&
	sed 7d in.jsonl >want.jsonl && dsv export c3 >got.jsonl &&
	test_cmp want.jsonl got.jsonl &&
	dsv show c3 | grep -q "\"records_reused\": 599"
'

test_expect_success 'fsck passes and gc keeps what the views need' '
	dsv fsck &&
	dsv gc --grace 0 >/dev/null &&
	dsv fsck &&
	dsv export half >half-got.jsonl && test_cmp half-want.jsonl half-got.jsonl &&
	dsv export same >out.jsonl && test_cmp in.jsonl out.jsonl
'

test_expect_success 'bad options are usage errors' '
	dsv derive map main -o x -m x; test $? -eq 2 &&
	dsv derive map main --cmd cat -j 0 -o x -m x; test $? -eq 2 &&
	dsv derive map main --cmd cat --mode other -o x -m x; test $? -eq 2 &&
	dsv derive map main --cmd "cat #$(printf "\351")" -o x -m x 2>err; test $? -eq 2 &&
	grep -q "cmd is not valid UTF-8" err && test_must_fail dsv show x
'

test_done
