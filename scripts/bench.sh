#!/bin/bash
#
# bench.sh: the benchmark behind "make bench".
#
# Builds and installs ftstore, starts a throwaway PostgreSQL 15 server,
# scales the shared corpus (../shared/data) to at least 300,000 samples and
# measures, side by side on the same data and server, ftstore against a
# plain jsonb column loaded by COPY: load throughput, table size and exact
# dedup.  It prints figures, never a verdict: the exit status says only
# whether the benchmark ran.  docs/benchmarks.md says what each figure is.
#
# Two variants of the data are measured.  "repeat" is the corpus written
# again and again, so that every record has many exact copies; "unique"
# tags each copy's records (bench/tag.jq), so that the only duplicates are
# those the corpus really holds.
#
# Environment: FTSTORE_BENCH_PORT (port of the throwaway server, default
# 5465; it listens on a private socket only), FTSTORE_BENCH_SAMPLES (at
# least this many samples, default 300000), FTSTORE_BENCH_RUNS (runs of
# each timed step, default 3; the median is reported),
# FTSTORE_BENCH_UNIQUE_LOAD_RUNS (runs of the loads into the managed store
# in the "unique" variant, default 1, which keeps the whole benchmark near
# ten minutes on two cores),
# FTSTORE_BENCH_VARIANTS (default "repeat unique"),
# FTSTORE_BENCH_TIER_SAMPLES (samples of the cold tier's benchmark,
# bench/tier.sql, default 20000; 0 leaves it out), FTSTORE_BENCH_DATA (the
# corpus, default ../shared/data beside the project), FTSTORE_BENCH_KEEP=1
# (leave the server running at the end, for profiling),
# PG_CONFIG (the PostgreSQL 15 installation to build against and run,
# default Debian's), FTSTORE_BENCH_RLS (default 1; 0 skips the cost of
# row-level security, bench/rls.sql, which takes about two minutes),
# FTSTORE_BENCH_RLS_SAMPLES (its number of samples, default 1000000).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# PG_CONFIG may name another PostgreSQL 15 installation (a private copy,
# say, so that a benchmark does not share the system's with other work);
# the default is Debian's.
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
PORT=${FTSTORE_BENCH_PORT:-5465}
SAMPLES=${FTSTORE_BENCH_SAMPLES:-300000}
RUNS=${FTSTORE_BENCH_RUNS:-3}
UNIQUE_LOAD_RUNS=${FTSTORE_BENCH_UNIQUE_LOAD_RUNS:-1}
VARIANTS=${FTSTORE_BENCH_VARIANTS:-repeat unique}
DATA_DIR=${FTSTORE_BENCH_DATA:-$ROOT/../shared/data}
KEEP=${FTSTORE_BENCH_KEEP:-0}
RLS=${FTSTORE_BENCH_RLS:-1}
RLS_SAMPLES=${FTSTORE_BENCH_RLS_SAMPLES:-1000000}
TIER_SAMPLES=${FTSTORE_BENCH_TIER_SAMPLES:-20000}

# The server's settings, the same for jsonb and for ftstore:
# shared_buffers large enough to hold the tables; work_mem large enough
# that the dedup sorts of either side stay in memory; checkpoints far apart
# so that none lands inside a timed step (the script checkpoints before
# each load instead); no autovacuum, which would run at random moments (the
# script vacuums and analyzes each table after loading it).  Everything
# else is PostgreSQL's default.
SERVER_SETTINGS=(
	-c shared_buffers=1GB
	-c max_wal_size=8GB
	-c checkpoint_timeout=30min
	-c work_mem=64MB
	-c maintenance_work_mem=256MB
	-c autovacuum=off
)

START_TIME=$(date +%s)

die()
{
	echo "bench.sh: error: $*" >&2
	exit 1
}

step()
{
	echo "==> [$(($(date +%s) - START_TIME))s] $*"
}

