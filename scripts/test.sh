#!/bin/bash
#
# test.sh: the whole test suite behind "make test", and so behind CI.
#
# Installs what is missing, builds ftstore from a clean copy of the tree
# (failing on any compiler warning), installs it, starts a throwaway
# PostgreSQL 15 server and runs against it every harness the project has:
# pg_regress (REGRESS in the Makefile), the TAP tests in test/t/*.pl and the
# python tests in test/python/*.py.  The last line is "N passed, N failed",
# counting the build, the shared-data check, each pg_regress test, each TAP
# file and each python file; the exit status is non-zero if anything failed
# or nothing ran.
#
# The tests run as an unprivileged account (postgres when run as root:
# initdb and PostgreSQL::Test::Cluster refuse root) over a copy of the tree
# that account owns, next to a "shared" directory holding the shared data,
# so that ../shared/data resolves from the copy as it does from the tree.
#
# Python tests get PGHOST, PGPORT, PGUSER and PGDATABASE naming a fresh,
# empty UTF-8 database of their own on the throwaway server.
#
# Environment: FTSTORE_PORT (port of the throwaway server, default 5463; it
# listens on a private socket only), PG_CONFIG (the installation to build
# against and run, default Debian's PostgreSQL 15), FTSTORE_KEEP_WORK=1 (keep the work
# directory even when everything passed).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# PG_CONFIG may name another PostgreSQL 15 installation (a private copy,
# say); the default is Debian's.
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
PORT=${FTSTORE_PORT:-5463}
DATA_DIR=$ROOT/../shared/data

# Time limits, so that a hung test cannot hold CI: one per harness run,
# and one for the whole suite (seconds since this script started).
REGRESS_TIMEOUT=900
TAP_TIMEOUT=900
PYTHON_TIMEOUT=600
SUITE_BUDGET=1680

PASSED=0
FAILED=0
SUMMARY=()

# Nothing that "make test" was given reaches the makes below: DATA, say,
# is also PGXS's list of files to install.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES DATA

pass()
{
	PASSED=$((PASSED + 1))
}

fail()
{
	FAILED=$((FAILED + 1))
}

# The time a harness run may take: its own limit, or what is left of the
# suite's budget if that is less; at least 1, as "timeout 0" means none.
time_limit()
{
	local left=$((SUITE_BUDGET - SECONDS))
	[ "$left" -gt 1 ] || left=1
	if [ "$1" -lt "$left" ]; then
		echo "$1"
	else
		echo "$left"
	fi
}

say()
{
	echo "==> $*"
}

# One line of the closing summary per suite.
suite_result()
{
	SUMMARY+=("$(printf '  %-14s %s' "$1" "$2")")
	say "$1: $2"
}

finish()
{
	echo
	echo "Summary"
	printf '%s\n' "${SUMMARY[@]}"
	if [ "$FAILED" -gt 0 ] || [ "$PASSED" -eq 0 ]; then
		[ "$PASSED" -gt 0 ] || echo "  (no test passed)"
		[ -z "${WORK:-}" ] || echo "  logs and the tested copy: $WORK"
	fi
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
	exit
}

# SERVER_USER, as_server, as_root
. "$ROOT/scripts/lib/accounts.sh"

# ---------------------------------------------------------------------------
# Packages, the shared data, the work directory.
# ---------------------------------------------------------------------------

say "Checking the packages ftstore needs (installing any that are missing)"
if ! bash "$ROOT/scripts/deps.sh"; then
	fail
	suite_result deps "FAILED: could not install the packages"
	finish
fi
if ! id "$SERVER_USER" >/dev/null 2>&1; then
	fail
	suite_result deps "FAILED: user $SERVER_USER does not exist"
	finish
fi

