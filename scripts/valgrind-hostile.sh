#!/bin/bash
#
# valgrind-hostile.sh: the file input that scripts/valgrind.sh feeds to a
# server running under valgrind, beyond what pg_regress already does.
#
# Imports every data file of the shared corpus with ftstore.import_file,
# exports each dataset in every format (to the client, and to gzip and zstd
# files that are then read back), and imports malformed files made here:
# a JSON array cut short, invalid UTF-8, gzip and zstd streams cut in half
# or followed by junk, nesting far past the parser's limit, a NUL byte, an
# empty file.  Refusals are expected and are printed, not fatal: what this
# is for is the memory checker's view of every path the input takes.
#
# Usage: valgrind-hostile.sh DATA_DIR WORK_DIR PSQL...
#   DATA_DIR  the shared corpus (../shared/data)
#   WORK_DIR  a directory the server's account can write (files go here)
#   PSQL...   the psql command line that reaches the database under test

set -euo pipefail

# resolved, as find does not enter a starting point that is a symlink
DATA_DIR=$(realpath "$1")
WORK_DIR=$2
shift 2
PSQL=("$@")

HOSTILE=$WORK_DIR/hostile
OUT=$WORK_DIR/out
mkdir -p "$HOSTILE" "$OUT"

# ---------------------------------------------------------------------------
# The malformed files.
# ---------------------------------------------------------------------------

alpaca=$DATA_DIR/llamafactory/alpaca_en_demo.json
c4=$DATA_DIR/llamafactory/c4_demo.jsonl

# a JSON array cut in the middle of a record, and right after a comma
head -c 4000 "$alpaca" >"$HOSTILE/truncated.json"
python3 - "$alpaca" "$HOSTILE/truncated_comma.json" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
cut = data.index(b'},', 2000) + 2
open(sys.argv[2], 'wb').write(data[:cut])
EOF

# invalid UTF-8: a stray byte, an overlong slash, a UTF-16 surrogate, a
# sequence cut at the end of a string and at the very end of the file
python3 - "$HOSTILE" <<'EOF'
import sys, os
d = sys.argv[1]
good = b'{"text": "fine"}\n'
lines = [good,
         b'{"text": "a\xffb"}\n',
         b'{"text": "a\xc0\xafb"}\n',
         b'{"text": "a\xed\xa0\x80b"}\n',
         b'{"instruction": "x\xe2\x82", "output": "y"}\n',
         b'{"messages": [{"role": "us\xf0\x9f", "content": "x"}]}\n',
         good,
         b'{"text": "end\xe2\x82']
open(os.path.join(d, 'bad_utf8.jsonl'), 'wb').write(b''.join(lines))
open(os.path.join(d, 'bad_utf8.json'), 'wb').write(
    b'[{"text": "ok"}, {"text": "\xfe\xff"}, {"text": "\xc3"}]')
# a NUL byte inside a line, and a line of nothing but NULs
open(os.path.join(d, 'nul.jsonl'), 'wb').write(
    good + b'{"text": "a\x00b"}\n' + b'\x00' * 64 + b'\n' + good)
# nesting far past any limit, in a line, in an array element, in a field
deep = 100000
open(os.path.join(d, 'deep.jsonl'), 'wb').write(
    good + b'[' * deep + b']' * deep + b'\n'
    + b'{"text": "x", "meta": ' + b'{"a":' * deep + b'1' + b'}' * deep + b'}\n'
    + b'{"messages": ' + b'[' * deep + b'\n' + good)
open(os.path.join(d, 'deep.json'), 'wb').write(
    b'[{"text": "x"}, ' + b'[' * deep + b']' * deep + b', {"text": "y"}]')
open(os.path.join(d, 'deep_open.json'), 'wb').write(b'[' * deep)
open(os.path.join(d, 'empty.jsonl'), 'wb').write(b'')
open(os.path.join(d, 'empty_array.json'), 'wb').write(b'[]')
open(os.path.join(d, 'only_bracket.json'), 'wb').write(b'[')
open(os.path.join(d, 'unterminated.jsonl'), 'wb').write(b'{"text": "abc')
EOF

