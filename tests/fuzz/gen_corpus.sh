#!/bin/sh
# gen_corpus.sh: rebuilds the saved fuzz corpora and reject fixtures from
# gen_corpus.c. Run from the top of the tree.
set -e
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for k in corpus reject; do for t in shard manifest oid column classifier; do
	rm -rf "tests/fuzz/$k/$t"; mkdir -p "tests/fuzz/$k/$t"
done; done
cc -std=c11 -D_GNU_SOURCE -I. -o "$out/gen_corpus" tests/fuzz/gen_corpus.c \
	store/buf.c store/error.c store/fault.c store/oid.c store/shard.c \
	store/selection.c store/object.c store/index.c store/repo.c \
	store/column.c kernels/qclass.c kernels/device.c \
	-llmdb -lzstd -lxxhash -lcrypto -lm -pthread
"$out/gen_corpus"
