#!/bin/sh
# concurrency.sh: many writers, readers and gc on one repository at once.
#
#   sh tests/stress/concurrency.sh [SECONDS]     (default 60; env STRESS_SECONDS)
#
# Workers loop until the time is up: commits to main (plain and --append, two
# writers of one branch) and to branches of their own (the same new content
# from two of them at once: one object written twice); every cheap derive;
# tokenizer train and tokenize (two tokenizers filling one token cache);
# repack; tag and branch create/delete, garbage, git pack-refs; `gc --grace
# 0` (it runs when no writer holds the lock: rarely); a tiny train and eval
# --column (STRESS_TRAIN=0 leaves them out); readers (log, export, diff,
# audit, fsck). Every command's exit status and stderr are
# judged: it succeeds or fails with an expected error (a lost compare-and-
# swap, "already exists"); a crash, a corrupt or missing object, an index or
# git error fails the run. Every version made is exported as it lands and
# again at the end: the same bytes. Then fsck is clean and every branch
# exports. Env: DSV_BIN (the binary), STRESS_KEEP=1 (keep the scratch
# directory), STRESS_SEED (which content the workers make).
TOP=$(cd "$(dirname "$0")/../.." && pwd)
DSV=${DSV_BIN:-$TOP/dsv}
DEMO="$TOP/fixtures/demo"
SECONDS_=${1:-${STRESS_SECONDS:-60}}
SEED=${STRESS_SEED:-$$}
W=$(mktemp -d "${TMPDIR:-/tmp}/dsv-stress.XXXXXX")
export HOME="$W/home" DSV_AUTHOR="Stress <stress@example.com>"
unset DSV_DIR DSV_FAULT
mkdir -p "$HOME" "$W/log" "$W/in"
cd "$W" || exit 1
[ "${STRESS_KEEP:-0}" = 1 ] || trap 'cd /; rm -rf "$W"' EXIT
echo "stress: $SECONDS_ s in $W (seed $SEED)"

# Errors a racing command may end with. Anything else is a defect. (A
# ref's lock file exists for a moment while git pack-refs, run by w_refs as
# a user's git gc would, prunes that ref.)
EXPECTED='already exists|moved \(expected [0-9a-f]+, found [0-9a-f]+\): another commit landed first|nothing to repack|is locked: .[^ ]*\.lock. exists'

# run WORKER CMD...: runs dsv CMD, keeps its stdout in $W/out.WORKER and
# logs a failure, judged, to $W/log/WORKER.
run() {
	w=$1
	shift
	"$DSV" "$@" >"$W/out.$w" 2>"$W/err.$w"
	rc=$?
	case $1 in derive|tokenizer) c="$1-$2" ;; *) c=$1 ;; esac
	echo "$c $rc" >>"$W/cmds.$w"
	grep -v '^dsv: note: waiting for' "$W/err.$w" >"$W/msg.$w"
	[ $rc -eq 0 ] && [ ! -s "$W/msg.$w" ] && return 0
	if [ $rc -eq 1 ] && grep -Eq "$EXPECTED" "$W/msg.$w"; then
		verdict=expected
	elif [ $rc -eq 0 ]; then
		verdict=noise
	else
		verdict=BAD
	fi
	{ echo "$verdict rc=$rc: dsv $*"; sed 's/^/    /' "$W/msg.$w"
	  # fsck names its problems on stdout
	  [ $verdict = BAD ] && tail -n 8 "$W/out.$w" | sed 's/^/    out: /'
	} >>"$W/log/$w"
	[ $rc -eq 0 ]
}

# landed WORKER: records the export checksum of the version the last
# --json command of WORKER made, to compare at the end.
landed() {
	id=$(sed -n 's/.*"artifact": "\([0-9a-f]*\)".*/\1/p' "$W/out.$1" | head -n 1)
	[ -n "$id" ] || return 0
	"$DSV" export "$id" >"$W/exp.$1" 2>"$W/err.$1" ||
		{ echo "BAD export of $id just made:" >>"$W/log/$1"
		  sed 's/^/    /' "$W/err.$1" >>"$W/log/$1"; return 0; }
	echo "$id $(sha256sum <"$W/exp.$1" | cut -c1-64)" >>"$W/sums.$1"
}