# values for the type's binary receive function, one binary COPY file
# each: bad UTF-8, a NUL, wrong version bytes, empty, truncated, and a
# length word that promises more than the file holds
mkdir -p "$WORK_DIR/binary"
python3 - "$WORK_DIR/binary" <<'EOF'
import os, struct, sys
d = sys.argv[1]
head = b'PGCOPY\n\xff\r\n\x00' + struct.pack('!II', 0, 0)
values = {
    'good': b'\x01{"text": "fine"}',
    'bad_utf8': b'\x01{"text": "\xff\xfe\xc3"}',
    'surrogate': b'\x01{"text": "\xed\xa0\x80"}',
    'nul': b'\x01{"text": "a\x00b"}',
    'version0': b'\x00{"text": "fine"}',
    'version2': b'\x02{"text": "fine"}',
    'empty': b'',
    'version_only': b'\x01',
    'truncated': b'\x01{"text": "fi',
    'robot': b'\x01{"messages": [{"role": "robot"}]}',
    'deep': b'\x01' + b'[' * 100000 + b']' * 100000,
}
for name, v in values.items():
    with open(os.path.join(d, name + '.bin'), 'wb') as f:
        f.write(head + struct.pack('!hI', 1, len(v)) + v + struct.pack('!h', -1))
with open(os.path.join(d, 'short.bin'), 'wb') as f:
    f.write(head + struct.pack('!hI', 1, 1000) + b'\x01{"text"')
EOF
chmod -R a+rX "$WORK_DIR/binary"

# compressed streams cut in half, followed by junk, or not compressed at
# all behind a compressed name
gzip -c "$c4" >"$HOSTILE/whole.jsonl.gz"
size=$(stat -c %s "$HOSTILE/whole.jsonl.gz")
head -c $((size / 2)) "$HOSTILE/whole.jsonl.gz" >"$HOSTILE/half.jsonl.gz"
{ cat "$HOSTILE/whole.jsonl.gz"; printf 'junk after the stream'; } >"$HOSTILE/trailing.jsonl.gz"
zstd -q -c "$c4" >"$HOSTILE/whole.jsonl.zst"
size=$(stat -c %s "$HOSTILE/whole.jsonl.zst")
head -c $((size / 2)) "$HOSTILE/whole.jsonl.zst" >"$HOSTILE/half.jsonl.zst"
printf '\x1f\x8b\x08\x00garbage that is not deflate' >"$HOSTILE/garbage.jsonl.gz"
printf '\x28\xb5\x2f\xfdgarbage that is not zstd' >"$HOSTILE/garbage.jsonl.zst"
gzip -c "$HOSTILE/deep.jsonl" >"$HOSTILE/deep.jsonl.gz"
gzip -c "$HOSTILE/bad_utf8.jsonl" >"$HOSTILE/bad_utf8.jsonl.gz"
rm -f "$HOSTILE/whole.jsonl.gz" "$HOSTILE/whole.jsonl.zst"

# the server's account reads these and writes the exports
chmod -R a+rX "$HOSTILE"
chmod 777 "$OUT"

# ---------------------------------------------------------------------------
# The SQL: every file imported, every dataset exported, exports read back.
# ---------------------------------------------------------------------------