case $SAMPLES in '' | *[!0-9]*) die "FTSTORE_BENCH_SAMPLES must be a number" ;; esac
case $TIER_SAMPLES in '' | *[!0-9]*) die "FTSTORE_BENCH_TIER_SAMPLES must be a number" ;; esac
case $RUNS in '' | *[!0-9]* | 0) die "FTSTORE_BENCH_RUNS must be a positive number" ;; esac
case $UNIQUE_LOAD_RUNS in '' | *[!0-9]* | 0) die "FTSTORE_BENCH_UNIQUE_LOAD_RUNS must be a positive number" ;; esac
[ "$UNIQUE_LOAD_RUNS" -le "$RUNS" ] || UNIQUE_LOAD_RUNS=$RUNS
case $RLS in 0 | 1) ;; *) die "FTSTORE_BENCH_RLS must be 0 or 1" ;; esac
case $RLS_SAMPLES in '' | *[!0-9]* | 0) die "FTSTORE_BENCH_RLS_SAMPLES must be a positive number" ;; esac
for v in $VARIANTS; do
	case $v in repeat | unique) ;; *) die "unknown variant \"$v\" (repeat, unique)" ;; esac
done

# SERVER_USER, as_server, as_root
. "$ROOT/scripts/lib/accounts.sh"

# ---------------------------------------------------------------------------
# Packages, build, install.
# ---------------------------------------------------------------------------

if [ -f "$ROOT/scripts/deps.sh" ]; then
	step "Checking the packages ftstore needs (installing any that are missing)"
	bash "$ROOT/scripts/deps.sh"
fi
command -v jq >/dev/null 2>&1 || die "jq is needed to write the benchmark data"
[ -x "$PGBIN/initdb" ] || die "PostgreSQL 15 is not installed in $PGBIN"
id "$SERVER_USER" >/dev/null 2>&1 || die "user $SERVER_USER does not exist"

BUILD_LOG=$(mktemp /tmp/ftstore-bench-build.XXXXXX.log)
step "Building ftstore (log: $BUILD_LOG)"
if ! make -C "$ROOT" PG_CONFIG="$PG_CONFIG" >"$BUILD_LOG" 2>&1; then
	tail -n 40 "$BUILD_LOG" >&2
	die "the build failed; the full log is $BUILD_LOG"
fi
step "Installing ftstore into PostgreSQL 15"
if ! as_root make -C "$ROOT" PG_CONFIG="$PG_CONFIG" install >>"$BUILD_LOG" 2>&1; then
	tail -n 20 "$BUILD_LOG" >&2
	die "make install failed; the full log is $BUILD_LOG"
fi
rm -f "$BUILD_LOG"

