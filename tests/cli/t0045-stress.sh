#!/bin/sh
# t0045-stress.sh: a short run of tests/stress/concurrency.sh: commits,
# derives, tokenizers, train, repack, refs, gc --grace 0 and readers on one
# repository at once; every command ends well or with an expected conflict,
# every version made exports as it did, fsck is clean.
. "$(dirname "$0")/lib.sh"

test_expect_success 'writers, gc and readers at once for 8 seconds' '
	DSV_BIN="$DSV" sh "$TOP/tests/stress/concurrency.sh" 8
'

test_done