{
	cat <<'EOF'
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore CASCADE;
-- Runs a statement; an error is an answer here, printed with its SQLSTATE.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; n bigint;
BEGIN
	IF q ~* '^copy' THEN
		EXECUTE q;
	ELSE
		EXECUTE q INTO n;
	END IF;
	RETURN 'ok ' || coalesce(n::text, '');
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN st || ': ' || left(msg, 120);
END $$;
EOF
	n=0
	while IFS= read -r -d '' f; do
		n=$((n + 1))
		rel=${f#"$DATA_DIR"/}
		ds=shared_$n
		printf "SELECT %s AS file, pg_temp.try(format('SELECT imported + rejected FROM ftstore.import_file(%%L, %%L)', %s, %s));\n" \
			"'$rel'" "'$ds'" "'$f'"
		for fmt in openai alpaca sharegpt text; do
			printf "SELECT %s AS export, pg_temp.try('SELECT count(*) FROM ftstore.export(%s, %s, true)');\n" \
				"'$rel $fmt'" "''$ds''" "''$fmt''"
		done
		for comp in gzip zstd; do
			out=$OUT/$ds.jsonl.$comp
			[ "$comp" = gzip ] && out=$OUT/$ds.jsonl.gz
			[ "$comp" = zstd ] && out=$OUT/$ds.jsonl.zst
			printf "SELECT %s AS export_file, pg_temp.try('SELECT ftstore.export_file(%s, %s, %s, %s, true)');\n" \
				"'$rel $comp'" "''$ds''" "''$out''" "''openai''" "''$comp''"
			printf "SELECT %s AS reimport, pg_temp.try(format('SELECT imported + rejected FROM ftstore.import_file(%%L, %%L)', %s, %s));\n" \
				"'$rel $comp'" "'${ds}_back'" "'$out'"
		done
		printf "SELECT %s AS dedup, pg_temp.try('SELECT ftstore.dedup_exact(%s)');\n" "'$rel'" "''$ds''"
		printf "SELECT %s AS report, pg_temp.try('SELECT count(*) FROM ftstore.report(%s)');\n" "'$rel'" "''$ds''"
	done < <(find "$DATA_DIR" -type f \( -name '*.json' -o -name '*.jsonl' \) -print0 | sort -z)
	if [ "$n" -eq 0 ]; then
		echo "valgrind-hostile.sh: no data file in $DATA_DIR" >&2
		exit 1
	fi
	while IFS= read -r -d '' f; do
		n=$((n + 1))
		name=$(basename "$f")
		printf "SELECT %s AS hostile, pg_temp.try(format('SELECT imported + rejected FROM ftstore.import_file(%%L, %%L)', %s, %s));\n" \
			"'$name'" "'hostile_$n'" "'$f'"
		printf "SELECT %s AS read_records, pg_temp.try(format('SELECT count(*) FROM ftstore.read_records(%%L)', %s));\n" \
			"'$name'" "'$f'"
		printf "SELECT %s AS export, pg_temp.try('SELECT count(*) FROM ftstore.export(%s, %s, true)');\n" \
			"'$name'" "''hostile_$n''" "''openai''"
	done < <(find "$HOSTILE" -type f -print0 | sort -z)
	# the same broken bytes sent by a client rather than read from a file
	for name in half.jsonl.gz half.jsonl.zst garbage.jsonl.gz trailing.jsonl.gz bad_utf8.jsonl deep.jsonl; do
		printf "SELECT %s AS import_data, pg_temp.try(format('SELECT imported + rejected FROM ftstore.import_data(%%L, %%L, pg_read_binary_file(%%L))', %s, %s, %s));\n" \
			"'$name'" "'client_$name'" "'$name'" "'$HOSTILE/$name'"
	done
	# the binary form: every hostile value, then every stored sample sent
	# and received again
	echo "CREATE TEMP TABLE wire (s ftstore.ftsample);"
	while IFS= read -r -d '' f; do
		printf "SELECT %s AS copy_binary, pg_temp.try(%s);\n" "'$(basename "$f")'" \
			"'COPY wire FROM ''$f'' (FORMAT binary)'"
	done < <(find "$WORK_DIR/binary" -type f -print0 | sort -z)
	echo "COPY (SELECT sample FROM ftstore.samples) TO '$OUT/all.bin' (FORMAT binary);"
	echo "COPY wire FROM '$OUT/all.bin' (FORMAT binary);"
	# every accessor over every stored sample, comparison and hashing,
	# validation, rendering, facets and their GIN index
	cat <<'EOF'
SELECT 'accessors' AS sweep, count(*), sum(ftstore.char_count(s)),
	sum(ftstore.token_count(s)), count(DISTINCT ftstore.fingerprint(s, true)),
	sum(length(ftstore.prompt_text(s))), sum(length(ftstore.response_text(s))),
	count(ftstore.roles(s)), count(ftstore.turns(s)), count(ftstore.format(s)),
	count(ftstore.kind(s)), sum(length(s::text)), sum(length(s::jsonb::text)),
	sum(length(ftstore.ftsample_send(s))), count(ftstore.facets(s)),
	count(ftstore.facet_array(s)), sum(ftstore.ftsample_hash(s)::bigint % 7)
FROM wire;
SELECT 'validate' AS sweep, count(*) FROM wire w,
	LATERAL ftstore.validate(w.s::jsonb, 4096) v;
SELECT 'sort' AS sweep, count(*) FROM (SELECT s FROM wire ORDER BY s) o;
SELECT 'distinct' AS sweep, count(*) FROM (SELECT DISTINCT s FROM wire) d;
SELECT 'render' AS sweep, f, pg_temp.try(format(
	'SELECT count(ftstore.render(s, %L)) FROM wire', f))
FROM unnest(ARRAY['openai', 'alpaca', 'sharegpt', 'text']) f;
CREATE INDEX ON ftstore.samples USING gin (sample);
SET enable_seqscan = off;
SELECT 'gin' AS sweep, count(*) FROM ftstore.samples
	WHERE sample OPERATOR(ftstore.?) 'format'
	OR sample OPERATOR(ftstore.@>) '{"kind": "sft"}';
RESET enable_seqscan;
EOF
	echo "SELECT count(*) AS samples FROM ftstore.samples;"
	echo "SELECT count(*) AS rejects FROM ftstore.rejects;"
} >"$WORK_DIR/hostile.sql"

"${PSQL[@]}" -X -q -A -t -F ' | ' -f "$WORK_DIR/hostile.sql"