# ---------------------------------------------------------------------------
# The throwaway server.
# ---------------------------------------------------------------------------

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ftstore-bench.XXXXXX")
PGDATA_DIR=$RUN_DIR/pgdata
SOCK_DIR=$RUN_DIR/sock
SERVER_LOG=$RUN_DIR/server.log
SERVER_STARTED=0

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup()
{
	local rc=$?
	trap - EXIT INT TERM
	if [ "$KEEP" = 1 ] && [ "$SERVER_STARTED" -eq 1 ]; then
		echo
		echo "The server is still running (FTSTORE_BENCH_KEEP=1). Connect with:"
		echo "  $PGBIN/psql -h $SOCK_DIR -p $PORT -U $SERVER_USER bench"
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
chmod 700 "$SOCK_DIR"
[ "$(id -u)" -ne 0 ] || chown -R "$SERVER_USER" "$RUN_DIR"

step "Starting a throwaway PostgreSQL 15 server in $RUN_DIR (port $PORT)"
if ! as_server "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -U "$SERVER_USER" \
	-E UTF8 --no-locale -N >"$RUN_DIR/initdb.log" 2>&1; then
	cat "$RUN_DIR/initdb.log" >&2
	die "initdb failed"
fi
if ! as_server "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$SERVER_LOG" -w -t 60 \
	-o "-p $PORT -k $SOCK_DIR -c listen_addresses='' ${SERVER_SETTINGS[*]}" \
	start >/dev/null 2>&1; then
	cat "$SERVER_LOG" >&2 || true
	die "the server did not start"
fi
SERVER_STARTED=1

export PGHOST=$SOCK_DIR PGPORT=$PORT PGUSER=$SERVER_USER PGDATABASE=bench
"$PGBIN/createdb" -E UTF8 -T template0 bench || die "createdb failed"

PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -f "$ROOT/bench/setup.sql" || die "bench/setup.sql failed"

# ---------------------------------------------------------------------------
# The data: the corpus as JSON lines, then each variant scaled from it.
# ---------------------------------------------------------------------------

[ -d "$DATA_DIR" ] || die "no corpus at $DATA_DIR (the shared data beside the project)"
DATA_DIR=$(realpath "$DATA_DIR")
mapfile -t CORPUS_FILES < <(find "$DATA_DIR" -type f \( -name '*.json' -o -name '*.jsonl' \) \
	! -path "$DATA_DIR/llamafactory/dataset_info.json" | LC_ALL=C sort)
[ ${#CORPUS_FILES[@]} -gt 0 ] || die "no *.json or *.jsonl files in $DATA_DIR"

step "Writing the benchmark data from ${#CORPUS_FILES[@]} files in $DATA_DIR"
CORPUS=$RUN_DIR/data/corpus.jsonl
: >"$CORPUS"
for f in "${CORPUS_FILES[@]}"; do
	case $f in
		*.jsonl) jq -c . "$f" >>"$CORPUS" ;;
		*) jq -c '.[]' "$f" >>"$CORPUS" ;;
	esac
done
CORPUS_RECORDS=$(wc -l <"$CORPUS")
[ "$CORPUS_RECORDS" -gt 0 ] || die "the corpus holds no records"
COPIES=$(((SAMPLES + CORPUS_RECORDS - 1) / CORPUS_RECORDS))
[ "$COPIES" -ge 1 ] || COPIES=1
TOTAL=$((COPIES * CORPUS_RECORDS))

# Whole records with sorted keys, counted by jq alone: the truth the
# database's md5 groups are checked against.  A copy of the corpus has
# these; tagging keeps each copy's groups and parts the copies.
CORPUS_GROUPS=$(jq -cS . "$CORPUS" | LC_ALL=C sort -u | wc -l)

declare -A FILE_OF=() GROUPS_OF=()
for v in $VARIANTS; do
	out=$RUN_DIR/data/$v.jsonl
	case $v in
		repeat)
			for ((i = 0; i < COPIES; i++)); do
				cat "$CORPUS"
			done >"$out"
			GROUPS_OF[$v]=$CORPUS_GROUPS
			;;
		unique)
			jq -n -c --argjson copies "$COPIES" -f "$ROOT/bench/tag.jq" "$CORPUS" >"$out"
			GROUPS_OF[$v]=$((CORPUS_GROUPS * COPIES))
			;;
	esac
	lines=$(wc -l <"$out")
	[ "$lines" -eq "$TOTAL" ] || die "$out has $lines lines, not $TOTAL"
	FILE_OF[$v]=$out
	echo "    $v: $TOTAL samples ($COPIES copies of $CORPUS_RECORDS records)," \
		"$(du -m "$out" | cut -f1) MB, ${GROUPS_OF[$v]} distinct whole records by jq"
done
[ "$(id -u)" -ne 0 ] || chown -R "$SERVER_USER" "$RUN_DIR/data"

# ---------------------------------------------------------------------------
# The machine.
# ---------------------------------------------------------------------------

HAVE_IMPORT_FILE=$("${PSQL[@]}" -At -c \
	"SELECT count(*) FROM pg_proc WHERE proname = 'import_file' AND pronamespace = 'ftstore'::regnamespace")

echo
echo "Machine"
echo "  nproc:       $(nproc)"
echo "  cpu:         $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "  memory:      $(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)"
echo "  kernel:      $(uname -sr)"
echo "  postgresql:  $("${PSQL[@]}" -At -c 'SELECT version()')"
echo "  settings:    $("${PSQL[@]}" -At -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'maintenance_work_mem', 'max_wal_size', 'jit', 'max_parallel_workers_per_gather', 'autovacuum', 'synchronous_commit')")"
echo "  ftstore:     $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
echo "  import_file: $([ "$HAVE_IMPORT_FILE" = 1 ] && echo present || echo 'absent (its figures are n/a)')"
echo "  data:        $TOTAL samples per variant ($COPIES copies of $CORPUS_RECORDS records), variants: $VARIANTS"
echo "  runs:        $RUNS of each timed step, median reported; but 1 for the jsonb twin of ftstore.samples and $UNIQUE_LOAD_RUNS for the unique variant's loads into the managed store"
echo "  load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before the timed steps"

# ---------------------------------------------------------------------------
# The timed steps, written as one psql script per variant so that each
# variant runs in one backend (whose pid is printed, for perf).
# ---------------------------------------------------------------------------

COPY_OPTS="WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"