alive() { [ "$(date +%s)" -lt "$END" ]; }

# unique N FILE: a.jsonl plus one record only iteration N (of this seed)
# has; two workers making the same N write the same objects at once.
unique() {
	{ cat in/a.jsonl; echo "{\"text\": \"stress record $SEED $1\"}"; } >"$2"
}

w_commit_main() { # two of these: one branch, two writers
	i=0
	while alive; do
		i=$((i + 1))
		unique "$1-$i" "in/m$1.jsonl"
		run "cm$1" commit "in/m$1.jsonl" -m "main $1 $i" --json && landed "cm$1"
		run "cm$1" commit --append in/b.jsonl -m "append $1 $i" --json &&
			landed "cm$1"
	done
}

w_commit_branch() { # two of these, the same content on their own branches
	i=0
	while alive; do
		i=$((i + 1))
		unique "same-$i" "in/c$1.jsonl"
		if run "cb$1" commit "in/c$1.jsonl" -b "c$1-$((i % 4))" -m "c $1 $i" --json; then
			landed "cb$1"
			id=$(sed -n 's/.*"artifact": "\([0-9a-f]*\)".*/\1/p' "$W/out.cb$1")
			"$DSV" export "$id" | cmp -s - "in/c$1.jsonl" ||
				echo "BAD export of $id differs from its file" >>"$W/log/cb$1"
		fi
		run "cb$1" commit --append in/b.jsonl -b "c$1-$((i % 4))" -m "c+ $1 $i" --json &&
			landed "cb$1"
	done
}

w_derive() {
	n=$1 i=0
	while alive; do
		i=$((i + 1)) k=0
		for op in "filter main --rules c4,gopher-quality" \
			  "dedup --exact main" "dedup --fuzzy main" \
			  "annotate main --stats" "sample main --fraction 0.3 --seed $i" \
			  "mix main:1 books:1 --records 500" \
			  "map main --cmd cat" "map main --cmd sed\\ s/the/THE/"; do
			k=$((k + 1))
			eval "set -- $op"
			run "d$n" derive "$@" -o "d$n-$i-$k" -m "$op" --json &&
				landed "d$n"
			alive || break
		done
		run "d$n" derive split main --valid 0.2 --seed $i -o "d$n-$i-sp" -m split -q
		# one name for both derive workers: one of them finds it taken
		run "d$n" derive sample main --fraction 0.5 -o "shared-$i" -m shared --json &&
			landed "d$n"
	done
}

w_tokenizer() {
	i=0
	while alive; do
		i=$((i + 1))
		rev=main
		[ $((i % 2)) = 0 ] && rev=books
		run tk tokenizer train "$rev" --vocab 300 -o "tok-$i" -q
		run tk tokenize main --tokenizer tok -j 1 -q
	done
}

w_tokenize() { # beside w_tokenizer: two fill the same token cache
	while alive; do
		run tz tokenize main --tokenizer tok -j 1 -q
		run tz tokenize books --tokenizer tok -j 1 -q
		run tz export main --format tokens --tokenizer tok -o "$W/tokens.bin"
	done
}

w_repack() {
	i=0
	while alive; do
		i=$((i + 1))
		run rp repack main -q
		run rp repack main -b "rp-$i" -q
		# c1-1 is never deleted, but it may not be made yet
		git --git-dir .dsv/lineage rev-parse -q --verify refs/heads/c1-1 \
			>/dev/null && run rp repack c1-1 -q
	done
}

w_refs() {
	i=0
	while alive; do
		i=$((i + 1))
		run rf tag "t-$i" main
		run rf branch "b-$i" main~1
		run rf tag -f "t-$i" books
		[ $i -gt 2 ] && run rf tag -d "t-$((i - 2))" &&
			run rf branch -d "b-$((i - 2))"
		# garbage for gc, some of it what a commit stores again next
		unique "same-$i" in/g.jsonl
		run rf commit in/g.jsonl -b "g-$i" -m garbage -q &&
			run rf derive map "g-$i" --cmd "sed s/a/A/" -o "gm-$i" -m gm -q &&
			run rf branch -d "g-$i" && run rf branch -d "gm-$i"
		# as a user's git gc would: deletes then rewrite packed-refs
		[ $((i % 5)) = 0 ] && git --git-dir .dsv/lineage pack-refs --all 2>/dev/null
	done
}

