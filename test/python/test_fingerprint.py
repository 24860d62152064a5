#!/usr/bin/python3
"""
test_fingerprint.py: ftstore.fingerprint recomputed outside the database.

For every record of every file in ../shared/data (beside the project's
root), the fingerprint is computed here, in Python, from the JSON alone,
by the definition in docs/dedup.md: the record converted to the canonical
model (Alpaca, ShareGPT with function_call turns as tool calls, OpenAI
chat and preference, KTO, raw text), its text normalised (NFC, the three
invisible characters removed, str.isspace() runs folded to one space,
ends trimmed), fields written as "length:bytes", SHA-256, first 16 bytes.
It is then compared byte for byte with the database's
ftstore.fingerprint(doc::ftstore.ftsample), and with the fingerprint
column that ftstore.import_data() fills for each record of the file.

Where the definition says "as jsonb writes it" (tools, tool call arguments
from ShareGPT, content parts kept as JSON), this file writes JSON the way
jsonb does: object keys ordered by byte length then bytes, the last of
duplicate keys kept, ", " and ": " as separators, numbers as numeric
prints them, and jsonb's string escapes.  That is replicated exactly, so
no record needs a looser comparison.

Then duplicate counts: duplicates by whole-record identity (the record
with its keys sorted) must match the data README for every file, and
alpaca_en_demo.json must have 14 and glaive_toolcall_en_demo.json 35; the
count of records minus distinct fingerprints must be the same here and in
the database.

Connects with PGHOST, PGPORT, PGUSER, PGDATABASE; creates the extension if
it is missing.  Prints "N passed, N failed" last; exits non-zero on any
failure.
"""

import decimal
import hashlib
import json
import os
import re
import sys
import unicodedata
from pathlib import Path

import psycopg
from _check import check, summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = (ROOT / ".." / "shared" / "data").resolve()


# --- JSON as jsonb reads and writes it -------------------------------------

class JNum:
    """A JSON number, kept as numeric would print it."""

    def __init__(self, text):
        d = decimal.Decimal(text)
        scale = max(0, -d.as_tuple().exponent)
        s = format(d, "." + str(scale) + "f")
        if d == 0 and s.startswith("-"):
            s = s[1:]
        self.text = s

    def __eq__(self, other):
        return isinstance(other, JNum) and other.text == self.text

    def __hash__(self):
        return hash(self.text)


def loads(text):
    """Parse JSON keeping numbers exact; duplicate keys: the last one wins."""
    return json.loads(text, parse_float=JNum, parse_int=JNum,
                      parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


def jstr(s):
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jsonb_text(v):
    """The text jsonb's output function gives for a value."""
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(jstr(k) + ": " + jsonb_text(v[k]) for k in keys) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(jsonb_text(x) for x in v) + "]"
    if isinstance(v, str):
        return jstr(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, JNum):
        return v.text
    raise TypeError(type(v))


# --- normalisation and the byte string of docs/dedup.md --------------------

INVISIBLE = {"\u200b", "\u2060", "\ufeff"}


def normalize(s, fold_case=False):
    s = unicodedata.normalize("NFC", s)
    s = "".join(c for c in s if c not in INVISIBLE)
    words, word = [], []
    for c in s:
        if c.isspace():
            if word:
                words.append("".join(word))
                word = []
        else:
            word.append(c)
    if word:
        words.append("".join(word))
    out = " ".join(words)
    if fold_case:
        out = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in out)
    return out


def field(s):
    b = s.encode("utf-8")
    return str(len(b)).encode() + b":" + b


# --- the canonical model, built from the JSON by the spec ------------------

class Msg:
    def __init__(self, section, role, text="", calls="", json_parts=""):
        self.section, self.role = section, role
        self.text, self.calls, self.json_parts = text, calls, json_parts


def openai_message(section, m):
    content = m.get("content")
    texts, parts = [], []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for p in content:
            if isinstance(p, str):
                texts.append(p)
                continue
            t = p.get("text") if "text" in p else p.get("value")
            if len(p) == 2 and "type" in p and isinstance(t, str):
                texts.append(t)
            else:
                parts.append(jsonb_text(p))
    calls = []
    for c in m.get("tool_calls") or []:
        f = c["function"]
        calls.append(f["name"] + "(" + f.get("arguments", "") + ")")
    return Msg(section, m["role"], "\n".join(texts), "\n".join(calls),
               "\n".join(parts))


SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant",
                  "assistant": "assistant", "system": "system",
                  "function_call": "assistant", "observation": "tool",
                  "tool": "tool"}


