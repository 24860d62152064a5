#!/bin/bash
#
# valgrind.sh: the pg_regress suite and hostile file input against a
# PostgreSQL 15 server running under valgrind memcheck ("make valgrind").
#
# Works on a private copy of the installed PostgreSQL 15 (binaries, share
# and headers, which find each other by relative path), so ftstore is
# built and installed into that copy and the shared install is never
# touched.  The server runs every process under memcheck; pg_regress
# (REGRESS in the Makefile) runs against it, then scripts/valgrind-hostile.sh
# imports and exports the shared corpus and feeds it malformed files.
# scripts/valgrind.supp hides the false positives of PostgreSQL's own code
# (a server built without USE_VALGRIND); scripts/valgrind-report.py sorts
# what is left.  The exit status is non-zero when any memcheck error has an
# ftstore frame, when one is left in PostgreSQL's own code (a new false
# positive to look at), or when a harness failed.
#
# Not part of "make test": it takes about six minutes.
#
# Environment: FTSTORE_VG_PORT (default 5465, a private socket only),
# FTSTORE_KEEP_WORK=1 (keep the work directory even when all is clean).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${FTSTORE_VG_PORT:-5465}
DATA_DIR=$ROOT/../shared/data

unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES DATA

say()
{
	echo "==> $*"
}

die()
{
	echo "valgrind.sh: error: $*" >&2
	exit 1
}

# SERVER_USER, as_server, as_root
. "$ROOT/scripts/lib/accounts.sh"