# timed METRIC RUN SQL: run SQL and record its time; the SQL sets psql's
# nrows with \gset when it yields what it counted, else nrows is set by a
# count afterwards (COUNT_SQL, untimed).
timed()
{
	local metric=$1 run=$2 sql=$3 count_sql=${4:-}
	cat <<-EOF
		\\echo '    $metric, run $run'
		SELECT clock_timestamp() AS t0 \\gset
		$sql
		SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
	EOF
	[ -z "$count_sql" ] || echo "SELECT ($count_sql) AS nrows \\gset"
	echo "INSERT INTO bench.timing VALUES (:'variant', '$metric', $run, :secs, :nrows);"
}

figure()
{
	echo "INSERT INTO bench.figure VALUES (:'variant', '$1', ($2));"
}

# The steps of one variant.  The loads into the managed store of the
# "unique" variant run UNIQUE_LOAD_RUNS times (the data costs the same to
# load as "repeat"'s, and these loads are the slow ones, so more runs would
# only lengthen the benchmark); its dedup_exact runs RUNS times all the
# same, the marks being cleared between runs.
variant_script()
{
	local v=$1 r load_runs=$RUNS
	[ "$v" != unique ] || load_runs=$UNIQUE_LOAD_RUNS

	cat <<-EOF
		SELECT pg_backend_pid() AS pid \\gset
		\\echo '  variant $v: backend pid' :pid
		SELECT ftstore.dataset_id(:'variant', true) AS ds \\gset
		$(figure samples "$TOTAL")
		$(figure groups_jq "${GROUPS_OF[$v]}")
		TRUNCATE b_staging RESTART IDENTITY;
		CHECKPOINT;
		$(timed load_copy_text 1 "COPY b_staging (line) FROM :'file' $COPY_OPTS;" \
			"SELECT count(*) FROM b_staging")
		VACUUM ANALYZE b_staging;
	EOF

	for ((r = 1; r <= RUNS; r++)); do
		cat <<-EOF
			TRUNCATE b_jsonb;
			CHECKPOINT;
			$(timed load_copy_jsonb "$r" "COPY b_jsonb (doc) FROM :'file' $COPY_OPTS;" \
				"SELECT count(*) FROM b_jsonb")
			TRUNCATE b_ft;
			CHECKPOINT;
			$(timed load_copy_ft "$r" "COPY b_ft (sample) FROM :'file' $COPY_OPTS;" \
				"SELECT count(*) FROM b_ft")
		EOF
	done

	cat <<-EOF
		VACUUM ANALYZE b_jsonb;
		VACUUM ANALYZE b_ft;
		$(figure size_b_jsonb "SELECT pg_total_relation_size('b_jsonb')")
		$(figure size_b_ft "SELECT pg_total_relation_size('b_ft')")
	EOF

	for ((r = 1; r <= RUNS; r++)); do
		timed dedup_md5 "$r" \
			"SELECT count(*) AS nrows FROM (SELECT DISTINCT ON (md5(doc::text)) doc FROM b_jsonb) d \\gset"
		timed dedup_fp "$r" \
			"SELECT count(*) AS nrows FROM (SELECT DISTINCT ON (ftstore.fingerprint(sample)) sample FROM b_ft) d \\gset"
	done

	# The jsonb twin of the managed table, loaded once: for its size and
	# for what finding and writing the marks costs without ftstore.
	cat <<-EOF
		TRUNCATE b_jsonb_managed RESTART IDENTITY;
		CHECKPOINT;
		$(timed load_insert_jsonb_managed 1 \
			"INSERT INTO b_jsonb_managed (dataset_id, doc, source, record, line) SELECT :ds, s.line::jsonb, :'file', s.n, s.n FROM b_staging s;" \
			"SELECT count(*) FROM b_jsonb_managed")
		VACUUM ANALYZE b_jsonb_managed;
		$(figure size_jsonb_managed "SELECT pg_total_relation_size('b_jsonb_managed')")
		$(figure size_table_jsonb_managed "SELECT pg_table_size('b_jsonb_managed')")
		$(figure size_indexes_jsonb_managed "SELECT pg_indexes_size('b_jsonb_managed')")
		CHECKPOINT;
		$(timed dedup_mark_jsonb 1 \
			"SELECT count(*) - bench.dedup_exact_jsonb(:ds) AS nrows FROM b_jsonb_managed \\gset")
		TRUNCATE b_jsonb_managed RESTART IDENTITY;
		TRUNCATE bench.duplicates_jsonb;
	EOF

	# The managed store: each load is followed by a dedup_exact, which then
	# finds the samples unmarked, as after an import.
	for ((r = 1; r <= RUNS; r++)); do
		if [ "$r" -le "$load_runs" ]; then
			cat <<-EOF
				TRUNCATE ftstore.samples RESTART IDENTITY;
				CHECKPOINT;
				$(timed load_insert_samples "$r" \
					"INSERT INTO ftstore.samples (dataset_id, sample, source, record, line) SELECT :ds, s.line::ftstore.ftsample, :'file', s.n, s.n FROM b_staging s;" \
					"SELECT count(*) FROM ftstore.samples")
				VACUUM ANALYZE ftstore.samples;
				$([ "$r" -ne "$load_runs" ] || figure size_samples "SELECT pg_total_relation_size('ftstore.samples')")
				$([ "$r" -ne "$load_runs" ] || figure size_table_samples "SELECT pg_table_size('ftstore.samples')")
				$([ "$r" -ne "$load_runs" ] || figure size_indexes_samples "SELECT pg_indexes_size('ftstore.samples')")
			EOF
		else
			cat <<-EOF
				DELETE FROM ftstore.duplicates WHERE dataset_id = :ds;
				VACUUM ANALYZE ftstore.samples, ftstore.duplicates;
			EOF
		fi
		cat <<-EOF
			$(timed dedup_stored_fp "$r" \
				"SELECT count(*) AS nrows FROM (SELECT DISTINCT ON (fingerprint) id FROM ftstore.samples WHERE dataset_id = :ds) d \\gset")
			SELECT count(*) AS total FROM ftstore.samples \\gset
			CHECKPOINT;
			$(timed dedup_exact "$r" "SELECT :total - ftstore.dedup_exact(:'variant') AS nrows \\gset")
		EOF
	done

	if [ "$HAVE_IMPORT_FILE" = 1 ]; then
		# The jsonb side loads media paths as text; so does this side
		# (the scaled corpus has no media folder beside it to import).
		echo "SET ftstore.import_media = off;"
		for ((r = 1; r <= load_runs; r++)); do
			cat <<-EOF
				TRUNCATE ftstore.samples, ftstore.rejects, ftstore.imports RESTART IDENTITY;
				CHECKPOINT;
				$(timed load_import_file "$r" \
					"SELECT imported AS nrows, rejected FROM ftstore.import_file(:'variant', :'file') \\gset")
				SELECT :rejected > 0 AS has_rejects \\gset
				\\if :has_rejects
					\\echo '    import_file rejected' :rejected 'records'
				\\endif
			EOF
		done
	fi

	cat <<-EOF
		TRUNCATE b_jsonb, b_ft, b_jsonb_managed, b_staging;
		TRUNCATE ftstore.samples, ftstore.rejects, ftstore.imports RESTART IDENTITY;
	EOF
}

