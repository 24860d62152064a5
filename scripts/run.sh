#!/bin/bash
#
# run.sh: the main job behind "make run".
#
# Installs what is missing, builds and installs ftstore, starts a throwaway
# PostgreSQL 15 server, imports each file given (the project's examples/ by
# default) into a dataset named after the file, marks exact duplicates and
# prints a report per dataset.  The server and its data are removed at the
# end, whatever happens.
#
#   scripts/run.sh [FILE...]             the whole job
#   scripts/run.sh --job-only [FILE...]  only import, dedup and report,
#                                        against the server that libpq's
#                                        PGHOST/PGPORT/PGDATABASE/PGUSER name;
#                                        the server must be able to read the
#                                        files (the TAP tests use this)
#
# Environment: FTSTORE_PORT (port of the throwaway server, default 5463; it
# listens on a private socket only, so the port clashes with nothing),
# FTSTORE_FORMAT (input format for every file, default auto), FTSTORE_KEEP=1
# (leave the server running and say how to connect to it).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PGBIN/pg_config
PORT=${FTSTORE_PORT:-5463}
FORMAT=${FTSTORE_FORMAT:-auto}
KEEP=${FTSTORE_KEEP:-0}

# Fields in psql's unaligned output; a control character that no message
# holds, and not white space, so that "read" keeps empty fields.
SEP=$'\x1f'

JOB_ONLY=0
if [ "${1:-}" = "--job-only" ]; then
	JOB_ONLY=1
	shift
fi

die()
{
	echo "run.sh: error: $*" >&2
	exit 1
}

step()
{
	[ "$JOB_ONLY" -eq 1 ] || echo "==> $*"
}

# ---------------------------------------------------------------------------
# The job itself: import, dedup, report.  Shared by both modes.
# ---------------------------------------------------------------------------

if [ "$JOB_ONLY" -eq 1 ] && [ -z "${PSQL:-}" ]; then
	if command -v psql >/dev/null 2>&1; then
		PSQL=psql
	else
		PSQL=$PGBIN/psql
	fi
fi
PSQL=${PSQL:-$PGBIN/psql}

psql_job()
{
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -At -F "$SEP" "$@"
}

TOTAL_FILES=0
TOTAL_FAILED=0
TOTAL_READ=0
TOTAL_IMPORTED=0
TOTAL_REJECTED=0
TOTAL_DUPLICATES=0
declare -A USED_NAMES=()

# "line 7" or "lines 7, 9, ...", from ftstore.report's lines column.
where_text()
{
	local path=$1 lines=$2 where=""
	[ -z "$path" ] || where="at $path; "
	case $lines in
		"") where="${where}line unknown" ;;
		*,*) where="${where}lines $lines" ;;
		*) where="${where}line $lines" ;;
	esac
	echo "$where"
}

