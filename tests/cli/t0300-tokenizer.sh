#!/bin/sh
# dsv tokenizer train, dsv tokenize and export --format tokens: the tokenizer
# is an artifact on its own branch; the token cache tokenizes a shard once;
# the .bin export has llm.c's header; bad input is refused.
. "$(dirname "$0")/lib.sh"

cp "$DEMO/shakespeare.txt" shake.txt

test_expect_success 'tokenizer train records a tokenizer artifact' '
	dsv init . >/dev/null &&
	dsv commit shake.txt --text-mode paragraph -m shake -q &&
	dsv tokenizer train main --vocab 600 -o tok -m "bpe 600" >out &&
	grep -q "^\[tok [0-9a-f]*\] bpe 600" out &&
	dsv show tok >show && grep -q "\"kind\": \"tokenizer\"" show &&
	grep -q "\"op\": \"tokenizer-train\"" show &&
	grep -q "\"mode\": \"training\"" show &&
	git --git-dir .dsv/lineage show tok:TOKENIZER >TOK &&
	sed -n 3p TOK | grep -qx "dsv-tokenizer 1" &&
	grep -qx "special 599 <|endoftext|>" TOK &&
	test "$(git --git-dir .dsv/lineage rev-parse tok^)" = "$(git --git-dir .dsv/lineage rev-parse main)"
'

test_expect_success 'training is deterministic' '
	dsv tokenizer train main --vocab 600 -o tok2 -q &&
	git --git-dir .dsv/lineage show tok2:TOKENIZER >TOK2 &&
	test_cmp TOK TOK2
'

test_expect_success 'tokenize twice: the second run is all cache hits' '
	dsv tokenize main --tokenizer tok --json >first &&
	grep -q "\"new_objects\": 1" first &&
	dsv tokenize main --tokenizer tok --json >second &&
	grep -q "\"new_objects\": 0" second &&
	grep -q "\"shards_cached\": 1" second &&
	dsv tokenize main --tokenizer tok2 --json >third &&
	grep -q "\"shards_cached\": 1" third
'

test_expect_success 'export --format tokens writes the llm.c .bin layout' '
	dsv export main --format tokens --tokenizer tok -o out.bin &&
	python3 -c "
import struct, sys
d = open(\"out.bin\", \"rb\").read()
h = struct.unpack(\"<256i\", d[:1024])
assert h[0] == 20240520 and h[1] == 1, h[:3]
assert len(d) == 1024 + 2 * h[2], (len(d), h[2])
t = struct.unpack(\"<%dH\" % h[2], d[1024:])
assert t[0] == 599 and max(t) == 599
"
'

# zstd's rule: binary is not written to a terminal (script(1) gives one).
if command -v script >/dev/null 2>&1; then
	test_expect_success 'export --format tokens refuses a terminal' '
		script -qec "\"$DSV\" export main --format tokens --tokenizer tok" \
			/dev/null >tty.out 2>&1; test $? -eq 1 &&
		grep -q "standard output is a terminal: give -o FILE" tty.out &&
		dsv export main --format tokens --tokenizer tok | cmp - out.bin
	'
else
	test_skip 'export --format tokens refuses a terminal' 'no script(1)'
fi

test_expect_success 'a version that selects rows of a cached shard reuses its tokens' '
	awk "NR <= 400" shake.txt >part.txt &&
	dsv commit part.txt --text-mode paragraph -b part -m part -q &&
	dsv ls part >ls &&
	dsv tokenize part --tokenizer tok --json >part.json &&
	grep -q "\"shards_cached\": [1-9]" part.json &&
	dsv export part --format tokens --tokenizer tok -o part.bin &&
	test -s part.bin
'

test_expect_success 'a --vocab the text cannot reach: the message gives the real size' '
	printf "{\"text\": \"to be\"}\n" >tiny.jsonl &&
	dsv commit tiny.jsonl -b tiny -m tiny -q &&
	dsv tokenizer train tiny --vocab 600 -o ttiny >out 2>err &&
	grep -q "^\[ttiny [0-9a-f]*\] tokenizer: byte-level BPE, vocab 260 (600 asked for), on tiny" out &&
	grep -q "no more pairs to merge: vocab 260, not the 600 asked for" err &&
	dsv log -n 1 ttiny | grep -q "vocab 260 (600 asked for)"
'

# A run of 100000 letters is one chunk: merging it makes tokens of 2^16
# bytes and more, which the TOKENIZER parser once refused ("token too long").
test_expect_success 'a very long word: tokens over 64 KiB load and encode' '
	awk "BEGIN { s = \"ab\"; for (i = 0; i < 16; i++) s = s s;
		printf \"%s %s\\n\", s, s }" >long.txt &&
	dsv commit long.txt -b long -m long -q &&
	dsv tokenizer train long --vocab 300 -o tlong -q 2>/dev/null &&
	git --git-dir .dsv/lineage show tlong:TOKENIZER |
		awk "length(\$0) > 70000 { n++ } END { exit !n }" &&
	dsv export long --format tokens --tokenizer tlong -o long.bin &&
	test $(wc -c <long.bin) = $((1024 + 2 * 4))
'

test_expect_success 'bad input: missing tokenizer, wrong kind, bad vocab, taken name' '
	dsv tokenize main 2>err; test $? -eq 2 &&
	test_must_fail dsv tokenize main --tokenizer main 2>err &&
	grep -q "not a tokenizer" err &&
	test_must_fail dsv tokenize main --tokenizer nosuch 2>err &&
	dsv tokenizer train main --vocab 100 -o t3 2>err; test $? -eq 2 &&
	test_must_fail dsv tokenizer train main --vocab 600 -o tok 2>err &&
	grep -q "already exists" err &&
	dsv export main --format tokens 2>err; test $? -eq 2 &&
	test_must_fail dsv tokenizer train tok --vocab 600 -o t4 2>err
'

test_done