say "Checking the packages ftstore and this check need"
bash "$ROOT/scripts/deps.sh" || die "could not install the packages"
[ -f "$DATA_DIR/README.md" ] || die "$DATA_DIR not found (the check reads the shared data)"
STARTED=$SECONDS

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ftstore-vg.XXXXXX")
chmod 755 "$WORK"
PGC_ROOT=$WORK/pgc
PGC_BIN=$PGC_ROOT/usr/lib/postgresql/15/bin
PG_CONFIG=$PGC_BIN/pg_config
COPY=$WORK/main
SOCK_DIR=$WORK/sock
PGDATA_DIR=$WORK/pgdata
VGLOG=$WORK/vglog
LOGS=$WORK/logs
SERVER_STARTED=0
STATUS=1
mkdir -p "$PGC_ROOT/usr/lib/postgresql" "$PGC_ROOT/usr/share/postgresql" \
	"$PGC_ROOT/usr/include" "$COPY" "$SOCK_DIR" "$VGLOG" "$LOGS" \
	"$WORK/shared" "$WORK/hostile"

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup()
{
	if [ "$SERVER_STARTED" -eq 1 ]; then
		as_server "$PGC_BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ "$STATUS" -eq 0 ] && [ "${FTSTORE_KEEP_WORK:-0}" != 1 ]; then
		rm -rf "$WORK"
	else
		echo "valgrind.sh: logs kept in $WORK (memcheck: $VGLOG)"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# A private PostgreSQL: the installed one, copied.  Its pg_config reports
# the copy's directories, so PGXS builds and installs into it.
# ---------------------------------------------------------------------------

say "Copying PostgreSQL 15 to $PGC_ROOT"
if ! cp -a /usr/lib/postgresql/15 "$PGC_ROOT/usr/lib/postgresql/" ||
	! cp -a /usr/share/postgresql/15 "$PGC_ROOT/usr/share/postgresql/" ||
	! cp -a /usr/include/postgresql "$PGC_ROOT/usr/include/"; then
	die "could not copy PostgreSQL 15 from /usr"
fi
[ "$("$PG_CONFIG" --bindir)" = "$PGC_BIN" ] ||
	die "the copy's pg_config does not report the copy's directories"

# The tree and the shared data, as scripts/test.sh lays them out.
tar -C "$ROOT" --exclude=./.git -cf - . | tar -C "$COPY" -xf -
make -C "$COPY" -s PG_CONFIG="$PG_CONFIG" clean >/dev/null 2>&1 || true
ln -s "$(realpath "$DATA_DIR")" "$WORK/shared/data"
if [ "$(id -u)" -eq 0 ]; then
	chown -R "$SERVER_USER" "$WORK"
fi

say "Building ftstore and installing it into the copy"
if ! as_server make -C "$COPY" PG_CONFIG="$PG_CONFIG" >"$LOGS/build.log" 2>&1 ||
	! as_server make -C "$COPY" PG_CONFIG="$PG_CONFIG" install >"$LOGS/install.log" 2>&1; then
	tail -n 20 "$LOGS/build.log" "$LOGS/install.log" 2>/dev/null
	die "build or install failed"
fi
[ -f "$("$PG_CONFIG" --pkglibdir)/ftstore.so" ] || die "ftstore.so is not in the copy"

# What CREATE EXTENSION ftstore CASCADE needs must be in the copy too.
sharedir=$("$PG_CONFIG" --sharedir)
for ext in $(sed -n "s/^requires *= *'\(.*\)'/\1/p" "$COPY/ftstore.control" | tr ',' ' '); do
	[ -f "$sharedir/extension/$ext.control" ] ||
		die "extension $ext, which ftstore requires, is missing from the copy"
done

# ---------------------------------------------------------------------------
# The server, every process under memcheck.  A memcheck error makes the
# process exit with 128, which the postmaster treats as a crash: loud on
# purpose.  --fullpath-after= keeps the build's path in ftstore's frames,
# which is how the report tells them from PostgreSQL's.
# ---------------------------------------------------------------------------

say "Starting PostgreSQL under valgrind memcheck (port $PORT)"
as_server "$PGC_BIN/initdb" -D "$PGDATA_DIR" -A trust -U "$SERVER_USER" \
	-E UTF8 --no-locale -N >"$LOGS/initdb.log" 2>&1 || die "initdb failed"
as_server bash -c 'nohup "$@" >"'"$LOGS"'/server.log" 2>&1 &' valgrind \
	valgrind --trace-children=yes --leak-check=no \
	--track-origins=yes --num-callers=30 --error-exitcode=128 \
	--fullpath-after= \
	--suppressions="$COPY/scripts/valgrind.supp" \
	--log-file="$VGLOG/%p.log" \
	"$PGC_BIN/postgres" -D "$PGDATA_DIR" -p "$PORT" -k "$SOCK_DIR" \
	-c listen_addresses= -c shared_buffers=16MB -c fsync=off -c jit=off \
	-c max_connections=20
SERVER_STARTED=1
for _ in $(seq 300); do
	"$PGC_BIN/pg_isready" -q -h "$SOCK_DIR" -p "$PORT" && break
	sleep 1
done
"$PGC_BIN/pg_isready" -q -h "$SOCK_DIR" -p "$PORT" ||
	{ tail -n 20 "$LOGS/server.log"; die "the server did not start under valgrind"; }

FAILED=()

say "pg_regress under valgrind (make installcheck)"
if as_server env PGHOST="$SOCK_DIR" PGPORT="$PORT" PGUSER="$SERVER_USER" \
	make -C "$COPY" PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS= \
	>"$LOGS/regress.log" 2>&1; then
	grep -E '^(test |     )? *[A-Za-z0-9_.-]+ +\.\.\. ' "$LOGS/regress.log"
else
	grep -E '^(test |     )? *[A-Za-z0-9_.-]+ +\.\.\. ' "$LOGS/regress.log"
	FAILED+=("pg_regress (log: $LOGS/regress.log, diffs: $COPY/regression.diffs)")
fi

say "Shared corpus and malformed files under valgrind"
chmod 777 "$WORK/hostile"
if ! as_server "$PGC_BIN/createdb" -h "$SOCK_DIR" -p "$PORT" -U "$SERVER_USER" \
	-E UTF8 -T template0 ftstore_vg >"$LOGS/hostile.log" 2>&1 ||
	! as_server bash "$COPY/scripts/valgrind-hostile.sh" "$WORK/shared/data" \
		"$WORK/hostile" "$PGC_BIN/psql" -h "$SOCK_DIR" -p "$PORT" \
		-U "$SERVER_USER" -d ftstore_vg >>"$LOGS/hostile.log" 2>&1; then
	tail -n 20 "$LOGS/hostile.log"
	FAILED+=("hostile input (log: $LOGS/hostile.log)")
else
	echo "    $(grep -c . "$LOGS/hostile.log") answers (log: $LOGS/hostile.log)"
fi

# A clean shutdown lets every process write its memcheck summary.
say "Stopping the server"
as_server "$PGC_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 600 stop >/dev/null 2>&1 &&
	SERVER_STARTED=0
if grep -E 'exited with exit code 128|terminated by signal' "$LOGS/server.log"; then
	FAILED+=("a server process exited on a memcheck error or a signal")
fi

say "Memcheck's findings"
python3 "$COPY/scripts/valgrind-report.py" "$VGLOG" "$COPY" ||
	FAILED+=("memcheck errors (logs: $VGLOG)")

echo
echo "valgrind check took $((SECONDS - STARTED)) s"
if [ ${#FAILED[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${FAILED[@]}"
	exit 1
fi
echo "clean: no memcheck error in ftstore or left unexplained in PostgreSQL"
STATUS=0
exit 0
