#!/usr/bin/python3
"""
test_roundtrip.py: every record of ../shared/data through the ftsample
type and back.

For each record of each file (JSON arrays and JSONL, not
llamafactory/dataset_info.json):

- the canonical text reads back to the same value (s::text::ftsample = s)
  and prints the same text again;
- rendered as OpenAI and parsed again it has the same fingerprint, and
  renders to the very same bytes;
- rendered in the format it came in (ftstore.format(s)) and parsed again
  it has the same fingerprint and is the same value; except that an
  OpenAI rendering is OpenAI's own shape, which has no "ftstore" key, so
  a sample that needs one (say, tools given as a JSON string, as in
  reason_tool_use_demo_50.jsonl) comes back with tools as an array;
- fetched by psycopg in binary format, the value is the version byte 1
  and then the canonical text, in UTF-8, equal to the text output;
- sent back in binary format (a parameter of binary format) it reads in
  as the same value.

Connects with PGHOST, PGPORT, PGUSER, PGDATABASE; creates the extension if
it is missing.  Prints "N passed, N failed" last; exits non-zero on any
failure.
"""

import json
import sys
from pathlib import Path

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from _check import check, summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = (ROOT / ".." / "shared" / "data").resolve()


def records(path):
    """Each record's exact JSON text."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [line for line in text.split("\n") if line.strip()]
    dec = json.JSONDecoder()
    i = text.index("[") + 1
    out = []
    while True:
        while text[i] in " \t\r\n,":
            i += 1
        if text[i] == "]":
            return out
        _, end = dec.raw_decode(text, i)
        out.append(text[i:end])
        i = end


class WireSample:
    """An ftsample value in the binary wire form, as a driver would send it."""

    def __init__(self, data):
        self.data = data


def main():
    if not check((DATA / "README.md").is_file(), "shared data at %s" % DATA):
        return summary()
    conn = psycopg.connect(autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS ftstore")
    oid = conn.execute("SELECT 'ftstore.ftsample'::regtype::oid").fetchone()[0]

    class WireDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj):
            return obj.data

    WireDumper.oid = oid
    conn.adapters.register_dumper(WireSample, WireDumper)

    conn.execute("CREATE TEMP TABLE rt (file text, i int, s ftstore.ftsample)")
    files = [p for p in sorted(DATA.rglob("*"))
             if p.suffix in (".json", ".jsonl") and p.name != "dataset_info.json"]
    check(len(files) >= 13, "found %d data files" % len(files))
    for path in files:
        rel = str(path.relative_to(DATA))
        texts = records(path)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO rt SELECT %s, i, t::ftstore.ftsample "
                        "FROM unnest(%s::text[]) WITH ORDINALITY u(t, i)", (rel, texts))
            check(cur.rowcount == len(texts), "%s: %d records stored of %d"
                  % (rel, cur.rowcount, len(texts)))

    # All checks in one pass; a row per record that fails any of them.
    with conn.cursor() as cur:
        cur.execute("SET search_path = ftstore, public")
        cur.execute("""
            SELECT file, i, text_same, text_stable, openai_fp, openai_bytes,
                   own, own_fp, own_same
            FROM (SELECT file, i,
                         s::text::ftsample = s AS text_same,
                         s::text::ftsample::text = s::text AS text_stable,
                         fingerprint(render_text(s, 'openai')::ftsample) = fingerprint(s) AS openai_fp,
                         render_text(render_text(s, 'openai')::ftsample, 'openai')
                             = render_text(s, 'openai') AS openai_bytes,
                         format(s) AS own,
                         fingerprint(render_text(s, format(s))::ftsample) = fingerprint(s) AS own_fp,
                         render_text(s, format(s))::ftsample = s
                             OR (format(s) = 'openai' AND s::jsonb ? 'ftstore') AS own_same
                  FROM rt) t
            ORDER BY file, i""")
        rows = cur.fetchall()
    names = ["text round trip", "text stable", "openai render: same fingerprint",
             "openai render: same bytes", None, "own-format render: same fingerprint",
             "own-format render: same value"]
    for row in rows:
        file, i = row[0], row[1]
        for name, ok in zip(names, row[2:]):
            if name is not None:
                check(ok is True, "%s record %d: %s (format %s)" % (file, i, name, row[6]))

    # Binary wire form, as a driver sees it.
    with conn.cursor(binary=True) as cur:
        cur.execute("SELECT file, i, s FROM rt ORDER BY file, i")
        wire = cur.fetchall()
    with conn.cursor() as cur:
        cur.execute("SELECT file, i, s::text FROM rt ORDER BY file, i")
        text = cur.fetchall()
    check(len(wire) == len(text) == len(rows), "binary and text fetch the same rows")
    for (f, i, w), (_, _, t) in zip(wire, text):
        w = bytes(w)
        check(w[:1] == b"\x01" and w[1:] == t.encode("utf-8"),
              "%s record %d: binary form is version 1 and the canonical text" % (f, i))

    # and back in through the binary receive function
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE back (file text, i int, s ftstore.ftsample)")
        cur.executemany("INSERT INTO back VALUES (%s, %s, %s)",
                        [(f, i, WireSample(bytes(w))) for f, i, w in wire])
        cur.execute("""SELECT count(*), count(*) FILTER (WHERE b.s OPERATOR(ftstore.=) r.s)
                       FROM back b JOIN rt r USING (file, i)""")
        n, same = cur.fetchone()
    check(n == len(wire) and same == n,
          "binary receive: %d of %d rows read back as the same value" % (same, n))

    # a wrong version byte and invalid UTF-8 are refused by receive
    for data, state in ((b"\x02" + text[0][2].encode(), "22P03"),
                        (b"\x01{\"text\": \"\xff\xfe\"}", "22021"),
                        (b"\x01{\"text\": \"a\x00b\"}", "22021"),
                        (b"", "08P01")):
        try:
            conn.execute("SELECT %s", (WireSample(data),))
            check(False, "receive of %r was refused" % data[:20])
        except psycopg.Error as e:
            check(e.sqlstate == state, "receive of %r: SQLSTATE %s, wanted %s"
                  % (data[:20], e.sqlstate, state))
    # a bad field is reported with its path in the column name field
    try:
        conn.execute("SELECT %s::ftstore.ftsample",
                     ('{"messages": [{"role": "user"}, {"role": "robot"}]}',))
        check(False, "unknown role refused")
    except psycopg.Error as e:
        check(e.sqlstate == "22023" and e.diag.column_name == "messages[1].role",
              "unknown role: %s %s" % (e.sqlstate, e.diag.column_name))
    conn.close()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
