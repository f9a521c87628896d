#!/bin/sh
# Every command in the table answers -h with its usage, without a repository;
# usage errors exit 2, unknown commands too.
. "$(dirname "$0")/lib.sh"

test_expect_success 'dsv with no command lists the commands and exits 2' '
	dsv >out 2>&1; test $? -eq 2 && grep -q "^commands:" out
'

test_expect_success 'every command answers -h and --help' '
	cmds=$(dsv help | sed -n "s/^    \([a-z-]*\) .*/\1/p") &&
	test -n "$cmds" &&
	for c in $cmds; do
		dsv $c -h >out || { echo "$c -h failed"; exit 1; }
		grep -q "^usage: dsv $c" out || { echo "$c: no usage"; cat out; exit 1; }
		dsv $c --help >out || exit 1
		dsv help $c >out || exit 1
	done
'

test_expect_success 'a usage line without [options] names every option' '
	for c in $(dsv help | sed -n "s/^    \([a-z-]*\) .*/\1/p"); do
		dsv $c -h >out && u=$(head -1 out) &&
		case "$u" in *"[options]"*) continue ;; esac &&
		for o in $(sed -n "s/^ *\(-., \)\{0,1\}--\([a-z-]*\) .*/\2/p" out); do
			s=$(sed -n "s/^ *-\(.\), --$o .*/\1/p" out)
			case "$u" in
			*"--$o"* | *"-$s "* | *"-$s]"*) ;;
			*) test "$o" = help || { echo "$c: no --$o in: $u"; exit 1; } ;;
			esac
		done
	done
'

test_expect_success 'tokenizer and classifier point at their subcommand alike' '
	dsv init -q sub && cd sub &&
	for c in tokenizer classifier; do
		dsv $c -h >out && grep -q "^.dsv $c train -h. for the options" out &&
		{ dsv $c 2>err; test $? -eq 2; } &&
		grep -q "^dsv: error: a subcommand is needed (train)" err &&
		{ dsv $c frob 2>err; test $? -eq 2; } &&
		grep -q "^dsv: error: unknown subcommand .frob." err || exit 1
	done
'

test_expect_success 'an unknown command or option is a usage error (exit 2)' '
	dsv frobnicate 2>err; test $? -eq 2 && grep -q "not a dsv command" err &&
	dsv help frobnicate 2>err; test $? -eq 2 && grep -q "not a dsv command" err &&
	dsv help log commit 2>err; test $? -eq 2 && grep -q "one command at a time" err &&
	dsv init q && cd q &&
	dsv log --frob 2>err; test $? -eq 2 && grep -q "unknown option" err
'

test_expect_success 'a command outside a repository says so' '
	mkdir -p empty && cd empty &&
	test_must_fail dsv log 2>err && grep -q "not a dsv repository" err
'

test_done
