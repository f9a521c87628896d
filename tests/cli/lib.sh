# lib.sh: the CLI test library, after git's t/test-lib.sh. A test script
# sources it, then calls test_expect_success 'what' 'commands' for each case;
# every case prints "PASS what" or "FAIL what" with the commands' output.
# Each script runs in its own scratch directory with a fresh HOME.

TOP=$(cd "$(dirname "$0")/../.." && pwd)
DSV=${DSV_BIN:-$TOP/dsv}
FIXTURES=${DSV_FIXTURES:-$TOP/../shared/fixtures}
DEMO="$TOP/fixtures/demo"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/dsv-cli.XXXXXX")
export HOME="$SCRATCH/home" DSV_AUTHOR="Test Author <test@example.com>"
export GIT_AUTHOR_NAME="Test Author" GIT_AUTHOR_EMAIL=test@example.com
export GIT_COMMITTER_NAME="Test Author" GIT_COMMITTER_EMAIL=test@example.com
unset DSV_DIR DSV_FAULT
mkdir -p "$HOME"
cd "$SCRATCH" || exit 1
trap 'cd /; rm -rf "$SCRATCH"' EXIT
test_failures=0

dsv() { "$DSV" "$@"; }

# test_expect_success 'description' 'shell commands'
test_expect_success() {
	out=$(eval "$2" 2>&1 </dev/null)
	if [ $? -eq 0 ]; then
		echo "PASS $1"
	else
		echo "FAIL $1"
		printf '%s\n' "$out" | tail -n 25 | sed 's/^/    /'
		test_failures=$((test_failures + 1))
	fi
}

# test_must_fail CMD...: CMD must exit 1 (an error), not crash or succeed.
test_must_fail() {
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then echo "test_must_fail: '$*' succeeded" >&2; return 1; fi
	if [ $rc -gt 2 ]; then echo "test_must_fail: '$*' died with $rc" >&2; return 1; fi
	return 0
}

# test_cmp EXPECTED ACTUAL: the files are byte for byte equal.
test_cmp() {
	cmp "$1" "$2" || { diff "$1" "$2" | head -n 20 >&2; return 1; }
}

# test_skip 'description' 'why'
test_skip() { echo "SKIP $1: $2"; }

have_fixtures() { [ -d "$FIXTURES/web" ]; }

test_done() { [ "$test_failures" -eq 0 ]; }
