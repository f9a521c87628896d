#!/bin/sh
# The outside oracle: tiktoken, given dsv's merges in its own format, gives
# the token ids dsv wrote for the fixtures (tests/ref/tiktoken_check.py).
# Skipped, saying why, when tiktoken cannot be installed in the virtualenv
# kept under tests/ref/work/.
. "$(dirname "$0")/lib.sh"

if ! have_fixtures; then
	test_skip 'tiktoken gives the same token ids' "no fixtures at $FIXTURES"
elif ! command -v python3 >/dev/null; then
	test_skip 'tiktoken gives the same token ids' 'no python3'
else
	out=$(sh "$TOP/tests/ref/tiktoken_check.sh" "$DSV" "$FIXTURES" 2>&1)
	rc=$?
	if [ $rc -eq 77 ]; then
		test_skip 'tiktoken gives the same token ids' "$out"
	else
		test_expect_success 'tiktoken gives the same token ids' "printf '%s\n' \"\$out\"; test $rc -eq 0"
	fi
fi

test_done