for v in $VARIANTS; do
	step "Variant \"$v\": loads, sizes and dedup ($RUNS runs each)"
	script=$RUN_DIR/$v.sql
	variant_script "$v" >"$script"
	"${PSQL[@]}" -v variant="$v" -v file="${FILE_OF[$v]}" -f "$script" ||
		die "the \"$v\" variant failed (its script: $script)"
done

step "Results"
"${PSQL[@]}" -f "$ROOT/bench/report.sql"

# Row-level security in a database of its own, on the same server: the
# same queries as the owner and as a reader, side by side.
if [ "$RLS" = 1 ]; then
	echo
	step "Row-level security: owner and reader on $RLS_SAMPLES samples (bench/rls.sql)"
	"$PGBIN/createdb" -E UTF8 -T template0 bench_rls || die "createdb bench_rls failed"
	"${PSQL[@]}" -d bench_rls -v n="$RLS_SAMPLES" -f "$ROOT/bench/rls.sql" ||
		die "bench/rls.sql failed"
fi

# The cold tier (bench/tier.sql): sizes before and after offload, and
# blob reads on cache hits, on mllm-style samples with an image each.
if [ "$TIER_SAMPLES" -gt 0 ]; then
	step "Cold tier: $TIER_SAMPLES samples with an image each"
	"${PSQL[@]}" -v n="$TIER_SAMPLES" \
		-v imgdir="$DATA_DIR/llamafactory/mllm_demo_data" \
		-f "$ROOT/bench/tier.sql" || die "the cold tier benchmark failed"
fi

echo
echo "Load average after the timed steps: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; over $(nproc) CPUs)"
echo "Whole benchmark: $(($(date +%s) - START_TIME)) s"