def sharegpt_turn(section, t):
    role = SHAREGPT_ROLES[t["from"]]
    if t["from"] != "function_call":
        return Msg(section, role, t["value"])
    v = loads(t["value"])
    calls = []
    for c in (v if isinstance(v, list) else [v]):
        a = c.get("arguments")
        if a is None and "arguments" not in c:
            a = "{}"
        elif not isinstance(a, str):
            a = jsonb_text(a)
        calls.append(c["name"] + "(" + a + ")")
    return Msg(section, role, "", "\n".join(calls))


def tools_text(v):
    if v is None:
        return None
    if isinstance(v, str):
        if v == "":
            return None
        v = loads(v)
    return jsonb_text(v)


def model(rec):
    """(kind, messages, tools text or None, media) of a record."""
    msgs = []
    kind = "sft"
    tools = None
    if "messages" in rec:
        msgs = [openai_message("prompt", m) for m in rec["messages"]]
    elif "input" in rec and ("preferred_output" in rec or "non_preferred_output" in rec):
        kind = "preference"
        msgs = [openai_message("prompt", m) for m in rec["input"]["messages"]]
        msgs += [openai_message("chosen", m) for m in rec["preferred_output"]]
        msgs += [openai_message("rejected", m) for m in rec["non_preferred_output"]]
        if "tools" in rec["input"]:
            tools = tools_text(rec["input"]["tools"])
    elif "conversations" in rec:
        if rec.get("system") is not None:
            msgs.append(Msg("prompt", "system", rec["system"]))
        msgs += [sharegpt_turn("prompt", t) for t in rec["conversations"]]
        if "chosen" in rec:
            kind = "preference"
            msgs.append(sharegpt_turn("chosen", rec["chosen"]))
            msgs.append(sharegpt_turn("rejected", rec["rejected"]))
    elif "instruction" in rec:
        inp, out = rec.get("input"), rec.get("output")
        inst = rec.get("instances")
        if ("input" not in rec and "output" not in rec and isinstance(inst, list)
                and len(inst) == 1 and isinstance(inst[0], dict) and len(inst[0]) == 2
                and "input" in inst[0] and "output" in inst[0]):
            inp, out = inst[0]["input"], inst[0]["output"]
        if "output" not in rec and out is None and "response" in rec:
            out = rec["response"]
        if rec.get("system") is not None:
            msgs.append(Msg("prompt", "system", rec["system"]))
        for q, a in rec.get("history") or []:
            msgs.append(Msg("prompt", "user", q))
            msgs.append(Msg("prompt", "assistant", a))
        prompt = rec["instruction"]
        if inp:
            prompt += "\n" + inp
        msgs.append(Msg("prompt", "user", prompt))
        if out is not None:
            msgs.append(Msg("prompt", "assistant", out))
        if "chosen" in rec:
            kind = "preference"
            msgs.append(Msg("chosen", "assistant", rec["chosen"]))
            msgs.append(Msg("rejected", "assistant", rec["rejected"]))
    elif "text" in rec:
        kind = "text"
        msgs = [Msg("prompt", "text", rec["text"])]
    else:
        raise ValueError("no format")
    if "tools" in rec:
        tools = tools_text(rec["tools"])
    if "label" in rec or "kto_tag" in rec:
        kind = "kto"
    media = [(k, rec.get(k) or []) for k in ("images", "videos", "audios")]
    return kind, msgs, tools, media


def fingerprint(rec, fold_case=False):
    kind, msgs, tools, media = model(rec)
    b = field("ftfp1") + field(kind)
    for m in msgs:
        b += field(m.section) + field(m.role)
        b += field(normalize(m.text, fold_case))
        b += field(normalize(m.calls, fold_case))
        b += field(normalize(m.json_parts, fold_case))
    b += field("tools")
    b += field(normalize(tools, fold_case) if tools is not None else "")
    for key, items in media:
        b += field(key)
        for item in items:
            b += field(item)
    return hashlib.sha256(b).digest()[:16]


# --- the shared files -------------------------------------------------------

def records(path):
    """Each record's exact JSON text, as import would read it."""
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


def data_files():
    files = [p for p in sorted(DATA.rglob("*"))
             if p.suffix in (".json", ".jsonl") and p.name != "dataset_info.json"]
    return files