w_gc() {
	while alive; do
		run gc gc --grace 0
		sleep 0.2
	done
}

w_train() {
	i=0
	while alive; do
		i=$((i + 1))
		run tr train small --tokenizer tok --config in/t.conf -o "m-$i" -q &&
			run tr eval "m-$i" small --column loss -o "ev-$i" -m eval
	done
}

w_read() {
	while alive; do
		run rd log -n 20
		run rd export main -o "$W/main.jsonl"
		run rd diff main~1 main
		run rd audit main
		run rd fsck
		# a version made earlier still exports as it did
		for f in sums.*; do
			[ -f "$f" ] || continue
			tail -n 1 "$f" >last.rd
			read -r id sum <last.rd
			[ ${#sum} = 64 ] || continue # caught mid-append
			run rd export "$id" -o "$W/again.jsonl" &&
				[ "$(sha256sum <"$W/again.jsonl" | cut -c1-64)" = "$sum" ] ||
				echo "BAD export of $id changed" >>log/rd
		done
	done
}

# ---- setup ---------------------------------------------------------------
zcat "$DEMO/web-a.jsonl.gz" >in/a.jsonl && zstd -qdc "$DEMO/web-b.jsonl.zst" >in/b.jsonl &&
head -c 20000 "$DEMO/shakespeare.txt" >in/small.txt &&
printf 'n_layer = 1\nn_head = 2\nn_embd = 16\nseq_len = 32\nbatch_size = 4\nmax_steps = 20\ncheckpoint_every = 10\nseed = 7\n' >in/t.conf &&
"$DSV" init -q . &&
"$DSV" commit in/a.jsonl -m base -q &&
"$DSV" commit --append in/b.jsonl -m second -q &&
"$DSV" commit "$DEMO/books.jsonl.gz" -b books -m books -q &&
"$DSV" commit in/small.txt --text-mode paragraph -b small -m small -q &&
"$DSV" tokenizer train main --vocab 300 -o tok -q || { echo "stress: setup failed"; exit 1; }

END=$(($(date +%s) + SECONDS_))
w_commit_main 1 & w_commit_main 2 &
w_commit_branch 1 & w_commit_branch 2 &
w_derive 1 & w_derive 2 &
w_tokenizer & w_tokenize &
w_repack & w_refs & w_gc & w_read &
[ "${STRESS_TRAIN:-1}" = 1 ] && w_train &
wait

# ---- checks --------------------------------------------------------------
fail=0
check() { echo "FINAL $*" >>"$W/log/final"; fail=1; }
"$DSV" fsck >fsck.out 2>&1 || check "fsck: $(cat fsck.out)"
for b in $("$DSV" branch --json | sed -n 's/.*"name": "\([^"]*\)".*/\1/p'); do
	"$DSV" show "$b" 2>/dev/null | grep -q '"kind": "dataset"' || continue
	"$DSV" export "$b" >/dev/null 2>err || check "export $b: $(cat err)"
done
nsum=0
for f in sums.*; do
	[ -f "$f" ] || continue
	while read -r id sum; do
		nsum=$((nsum + 1))
		s=$("$DSV" export "$id" 2>err | sha256sum | cut -c1-64)
		[ "$s" = "$sum" ] || check "export $id ($f) changed: $(cat err)"
	done <"$f"
done

bad=0 expected=0
for f in log/*; do
	[ -f "$f" ] || continue
	bad=$((bad + $(grep -c '^BAD\|^FINAL' "$f")))
	expected=$((expected + $(grep -c '^expected' "$f")))
done
echo "stress: commands run (command, exit status, count):"
cat cmds.* | sort | uniq -c | awk '{ printf "  %s %s %s", $2, $3, $1 } END { print "" }'
echo "stress: $nsum versions re-exported; $expected expected failures," \
	"$bad unexpected"
grep -h -A14 '^BAD\|^FINAL\|^noise' log/* 2>/dev/null | head -n 80
[ $bad -eq 0 ] && [ $fail -eq 0 ]
