#!/bin/sh
# A corrupted object byte makes fsck fail and name the object; reading it
# through any command fails with a clear error, never wrong data. Object ids
# are checked before they touch a path.
. "$(dirname "$0")/lib.sh"

dsv init -q . && dsv commit "$DEMO/web-a.jsonl.gz" -m base >/dev/null
shard=$(git --git-dir .dsv/lineage show main:MANIFEST | awk '/^shard /{print $2; exit}')
obj=.dsv/objects/$(echo "$shard" | cut -c1-2)/$(echo "$shard" | cut -c3-)

test_expect_success 'the manifest names a stored shard' '
	test -f "$obj"
'

test_expect_success 'a flipped byte: fsck fails and names the object' '
	cp "$obj" saved && chmod u+w "$obj" &&
	size=$(stat -c %s "$obj") &&
	python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,\"rb\").read()); b[len(b)//2]^=0x40; open(p,\"wb\").write(b)" "$obj" &&
	test_must_fail dsv fsck >out 2>err && grep -q "corrupt object $shard" out
'

test_expect_success 'export of the damaged version fails, writing no file' '
	test_must_fail dsv export main -o out.jsonl 2>err &&
	grep -q "$(echo $shard | cut -c1-12)" err && ! test -e out.jsonl
'

test_expect_success 'a truncated object is caught too' '
	head -c 100 saved >"$obj" && test_must_fail dsv fsck >out && grep -q "corrupt object $shard" out &&
	cp saved "$obj" && dsv fsck | grep -q "^ok$"
'

test_expect_success 'a deleted object: fsck names the version and the shard' '
	mv "$obj" gone && test_must_fail dsv fsck >out && grep -q "missing" out &&
	mv gone "$obj" && dsv fsck | grep -q "^ok$"
'

test_expect_success 'fsck says what a deleted index lacks; --rebuild-index restores it' '
	rm -rf .dsv/index &&
	dsv fsck >out && grep -q "^1 object is not in the index: .* adds it$" out &&
	dsv fsck --rebuild-index >out && grep -q "index rebuilt" out &&
	dsv fsck >out && ! grep -q "not in the index" out &&
	dsv commit "$DEMO/web-a.jsonl.gz" -m again | grep -q "600 records already"
'

test_expect_success 'a manifest naming a non-hex id is rejected before any path' '
	printf "dsv-manifest 1\nshard ../../../etc/passwd rows=1\n" >m.txt &&
	python3 - <<PY
import subprocess as sp
g=["git","--git-dir",".dsv/lineage"]
blob=sp.check_output(g+["hash-object","-w","m.txt"]).decode().strip()
dj=sp.check_output(g+["rev-parse","main:dsv.json"]).decode().strip()
tree=sp.check_output(g+["mktree"],input=f"100644 blob {dj}\tdsv.json\n100644 blob {blob}\tMANIFEST\n".encode()).decode().strip()
c=sp.check_output(g+["commit-tree",tree,"-m","evil"]).decode().strip()
sp.check_call(g+["update-ref","refs/heads/evil",c])
PY
	test_must_fail dsv export evil 2>err && grep -q "MANIFEST:2" err
'

test_done