def readme_duplicates():
    """The README's whole-record duplicate count per file."""
    counts = {}
    for line in (DATA / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 5 and cells[1]:
            name = cells[1].split(" ")[0]
            m = re.match(r"^(\d+)", cells[4])
            if re.match(r"^\S+\.jsonl?$", name) and m:
                counts[name] = int(m.group(1))
    return counts


def db_fingerprints(conn, texts):
    """Fingerprints from the database; None for a record it refuses."""
    with conn.cursor() as cur:
        try:
            cur.execute("SELECT ftstore.fingerprint(t::ftstore.ftsample) "
                        "FROM unnest(%s::text[]) WITH ORDINALITY u(t, i) ORDER BY i",
                        (texts,))
            return [bytes(r[0]) for r in cur.fetchall()]
        except psycopg.Error:
            conn.rollback()
    out = []
    with conn.cursor() as cur:
        for t in texts:
            try:
                cur.execute("SELECT ftstore.fingerprint(%s::ftstore.ftsample)", (t,))
                out.append(bytes(cur.fetchone()[0]))
            except psycopg.Error as e:
                conn.rollback()
                print("  database refuses a record:", e.diag.message_primary,
                      e.diag.column_name)
                out.append(None)
    return out


def check_import(conn, rel, path, ours, theirs):
    """The fingerprint column an import fills (the generated column reads
    back each sample just written, through the backend's cache of bodies
    it compressed) against Python's fingerprint of the same record."""
    name = "fp " + rel
    with conn.cursor() as cur:
        cur.execute("SELECT imported, rejected FROM ftstore.import_data(%s, %s, %s)",
                    (name, rel, path.read_bytes()))
        imported, rejected = cur.fetchone()
        cur.execute("SELECT s.record, s.fingerprint FROM ftstore.samples s"
                    " JOIN ftstore.datasets d ON d.id = s.dataset_id"
                    " WHERE d.name = %s ORDER BY s.record", (name,))
        stored = {r[0]: bytes(r[1]) for r in cur.fetchall()}
        cur.execute("DELETE FROM ftstore.datasets WHERE name = %s", (name,))
    good = [i for i, b in enumerate(theirs) if b is not None]
    check(imported == len(good) and rejected == len(theirs) - len(good),
          "%s: import_data took %d and refused %d, expected %d and %d"
          % (rel, imported, rejected, len(good), len(theirs) - len(good)))
    wrong = [i for i in good if stored.get(i + 1) != ours[i]]
    check(not wrong, "%s: %d imported fingerprints differ from python's, records %s"
          % (rel, len(wrong), [i + 1 for i in wrong[:5]]))


def main():
    if not check((DATA / "README.md").is_file(), "shared data at %s" % DATA):
        return summary()
    conn = psycopg.connect(autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS ftstore")
    readme = readme_duplicates()
    whole = {}
    for path in data_files():
        rel = str(path.relative_to(DATA))
        texts = records(path)
        recs = [loads(t) for t in texts]
        ours = [fingerprint(r) for r in recs]
        theirs = db_fingerprints(conn, texts)
        bad = 0
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if not check(a == b, "%s record %d: python %s, database %s"
                         % (rel, i, a.hex(), b.hex() if b else None)):
                bad += 1
                if bad <= 3:
                    print("  record:", texts[i][:300])
        check_import(conn, rel, path, ours, theirs)
        # fold_case too, on one file with capitals in it
        if rel == "llamafactory/alpaca_en_demo.json":
            with conn.cursor() as cur:
                cur.execute("SELECT ftstore.fingerprint(t::ftstore.ftsample, true) "
                            "FROM unnest(%s::text[]) WITH ORDINALITY u(t, i) ORDER BY i",
                            (texts[:50],))
                folded = [bytes(r[0]) for r in cur.fetchall()]
            check(folded == [fingerprint(r, True) for r in recs[:50]],
                  "%s: fold_case fingerprints" % rel)

        n = len(recs)
        exact = n - len({json.dumps(json.loads(t), sort_keys=True) for t in texts})
        norm = n - len(set(ours))
        db_norm = n - len(set(theirs))
        whole[rel] = exact
        print("%s: %d records, %d whole-record duplicates, %d by fingerprint "
              "(database %d)" % (rel, n, exact, norm, db_norm))
        check(rel in readme and readme[rel] == exact,
              "%s: whole-record duplicates %d, README says %s" % (rel, exact, readme.get(rel)))
        # identical records share a fingerprint, so normalised dedup finds
        # at least the whole-record duplicates; it may find more
        check(norm >= exact, "%s: %d fingerprint duplicates < %d exact" % (rel, norm, exact))
        check(norm == db_norm, "%s: fingerprint duplicates, python %d, database %d"
              % (rel, norm, db_norm))
        if norm == exact:
            check(db_norm == exact, "%s: database duplicates %d, whole-record %d"
                  % (rel, db_norm, exact))

    check(whole.get("llamafactory/alpaca_en_demo.json") == 14,
          "alpaca_en_demo.json has 14 whole-record duplicates")
    check(whole.get("llamafactory/glaive_toolcall_en_demo.json") == 35,
          "glaive_toolcall_en_demo.json has 35 whole-record duplicates")
    check(len(whole) == len(readme), "every file the README lists was read: %s vs %s"
          % (sorted(whole), sorted(readme)))
    conn.close()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
