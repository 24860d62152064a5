#!/bin/bash
#
# bench-load-ab.sh: load speed of two builds of ftstore, side by side.
#
# make bench measures ftstore against jsonb within one run, but on a busy
# machine its single runs spread too much to show whether a change made
# loading 10% faster.  This compares two builds directly: it takes two
# running PostgreSQL 15 servers with a build of ftstore installed in each
# (two private copies of PostgreSQL, say, each with its own "make
# install"), and per round runs each load on one server and then on the
# other, alternating the order, so that every ratio compares runs made
# seconds apart.  docs/benchmarks.md gives the figures it printed.
#
# Usage: bench-load-ab.sh PORT_A PORT_B, with the servers listening on
# the socket directory FTSTORE_AB_HOST (default /tmp).  Environment:
# FTSTORE_AB_ROUNDS (default 12), FTSTORE_AB_COPIES (copies of the corpus,
# default 16, about 60,000 samples), FTSTORE_BENCH_DATA (the corpus,
# default ../shared/data), PG_CONFIG (whose psql to use), FTSTORE_AB_USER
# (default postgres).  Each server gets a database ftstore_load_ab, dropped
# and created anew; the data file is written under /tmp and must be
# readable by both servers.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
HOST=${FTSTORE_AB_HOST:-/tmp}
USER_NAME=${FTSTORE_AB_USER:-postgres}
ROUNDS=${FTSTORE_AB_ROUNDS:-12}
COPIES=${FTSTORE_AB_COPIES:-16}
DATA_DIR=${FTSTORE_BENCH_DATA:-$ROOT/../shared/data}

[ $# -eq 2 ] || { echo "usage: $0 PORT_A PORT_B" >&2; exit 2; }
PORTS=("$1" "$2")

WORK=$(mktemp -d /tmp/ftstore-load-ab.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
FILE=$WORK/data.jsonl

corpus=$WORK/corpus.jsonl
: >"$corpus"
while IFS= read -r f; do
	case $f in
		*.jsonl) jq -c . "$f" >>"$corpus" ;;
		*) jq -c '.[]' "$f" >>"$corpus" ;;
	esac
done < <(find "$DATA_DIR" -type f \( -name '*.json' -o -name '*.jsonl' \) \
	! -name dataset_info.json | LC_ALL=C sort)
for ((i = 0; i < COPIES; i++)); do cat "$corpus"; done >"$FILE"
chmod 644 "$FILE"
echo "data: $(wc -l <"$FILE") samples ($COPIES copies of the corpus)"

psql_on()
{
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$HOST" -p "$1" \
		-U "$USER_NAME" "${@:2}"
}

OPTS="WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"
for port in "${PORTS[@]}"; do
	psql_on "$port" -d postgres -c "DROP DATABASE IF EXISTS ftstore_load_ab" \
		-c "CREATE DATABASE ftstore_load_ab"
	psql_on "$port" -d ftstore_load_ab -f "$ROOT/bench/setup.sql" >/dev/null 2>&1
	psql_on "$port" -d ftstore_load_ab \
		-c "COPY b_staging (line) FROM '$FILE' $OPTS" -c "VACUUM ANALYZE b_staging"
done

# the SQL of one load, timed by the server's clock
load_sql()
{
	local target
	case $1 in
		jsonb) target="TRUNCATE b_jsonb; CHECKPOINT; SELECT clock_timestamp() AS t0 \\gset
COPY b_jsonb (doc) FROM '$FILE' $OPTS;" ;;
		ftsample) target="TRUNCATE b_ft; CHECKPOINT; SELECT clock_timestamp() AS t0 \\gset
COPY b_ft (sample) FROM '$FILE' $OPTS;" ;;
		import_file) target="TRUNCATE ftstore.samples CASCADE; CHECKPOINT; SELECT clock_timestamp() AS t0 \\gset
SELECT FROM ftstore.import_file('ab', '$FILE');" ;;
		insert_select) target="TRUNCATE ftstore.samples CASCADE; CHECKPOINT; SELECT clock_timestamp() AS t0 \\gset
INSERT INTO ftstore.samples (dataset_id, sample, source, record, line)
SELECT ftstore.dataset_id('ab', true), line::ftstore.ftsample, 'ab', n, n FROM b_staging;" ;;
	esac
	printf '%s\nSELECT extract(epoch FROM clock_timestamp() - :%s::timestamptz);\n' \
		"$target" "'t0'"
}

TIMES=$WORK/times
: >"$TIMES"
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${PORTS[@]}")
	[ $((r % 2)) -eq 1 ] || order=("${PORTS[1]}" "${PORTS[0]}")
	for what in jsonb ftsample import_file insert_select; do
		for port in "${order[@]}"; do
			side=A
			[ "$port" = "${PORTS[0]}" ] || side=B
			echo "$side $r $what $(load_sql "$what" | psql_on "$port" -d ftstore_load_ab)" >>"$TIMES"
		done
	done
done

python3 - "$TIMES" <<'EOF'
import collections
import statistics
import sys

t = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    side, r, what, secs = line.split()
    t[(side, what)][int(r)] = float(secs)
rounds = sorted(t[("A", "jsonb")])


def show(label, ratios):
    print("%-44s %s  median %.2fx" % (label, " ".join("%.2f" % x for x in ratios),
                                      statistics.median(ratios)))


print("rates against COPY into jsonb on the same server, per round:")
for side in ("A", "B"):
    for what in ("ftsample", "import_file", "insert_select"):
        show("  %s: %s" % (side, what),
             [t[(side, "jsonb")][r] / t[(side, what)][r] for r in rounds])
print("time on A over time on B, per round (above 1: B is faster):")
for what in ("jsonb", "ftsample", "import_file", "insert_select"):
    show("  " + what, [t[("A", what)][r] / t[("B", what)][r] for r in rounds])
EOF