# The shared data is part of the suite: without it the suite fails, it is
# never skipped.  The files are those its README's table lists.
say "Checking the shared data in $DATA_DIR"
if [ -f "$DATA_DIR/README.md" ]; then
	mapfile -t DATA_FILES < <(sed -n 's/^| \([^ |]*\.jsonl\{0,1\}\)[ |].*/\1/p' "$DATA_DIR/README.md")
	missing=()
	for f in "${DATA_FILES[@]}"; do
		[ -r "$DATA_DIR/$f" ] || missing+=("$f")
	done
	if [ ${#DATA_FILES[@]} -eq 0 ]; then
		fail
		suite_result "shared data" "FAILED: $DATA_DIR/README.md lists no data files"
	elif [ ${#missing[@]} -gt 0 ]; then
		fail
		suite_result "shared data" "FAILED: missing ${missing[*]}"
	else
		pass
		suite_result "shared data" "ok (${#DATA_FILES[@]} files)"
	fi
else
	fail
	suite_result "shared data" "FAILED: $DATA_DIR/README.md not found (the tests need ../shared/data)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ftstore-test.XXXXXX")
chmod 755 "$WORK"
COPY=$WORK/main
SOCK_DIR=$WORK/sock
PGDATA_DIR=$WORK/pgdata
LOGS=$WORK/logs
SERVER_STARTED=0
mkdir -p "$COPY" "$SOCK_DIR" "$LOGS" "$WORK/shared"

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup()
{
	if [ "${FULL_MOUNTED:-0}" -eq 1 ]; then
		as_root umount "$FULL_DIR" || true
	fi
	if [ "$SERVER_STARTED" -eq 1 ]; then
		as_server "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
	fi
	if [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ] && [ "${FTSTORE_KEEP_WORK:-0}" != 1 ]; then
		rm -rf "$WORK"
	else
		rm -rf "$PGDATA_DIR"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# s3rver, for the S3 store's tests: installed once into .s3rver in the
# tree (git-ignored), so the copy below takes it along.
say "Checking s3rver for the S3 tests (installing it with npm if missing)"
if ! bash "$ROOT/scripts/s3rver.sh" install >"$LOGS/s3rver-install.log" 2>&1; then
	cat "$LOGS/s3rver-install.log"
	fail
	suite_result s3rver "FAILED: could not install s3rver (log: $LOGS/s3rver-install.log)"
fi

# A clean copy: nothing built in the tree leaks in, and a full build shows
# every warning.
tar -C "$ROOT" --exclude=./.git -cf - . | tar -C "$COPY" -xf -
make -C "$COPY" -s PG_CONFIG="$PG_CONFIG" clean >/dev/null 2>&1 || true

# The shared data beside the copy: linked when the test account can read
# it where it is, copied otherwise (a clone under /root, say).
if [ -d "$DATA_DIR" ]; then
	if as_server find "$DATA_DIR" ! -readable -print -quit 2>/dev/null | grep -q . ||
		! as_server test -r "$DATA_DIR/README.md"; then
		cp -r "$DATA_DIR" "$WORK/shared/data"
	else
		ln -s "$(realpath "$DATA_DIR")" "$WORK/shared/data"
	fi
fi
if [ "$(id -u)" -eq 0 ]; then
	chown -R "$SERVER_USER" "$WORK"
fi

# ---------------------------------------------------------------------------
# Build and install.
# ---------------------------------------------------------------------------

say "Building ftstore from a clean copy ($COPY)"
if ! as_server make -C "$COPY" PG_CONFIG="$PG_CONFIG" >"$LOGS/build.log" 2>&1; then
	grep -E '(error|warning):' "$LOGS/build.log" | head -n 40
	tail -n 20 "$LOGS/build.log"
	fail
	suite_result build "FAILED (log: $LOGS/build.log)"
	finish
fi
warnings=$(grep -c 'warning:' "$LOGS/build.log")
if [ "$warnings" -gt 0 ]; then
	grep -A2 'warning:' "$LOGS/build.log" | grep -v '^gcc ' | head -n 60
	fail
	suite_result build "FAILED: $warnings compiler warning(s)"
	finish
fi
pass
suite_result build "ok (no warnings)"

say "Installing ftstore into PostgreSQL 15"
if ! as_root make -C "$COPY" PG_CONFIG="$PG_CONFIG" install >"$LOGS/install.log" 2>&1; then
	tail -n 20 "$LOGS/install.log"
	fail
	suite_result install "FAILED (log: $LOGS/install.log)"
	finish
fi

# ---------------------------------------------------------------------------
# A throwaway server for pg_regress and the python tests.  The TAP tests
# start their own.
# ---------------------------------------------------------------------------

say "Starting a throwaway PostgreSQL 15 server"
if ! as_server "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -U "$SERVER_USER" \
	-E UTF8 --no-locale -N >"$LOGS/initdb.log" 2>&1 ||
	! as_server "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOGS/server.log" -w -t 60 \
		-o "-p $PORT -k $SOCK_DIR -c listen_addresses='' -c fsync=off" \
		start >/dev/null 2>&1; then
	cat "$LOGS/initdb.log" "$LOGS/server.log" 2>/dev/null | tail -n 20
	fail
	suite_result server "FAILED: could not start the throwaway server"
	finish
fi
SERVER_STARTED=1

# ---------------------------------------------------------------------------
# pg_regress.
# ---------------------------------------------------------------------------

say "pg_regress (make installcheck)"
as_server env PGHOST="$SOCK_DIR" PGPORT="$PORT" PGUSER="$SERVER_USER" \
	timeout "$(time_limit "$REGRESS_TIMEOUT")" \
	make -C "$COPY" PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS= \
	>"$LOGS/regress.log" 2>&1
regress_rc=$?

# Every test REGRESS names must report ok: one that never ran (a missing
# sql/ file stops pg_regress) counts as failed too.
# shellcheck disable=SC2016  # $(REGRESS) is for make, not the shell
regress_list=$(printf 'ftstore-print-regress:\n\t@echo $(REGRESS)\n' |
	make -s --no-print-directory -C "$COPY" -f Makefile -f - PG_CONFIG="$PG_CONFIG" \
		ftstore-print-regress 2>/dev/null)
declare -A regress_status=()
while read -r name status; do
	regress_status[$name]=$status
done < <(sed -nE 's/^(test |     )? *([A-Za-z0-9_.-]+) +\.\.\. +(ok|FAILED|failed).*/\2 \3/p' "$LOGS/regress.log")
r_pass=0
r_fail=0
r_failed_names=()
for name in $regress_list; do
	if [ "${regress_status[$name]:-}" = ok ]; then
		r_pass=$((r_pass + 1))
	else
		r_fail=$((r_fail + 1))
		if [ -n "${regress_status[$name]:-}" ]; then
			r_failed_names+=("$name")
		else
			r_failed_names+=("$name (did not run)")
		fi
	fi
done
PASSED=$((PASSED + r_pass))
FAILED=$((FAILED + r_fail))
if [ -z "$regress_list" ]; then
	fail
	suite_result pg_regress "FAILED: REGRESS in the Makefile lists no test"
elif [ "$r_fail" -gt 0 ]; then
	[ ! -f "$COPY/regression.diffs" ] || head -n 150 "$COPY/regression.diffs"
	grep -E '^(test |     )? *[A-Za-z0-9_.-]+ +\.\.\. ' "$LOGS/regress.log" | grep -v '\.\.\. *ok' | head -n 20
	suite_result pg_regress "$r_pass passed, $r_fail failed (${r_failed_names[*]}; log: $LOGS/regress.log)"
elif [ "$regress_rc" -ne 0 ]; then
	fail
	tail -n 20 "$LOGS/regress.log"
	suite_result pg_regress "FAILED: make installcheck exited with $regress_rc (log: $LOGS/regress.log)"
else
	suite_result pg_regress "$r_pass passed, 0 failed"
fi

# ---------------------------------------------------------------------------
# TAP tests, one prove run per file so that each gets its own verdict.
# ---------------------------------------------------------------------------

# A full disk for the cold tier's fault tests (test/t/060_tier.pl): a
# 1 MB tmpfs, which only root may mount, owned by the test account.
FULL_DIR=$WORK/fulldisk
mkdir -p "$FULL_DIR"
if as_root mount -t tmpfs -o size=1m,mode=0700 tmpfs "$FULL_DIR"; then
	FULL_MOUNTED=1
	as_root chown "$SERVER_USER" "$FULL_DIR"
	export FTSTORE_TEST_FULL_DIR=$FULL_DIR
else
	echo "could not mount a tmpfs at $FULL_DIR: the full-disk tests will fail"
fi

t_pass=0
t_fail=0
t_failed_names=()
t_asserts=0
shopt -s nullglob
tap_files=("$COPY"/test/t/*.pl)
for t in "${tap_files[@]}"; do
	rel=test/t/$(basename "$t")
	log=$LOGS/tap-$(basename "$t" .pl).log
	say "TAP $rel"
	as_server timeout "$(time_limit "$TAP_TIMEOUT")" \
		make -C "$COPY" PG_CONFIG="$PG_CONFIG" installcheck REGRESS= \
		PROVE_TESTS="$rel" PROVE_FLAGS=--verbose >"$log" 2>&1
	rc=$?
	n=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$log" | tail -n 1)
	t_asserts=$((t_asserts + ${n:-0}))
	if [ "$rc" -eq 0 ] && grep -q '^Result: PASS' "$log"; then
		t_pass=$((t_pass + 1))
		echo "    ok (${n:-0} assertions)"
	else
		t_fail=$((t_fail + 1))
		t_failed_names+=("$rel")
		grep -E '^(not ok|#   |# Looks like|Bail out)' "$log" | head -n 80
		tail -n 5 "$log"
		echo "    FAILED (log: $log; node logs: $COPY/tmp_check/log)"
	fi
done
PASSED=$((PASSED + t_pass))
FAILED=$((FAILED + t_fail))
if [ ${#tap_files[@]} -eq 0 ]; then
	suite_result TAP "no test files in test/t"
elif [ "$t_fail" -gt 0 ]; then
	suite_result TAP "$t_pass passed, $t_fail failed (${t_failed_names[*]})"
else
	suite_result TAP "$t_pass passed, 0 failed ($t_asserts assertions)"
fi

# ---------------------------------------------------------------------------
# Python tests: each file is run by python3 against a database of its own.
# ---------------------------------------------------------------------------

p_pass=0
p_fail=0
p_failed_names=()
py_files=("$COPY"/test/python/*.py)
n=0
for py in "${py_files[@]}"; do
	case $(basename "$py") in
		_* | conftest.py) continue ;;
	esac
	n=$((n + 1))
	rel=test/python/$(basename "$py")
	log=$LOGS/python-$(basename "$py" .py).log
	db=ftstore_python_$n
	say "python $rel"
	if ! as_server "$PGBIN/createdb" -h "$SOCK_DIR" -p "$PORT" -U "$SERVER_USER" \
		-E UTF8 -T template0 "$db" >"$log" 2>&1; then
		p_fail=$((p_fail + 1))
		p_failed_names+=("$rel")
		cat "$log"
		continue
	fi
	(cd "$COPY" && as_server env PGHOST="$SOCK_DIR" PGPORT="$PORT" \
		PGUSER="$SERVER_USER" PGDATABASE="$db" \
		timeout "$(time_limit "$PYTHON_TIMEOUT")" /usr/bin/python3 "$rel") >>"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		p_pass=$((p_pass + 1))
		echo "    ok"
	else
		p_fail=$((p_fail + 1))
		p_failed_names+=("$rel")
		tail -n 30 "$log"
		echo "    FAILED with exit status $rc (log: $log)"
	fi
done
PASSED=$((PASSED + p_pass))
FAILED=$((FAILED + p_fail))
if [ "$n" -eq 0 ]; then
	suite_result python "no test files in test/python"
elif [ "$p_fail" -gt 0 ]; then
	suite_result python "$p_pass passed, $p_fail failed (${p_failed_names[*]})"
else
	suite_result python "$p_pass passed, 0 failed"
fi

finish