# Prints the report on one dataset from ftstore.report's rows, every
# section even when it is empty, and adds its figures to the totals.
print_report()
{
	local dataset=$1 file=$2 rows=$3
	local section code severity message path lines count
	local -a summary=() rejects=() problems=()

	while IFS=$SEP read -r section code severity message path lines count; do
		case $section in
			summary)
				summary+=("$(printf '    %-40s %8s' "$message" "$count")")
				case $code in
					records_read) TOTAL_READ=$((TOTAL_READ + count)) ;;
					imported) TOTAL_IMPORTED=$((TOTAL_IMPORTED + count)) ;;
					rejected) TOTAL_REJECTED=$((TOTAL_REJECTED + count)) ;;
					exact_duplicates) TOTAL_DUPLICATES=$((TOTAL_DUPLICATES + count)) ;;
				esac
				;;
			rejects)
				rejects+=("$(printf '    %8s  %s  %s' "$count" "$code" "$message")")
				rejects+=("$(printf '    %8s  %s' "" "$(where_text "$path" "$lines")")")
				;;
			validation)
				problems+=("$(printf '    %8s  %-8s %s: %s' "$count" "$severity" "$code" "$message")")
				problems+=("$(printf '    %8s  %s' "" "$(where_text "$path" "$lines")")")
				;;
		esac
	done <<<"$rows"

	[ ${#rejects[@]} -gt 0 ] || rejects=("    none")
	[ ${#problems[@]} -gt 0 ] || problems=("    none")

	echo
	echo "Dataset \"$dataset\"  (from $file)"
	echo "  Summary"
	printf '%s\n' "${summary[@]}"
	echo "  Rejected records, by reason (count, SQLSTATE, message)"
	printf '%s\n' "${rejects[@]}"
	echo "  Validation problems, by code (count, severity, code: example)"
	printf '%s\n' "${problems[@]}"
}

# A dataset name from the file's name, unique within this run.
dataset_name()
{
	local base n=2 name
	base=$(basename "$1")
	name=$base
	while [ -n "${USED_NAMES[$name]:-}" ]; do
		name="$base ($n)"
		n=$((n + 1))
	done
	USED_NAMES[$name]=1
	echo "$name"
}

# Imports one file into its dataset, marks duplicates, prints the report.
# $1 is the path the user gave, $2 the path the server reads.
job_one()
{
	local given=$1 server_path=$2 dataset out rows errors=$JOB_ERRORS

	dataset=$(dataset_name "$given")
	TOTAL_FILES=$((TOTAL_FILES + 1))
	: >"$errors"

	if ! out=$(psql_job -v dataset="$dataset" -v path="$server_path" \
		-v format="$FORMAT" 2>"$errors" <<-'SQL'
		SELECT 'import', imported, rejected
		FROM ftstore.import_file(:'dataset', :'path', :'format');
		SELECT 'dedup', ftstore.dedup_exact(:'dataset');
		SELECT section, code, coalesce(severity, ''),
			regexp_replace(coalesce(message, ''), '[[:space:]]+', ' ', 'g'),
			regexp_replace(coalesce(path, ''), '[[:space:]]+', ' ', 'g'),
			coalesce(lines, ''), count
		FROM ftstore.report(:'dataset');
		SQL
	); then
		TOTAL_FAILED=$((TOTAL_FAILED + 1))
		echo
		echo "Dataset \"$dataset\"  (from $given)"
		echo "  Could not import this file:"
		sed 's/^/    /' "$errors"
		return 0
	fi

	rows=$(grep -v -e "^import$SEP" -e "^dedup$SEP" <<<"$out" || true)
	print_report "$dataset" "$given" "$rows"
	if [ -s "$errors" ]; then
		echo "  Messages from the server"
		sed 's/^/    /' "$errors"
	fi
}

print_totals()
{
	echo
	echo "Done: $TOTAL_FILES file(s); records read $TOTAL_READ, imported $TOTAL_IMPORTED," \
		"rejected $TOTAL_REJECTED, exact duplicates $TOTAL_DUPLICATES."
	if [ "$TOTAL_FAILED" -gt 0 ]; then
		echo "$TOTAL_FAILED file(s) could not be imported at all; see above."
	fi
}

# The files to import: those given, or every data file in examples/.
collect_files()
{
	FILES=()
	local f
	if [ $# -eq 0 ]; then
		for f in "$ROOT"/examples/*; do
			case $f in
				*.json | *.jsonl | *.json.gz | *.jsonl.gz | *.json.zst | *.jsonl.zst)
					FILES+=("$f") ;;
			esac
		done
		[ ${#FILES[@]} -gt 0 ] || die "no data files in $ROOT/examples"
		return
	fi
	for f in "$@"; do
		[ -f "$f" ] || die "no such file: $f"
		[ -r "$f" ] || die "cannot read $f"
		FILES+=("$(realpath "$f")")
	done
}

if [ "$JOB_ONLY" -eq 1 ]; then
	collect_files "$@"
	JOB_ERRORS=$(mktemp "${TMPDIR:-/tmp}/ftstore-job.XXXXXX")
	trap 'rm -f "$JOB_ERRORS"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	psql_job -c 'SET client_min_messages = warning' \
		-c 'CREATE EXTENSION IF NOT EXISTS ftstore' >/dev/null ||
		die "could not create extension ftstore"
	for f in "${FILES[@]}"; do
		job_one "$f" "$f"
	done
	print_totals
	[ "$TOTAL_FAILED" -eq 0 ]
	exit
fi

# ---------------------------------------------------------------------------
# The whole job: packages, build, install, a throwaway server, then the job.
# ---------------------------------------------------------------------------

collect_files "$@"

# SERVER_USER, as_server, as_root
. "$ROOT/scripts/lib/accounts.sh"

# make without what "make run DATA=..." passes down: DATA is also PGXS's
# list of files to install, and would make "make install" copy the data.
submake()
{
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u DATA make "$@"
}

step "Checking the packages ftstore needs (installing any that are missing)"
bash "$ROOT/scripts/deps.sh"
id "$SERVER_USER" >/dev/null 2>&1 || die "user $SERVER_USER does not exist"

BUILD_LOG=$(mktemp /tmp/ftstore-build.XXXXXX.log)
step "Building ftstore (log: $BUILD_LOG)"
if ! submake -C "$ROOT" PG_CONFIG="$PG_CONFIG" >"$BUILD_LOG" 2>&1; then
	tail -n 40 "$BUILD_LOG" >&2
	die "the build failed; the full log is $BUILD_LOG"
fi

step "Installing ftstore into PostgreSQL 15"
if ! as_root env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u DATA \
	make -C "$ROOT" PG_CONFIG="$PG_CONFIG" install >>"$BUILD_LOG" 2>&1; then
	tail -n 20 "$BUILD_LOG" >&2
	die "make install failed; the full log is $BUILD_LOG"
fi
rm -f "$BUILD_LOG"

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ftstore-run.XXXXXX")
PGDATA_DIR=$RUN_DIR/pgdata
SOCK_DIR=$RUN_DIR/sock
SERVER_LOG=$RUN_DIR/server.log
SERVER_STARTED=0

cleanup()
{
	local rc=$?
	trap - EXIT INT TERM
	if [ "$KEEP" = 1 ] && [ "$SERVER_STARTED" -eq 1 ] && [ "$rc" -eq 0 ]; then
		echo
		echo "The server is still running (FTSTORE_KEEP=1). Connect with:"
		echo "  psql -h $SOCK_DIR -p $PORT -U $SERVER_USER ftstore"
		echo "and stop it with:"
		echo "  runuser -u $SERVER_USER -- $PGBIN/pg_ctl -D $PGDATA_DIR stop; rm -rf $RUN_DIR"
		exit "$rc"
	fi
	if [ "$SERVER_STARTED" -eq 1 ]; then
		as_server "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$RUN_DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$SOCK_DIR" "$RUN_DIR/data"
JOB_ERRORS=$RUN_DIR/job-errors.txt
chmod 700 "$SOCK_DIR"
if [ "$(id -u)" -eq 0 ]; then
	chown -R "$SERVER_USER" "$RUN_DIR"
fi

step "Starting a throwaway PostgreSQL 15 server in $RUN_DIR"
if ! as_server "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -U "$SERVER_USER" \
	-E UTF8 --no-locale -N >"$RUN_DIR/initdb.log" 2>&1; then
	cat "$RUN_DIR/initdb.log" >&2
	die "initdb failed"
fi
if ! as_server "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$SERVER_LOG" -w -t 60 \
	-o "-p $PORT -k $SOCK_DIR -c listen_addresses=''" start >/dev/null 2>&1; then
	cat "$SERVER_LOG" >&2 || true
	die "the server did not start"
fi
SERVER_STARTED=1

export PGHOST=$SOCK_DIR PGPORT=$PORT PGUSER=$SERVER_USER PGDATABASE=ftstore
"$PGBIN/createdb" -h "$SOCK_DIR" -p "$PORT" -U "$SERVER_USER" -E UTF8 \
	-T template0 ftstore || die "createdb failed"
psql_job -c 'CREATE EXTENSION ftstore' >/dev/null || die "CREATE EXTENSION ftstore failed"

# The server reads the files itself, as $SERVER_USER: a file that account
# cannot read (under /root, say) is copied into the run's directory first.
server_path()
{
	local f=$1 copy
	if as_server test -r "$f"; then
		echo "$f"
		return
	fi
	copy=$(mktemp -d "$RUN_DIR/data/XXXXXX")/$(basename "$f")
	cp "$f" "$copy"
	[ "$(id -u)" -ne 0 ] || chown -R "$SERVER_USER" "$(dirname "$copy")"
	echo "$copy"
}

step "Importing ${#FILES[@]} file(s), marking exact duplicates, reporting"
for f in "${FILES[@]}"; do
	job_one "$f" "$(server_path "$f")"
done
print_totals
echo "Your own files: make run DATA=/path/to/file.jsonl (several paths allowed)."
if [ "$KEEP" != 1 ]; then
	echo "The throwaway server is stopped and removed now; FTSTORE_KEEP=1 keeps it for a look in SQL."
fi
[ "$TOTAL_FAILED" -eq 0 ]
