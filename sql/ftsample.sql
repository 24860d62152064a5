-- The ftsample type: every input format, the canonical text, what is
-- kept, round trips (text, jsonb, binary), and equality, ordering and
-- hashing in GROUP BY, DISTINCT, indexes and joins.
--
-- Every expected line was checked by hand against docs/ftsample.md: the
-- canonical shape is OpenAI chat, keys in a fixed order (role, name,
-- content, tool_calls, tool_call_id, weight, then unknown keys in jsonb
-- order), with what that shape cannot say under "ftstore".
-- quiet, so that the output does not depend on which test ran first
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore;
RESET client_min_messages;
SET search_path = ftstore, public;
\pset format unaligned

-- Errors as one line: SQLSTATE [field path]: message / detail.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; col text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, col = COLUMN_NAME;
	RETURN st || coalesce(' [' || nullif(col, '') || ']', '') || ': ' || msg
		|| coalesce(' / ' || nullif(det, ''), '');
END $$;

-- One input per format and feature; canonical output of each.
CREATE TABLE inputs (n int PRIMARY KEY, what text, doc text);
INSERT INTO inputs VALUES
(1, 'openai: every role, name, tool_calls with null content, tool_call_id, weight 0/1, tools, parallel_tool_calls',
 '{"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "developer", "content": "Use tools."},
    {"role": "user", "content": "Weather in Oslo?", "name": "ann"},
    {"role": "assistant", "content": null, "weight": 0,
     "tool_calls": [{"id": "c1", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "-3 C"},
    {"role": "assistant", "content": "Cold: -3 C.", "weight": 1}],
   "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
   "parallel_tool_calls": false}'),
(2, 'openai: unknown keys, top level and per message, kept',
 '{"id": "r1", "messages": [{"role": "user", "content": "Hi", "lang": "en", "meta": {"b": 1, "a": [true, null]}},
                            {"content": "Hello", "role": "assistant"}], "source": {"file": "x.jsonl", "line": 3}}'),
(3, 'openai preference',
 '{"input": {"messages": [{"role": "user", "content": "Capital of France?"}], "tools": [], "parallel_tool_calls": true},
   "preferred_output": [{"role": "assistant", "content": "Paris."}],
   "non_preferred_output": [{"role": "assistant", "content": "Lyon."}]}'),
(4, 'alpaca, empty input',
 '{"instruction": "Add 2 and 3.", "input": "", "output": "5"}'),
(5, 'alpaca with system, history and input',
 '{"instruction": "And times?", "input": "2 3", "output": "6", "system": "You are a calculator.",
   "history": [["2 plus 3?", "5"], ["2 minus 3?", "-1"]]}'),
(6, 'alpaca preference: chosen and rejected',
 '{"instruction": "Say hi.", "input": "", "chosen": "Hi!", "rejected": "No."}'),
(7, 'alpaca with kto_tag',
 '{"instruction": "Say hi.", "input": "", "output": "Hi!", "kto_tag": false}'),
(8, 'sharegpt: human, gpt, system, function_call, observation; system and tools keys',
 '{"conversations": [
    {"from": "system", "value": "Mid-course note."},
    {"from": "human", "value": "Area of a 5x3 rectangle?"},
    {"from": "function_call", "value": "{\"name\": \"area\", \"arguments\": {\"w\": 5, \"h\": 3.0, \"shape\": \"rect\"}}"},
    {"from": "observation", "value": "{\"area\": 15}"},
    {"from": "gpt", "value": "15."}],
   "system": "You can call tools.",
   "tools": "[{\"name\": \"area\", \"parameters\": {\"type\": \"object\"}}]"}'),
(9, 'sharegpt preference',
 '{"conversations": [{"from": "human", "value": "2+2?"}],
   "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "5"}}'),
(10, 'KTO label on messages',
 '{"messages": [{"role": "user", "content": "Joke?"}, {"role": "assistant", "content": "No."}], "label": false}'),
(11, 'media with placeholders',
 '{"messages": [{"role": "user", "content": "<image><video>What happens? <audio>"},
                {"role": "assistant", "content": "A dog barks."}],
   "images": ["a.jpg"], "videos": ["b.mp4"], "audios": ["c.wav", "d.wav"]}'),
(12, 'typed content parts, value and text spellings, other parts kept whole, loss_weight',
 '{"messages": [{"role": "user", "content": [{"type": "text", "value": "Look:"},
                                             {"type": "image_url", "image_url": {"url": "http://x/y.png"}},
                                             {"type": "text", "text": "what is it?"}], "loss_weight": 0.0},
                {"role": "assistant", "content": [{"type": "reasoning", "value": "A cat, I think."},
                                                  {"type": "text", "value": "A cat."}], "loss_weight": 1.0}]}'),
(13, 'raw text',
 '{"text": "Once upon a time.", "url": "http://example.org/"}'),
(14, 'self-instruct instances',
 '{"id": "seed_task_1", "instruction": "Antonym?", "instances": [{"input": "hot", "output": "cold"}], "is_classification": false}'),
(15, 'instruction with response',
 '{"instruction": "Greet.", "input": "", "response": " Hello.", "target": "Hi."}'),
(16, 'sharegpt spelled with user/assistant/tool and a list of function calls',
 '{"conversations": [{"from": "user", "value": "Two calls?"},
    {"from": "function_call", "value": "[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\"}]"},
    {"from": "tool", "value": "done"}, {"from": "assistant", "value": "Both done."}], "id": 9}'),
(17, 'openai tools given as a string, empty content',
 '{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "?"}], "tools": "[]"}'),
(18, 'alpaca with null input and system, unknown key',
 '{"instruction": "Hi", "input": null, "output": "Hello", "system": null, "lang": "en"}'),
(19, 'openai legacy function role, content missing',
 '{"messages": [{"role": "user", "content": "x"}, {"role": "function", "name": "f", "content": "1"}, {"role": "assistant"}]}'),
(20, 'sharegpt: unknown key in a turn, kto_tag, tools as an array',
 '{"conversations": [{"from": "human", "value": "Hi", "lang": "en"}, {"from": "gpt", "value": "Yo", "mark": [1, {"b": 2, "a": 1}]}],
   "kto_tag": true, "tools": [{"name": "f"}]}'),
(21, 'openai with kto_tag, label spelled the Alpaca way',
 '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}], "kto_tag": true}');

SELECT n, what, doc::ftsample AS canonical FROM inputs ORDER BY n;

-- The canonical text is itself an input and reads back to the same value,
-- byte for byte, and prints the same; so do jsonb casts both ways.
SELECT n,
	   doc::ftsample::text::ftsample OPERATOR(ftstore.=) doc::ftsample AS text_round_trip,
	   doc::ftsample::text = doc::ftsample::text::ftsample::text AS stable_text,
	   doc::ftsample::jsonb::ftsample OPERATOR(ftstore.=) doc::ftsample AS jsonb_round_trip,
	   doc::jsonb::ftsample OPERATOR(ftstore.=) doc::ftsample AS from_jsonb,
	   doc::ftsample::jsonb = doc::ftsample::text::jsonb AS to_jsonb
FROM inputs ORDER BY n;

-- Key order and white space between tokens do not matter.
SELECT '{"output": "5", "input": "", "instruction": "Add 2 and 3."}'::ftsample
	   = (SELECT doc::ftsample FROM inputs WHERE n = 4) AS alpaca_key_order;
SELECT '{"messages":[{"content":"Hi","role":"user"},{"role":"assistant","content":"Yo"}]}'::ftsample
	   = '{ "messages" : [ { "role" : "user" , "content" : "Hi" } , { "content" : "Yo" , "role" : "assistant" } ] }'::ftsample
	   AS openai_key_order;
-- Equality is of the whole stored sample: format of origin, unknown keys
-- and white space inside strings all count.
SELECT '{"instruction": "Hi", "output": "Yo"}'::ftsample
	   = '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}'::ftsample AS alpaca_eq_openai,
	   '{"messages": [{"role": "user", "content": "Hi"}], "id": 1}'::ftsample
	   = '{"messages": [{"role": "user", "content": "Hi"}], "id": 2}'::ftsample AS ids_count,
	   '{"messages": [{"role": "user", "content": "Hi"}]}'::ftsample
	   = '{"messages": [{"role": "user", "content": "Hi "}]}'::ftsample AS space_counts,
	   '{"messages": [{"role": "user", "content": "Hi"}]}'::ftsample
	   <> '{"messages": [{"role": "user", "content": "Hi "}]}'::ftsample AS ne;
-- jsonb of a canonical sample keeps the meta key that says where it came from
SELECT jsonb_pretty(doc::ftsample::jsonb) FROM inputs WHERE n = 5;

-- Input with the format named
SELECT ftsample('{"instruction": "Hi", "output": "Yo"}', 'alpaca') = '{"instruction": "Hi", "output": "Yo"}'::ftsample AS named,
	   ftsample('{"instruction": "Hi", "output": "Yo"}', 'AUTO') = '{"instruction": "Hi", "output": "Yo"}'::ftsample AS auto;
SELECT pg_temp.try($q$SELECT ftsample('{"instruction": "Hi", "output": "Yo"}', 'sharegpt')$q$);
SELECT pg_temp.try($q$SELECT ftsample('{"text": "x"}', 'csv')$q$);

-- NULL in, NULL out
SELECT ftsample(NULL::text, 'openai') IS NULL AS strict_parse, NULL::jsonb::ftsample IS NULL AS strict_cast;

-- The metadata key: what the canonical output writes, it reads.
SELECT '{"messages": [{"role": "user", "content": "Q\nI"}, {"role": "assistant", "content": "A"}],
		 "ftstore": {"format": "alpaca", "input_offset": 2}}'::ftsample;
SELECT render('{"messages": [{"role": "user", "content": "Q\nI"}, {"role": "assistant", "content": "A"}],
		 "ftstore": {"format": "alpaca", "input_offset": 2}}'::ftsample, 'alpaca');

-- Binary send: a version byte, 1, then the canonical text in UTF-8.
SELECT n, ftsample_send(doc::ftsample) = '\x01'::bytea || convert_to(doc::ftsample::text, 'UTF8') AS send_form
FROM inputs ORDER BY n;
-- Multibyte text goes out as UTF-8 bytes.
SELECT ftsample_send('{"text": "é€😀"}') AS send_bytes;

-- Binary receive through COPY BINARY: out to a file, back into a table.
CREATE TABLE bin_out (n int, s ftsample);
CREATE TABLE bin_in (n int, s ftsample);
INSERT INTO bin_out SELECT n, doc::ftsample FROM inputs;
DO $$
DECLARE
	f text := '/tmp/ftstore_regress_ftsample_' || pg_backend_pid() || '.bin';
BEGIN
	EXECUTE format('COPY bin_out TO %L (FORMAT binary)', f);
	EXECUTE format('COPY bin_in FROM %L (FORMAT binary)', f);
	-- the file holds each value's send form: version byte and canonical text
	PERFORM 1 FROM bin_out
	WHERE position(ftsample_send(s) IN pg_read_binary_file(f)) = 0;
	IF FOUND THEN
		RAISE EXCEPTION 'a value''s send form is not in the COPY BINARY file';
	END IF;
	EXECUTE format('COPY (SELECT 1) TO %L', f);	-- leave nothing big behind
END $$;
SELECT count(*) AS rows_back,
	   count(*) FILTER (WHERE o.s = i.s) AS equal,
	   count(*) FILTER (WHERE o.s::text = i.s::text) AS same_text
FROM bin_out o JOIN bin_in i USING (n);

-- Equality, hashing and ordering in use.
CREATE TABLE eq (id serial, s ftsample);
INSERT INTO eq (s)
SELECT doc::ftsample FROM inputs, generate_series(1, 3)
UNION ALL
SELECT '{"output": "5", "instruction": "Add 2 and 3.", "input": ""}'::ftsample;	-- = input 4
SELECT count(*) AS rows, count(DISTINCT s) AS distinct_samples FROM eq;
SELECT count(*) AS groups, min(c) AS smallest, max(c) AS largest
FROM (SELECT s, count(*) AS c FROM eq GROUP BY s) g;
SET enable_hashagg = off;
SELECT count(*) AS sorted_groups FROM (SELECT s FROM eq GROUP BY s) g;
RESET enable_hashagg;
SET enable_sort = off;
SELECT count(*) AS hashed_groups FROM (SELECT s FROM eq GROUP BY s) g;
RESET enable_sort;
SELECT count(*) AS distinct_rows FROM (SELECT DISTINCT s FROM eq) d;
-- ordering is total and consistent with equality
SELECT bool_and((a.s < b.s)::int + (a.s = b.s)::int + (a.s > b.s)::int = 1) AS trichotomy,
	   bool_and((a.s <= b.s) = (a.s < b.s OR a.s = b.s)) AS le,
	   bool_and((a.s >= b.s) = (a.s > b.s OR a.s = b.s)) AS ge,
	   bool_and((a.s = b.s) = (ftsample_cmp(a.s, b.s) = 0)) AS cmp,
	   bool_and((a.s = b.s) <= (ftsample_hash(a.s) = ftsample_hash(b.s))) AS hash,
	   bool_and((a.s = b.s) <= (ftsample_hash_extended(a.s, 7) = ftsample_hash_extended(b.s, 7))) AS hash_ext
FROM eq a, eq b;
-- UNIQUE index
CREATE TABLE uniq (s ftsample UNIQUE);
INSERT INTO uniq SELECT DISTINCT doc::ftsample FROM inputs;
SELECT pg_temp.try($q$INSERT INTO uniq VALUES ('{"instruction": "Add 2 and 3.", "output": "5", "input": ""}')$q$);
SELECT pg_temp.try($q$INSERT INTO uniq VALUES ('{"instruction": "Add 2 and 3.", "output": "5", "input": " "}')$q$);
-- index scans: btree, then hash
CREATE INDEX eq_btree ON eq USING btree (s);
ANALYZE eq;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
\pset format aligned
EXPLAIN (COSTS OFF) SELECT id FROM eq WHERE s = '{"text": "Once upon a time.", "url": "http://example.org/"}';
\pset format unaligned
SELECT count(*) AS btree_hits,
	   array_agg(id ORDER BY id) = (SELECT array_agg(id ORDER BY id) FROM eq
									WHERE s::text = '{"text": "Once upon a time.", "url": "http://example.org/"}') AS right_rows
FROM eq WHERE s = '{"text": "Once upon a time.", "url": "http://example.org/"}';
DROP INDEX eq_btree;
CREATE INDEX eq_hash ON eq USING hash (s);
\pset format aligned
EXPLAIN (COSTS OFF) SELECT id FROM eq WHERE s = '{"text": "Once upon a time.", "url": "http://example.org/"}';
\pset format unaligned
SELECT count(*) AS hash_hits,
	   array_agg(id ORDER BY id) = (SELECT array_agg(id ORDER BY id) FROM eq
									WHERE s::text = '{"text": "Once upon a time.", "url": "http://example.org/"}') AS right_rows
FROM eq WHERE s = '{"text": "Once upon a time.", "url": "http://example.org/"}';
RESET enable_seqscan;
RESET enable_bitmapscan;
-- joins: hash and merge
SET enable_nestloop = off;
SET enable_mergejoin = off;
\pset format aligned
EXPLAIN (COSTS OFF) SELECT count(*) FROM eq a JOIN uniq b ON a.s = b.s;
\pset format unaligned
SELECT count(*) AS hash_join_rows FROM eq a JOIN uniq b ON a.s = b.s;
RESET enable_mergejoin;
SET enable_hashjoin = off;
\pset format aligned
EXPLAIN (COSTS OFF) SELECT count(*) FROM eq a JOIN uniq b ON a.s = b.s;
\pset format unaligned
SELECT count(*) AS merge_join_rows FROM eq a JOIN uniq b ON a.s = b.s;
RESET enable_hashjoin;
RESET enable_nestloop;
-- Text input reads JSON in one pass of its own (src/sample/jsontext.c)
-- and leaves what it does not vouch for to jsonb_in.  The cast from
-- jsonb takes PostgreSQL's parser alone, so each text below, read both
-- ways, must give the same sample: escapes, \u escapes and surrogate
-- pairs, numbers in every JSON form, duplicate keys (the last wins), white
-- space, empty and nested containers, nesting at ftstore.max_depth, and
-- a sample of fifty thousand escaped strings.
CREATE TABLE twoway (n int, t text);
INSERT INTO twoway VALUES
(1, $j${"messages": [{"role": "user", "content": "q \"quoted\" \\ \/ \b\f\n\r\t end"}, {"role": "assistant", "content": "a"}]}$j$),
(2, $j${"text": "\u00e9t\u00E9 \u4e2d\u6587 \ud83d\ude00 \u0041\u00fc"}$j$),
(3, $j${"text": "n", "nums": [0, -0, 7, -12, 1.5, -0.25, 1e3, 1E+3, 2.5e-3, 12345678901234567890123, 0.000001]}$j$),
(4, $j${"text": "first", "k": 1, "k": {"b": [], "a": {}}, "text": "last"}$j$),
(5, E'{ \t\r\n"text" \r\n:\t"spaced" \n, "x" : [ 1 , { } , [ ] ] }\n'),
(6, $j${"instruction": "i", "input": "", "output": "o", "meta": {"tags": ["a", "b"], "ok": true, "no": false, "none": null}}$j$),
(7, $j${"conversations": [{"from": "human", "value": "h\u00e9"}, {"from": "gpt", "value": "g"}], "tools": "[{\"name\": \"f\"}]"}$j$),
(8, '{"text": "deep", "x": ' || repeat('[', 63) || repeat(']', 63) || '}'),
(9, $j${"text": "", "\u006bey": "escaped key", "k\"q": 1}$j$),
-- many strings with escapes: each is decoded into a buffer of its own size
(10, '{"text": "many", "k": [' ||
	 (SELECT string_agg('"a\nb"', ', ') FROM generate_series(1, 50000)) || ']}'),
-- quotes after runs of backslashes: a quote closes its string only after
-- an even run (the closing quote is found by counting them)
(11, $j${"text": "ends in a backslash \\", "k": "\\\"q\\\\", "e": "\"\"\\"}$j$),
(12, '{"text": "' || repeat(E'\\', 101) || '"' || repeat(E'\\', 100) || '", "k": "\\"}');
SELECT n, t::ftsample = t::jsonb::ftsample AS same_sample,
	   t::ftsample::text = t::jsonb::ftsample::text AS same_text
FROM twoway ORDER BY n;
SELECT t::ftsample AS decoded FROM twoway WHERE n IN (1, 2, 4, 11);
SELECT length(t::ftsample::jsonb ->> 'text') AS text_length FROM twoway WHERE n = 12;

-- Text that jsonb_in refuses gets jsonb_in's own error, as before.
SELECT n, pg_temp.try(format('SELECT %L::ftsample', t)) = pg_temp.try(format('SELECT %L::jsonb', t)) AS same_error,
	   pg_temp.try(format('SELECT %L::ftsample', t)) AS error
FROM (VALUES (1, $j${"text": "a\qb"}$j$), (2, $j${"text": "\ud800x"}$j$),
	  (3, $j${"text": "x", "n": 01}$j$), (4, $j${"text": "x", "n": 1e}$j$),
	  (5, $j${"text": "x",}$j$), (6, $j${"text": truex}$j$),
	  (7, E'{"text": "tab\there"}'), (8, $j${"text": "\u12"}$j$),
	  (9, $j${"text": "x"} y$j$)) AS bad (n, t) ORDER BY n;
DROP TABLE twoway;

-- a value stored out of line (TOAST, compressed) compares like one in line
CREATE TABLE big (s ftsample);
INSERT INTO big VALUES (('{"text": "' || repeat('abc ', 100000) || '"}')::ftsample);
SELECT pg_column_size(s) < 100000 AS compressed,
	   s = ('{"text": "' || repeat('abc ', 100000) || '"}')::ftsample AS equal,
	   ftsample_hash(s) = ftsample_hash(('{"text": "' || repeat('abc ', 100000) || '"}')::ftsample) AS same_hash,
	   length(s::text) AS text_length
FROM big;

-- compressed and uncompressed values together: equality, order and hash agree
INSERT INTO big VALUES (('{"text": "' || repeat('abc ', 100000) || 'x"}')::ftsample),
	(('{"text": "' || repeat('abd ', 100000) || '"}')::ftsample),
	('{"text": "abc "}'), ('{"text": "abc abc "}'),
	(('{"text": "' || repeat('abc ', 100000) || '"}')::ftsample);	-- = the first
SELECT count(*) AS rows, count(DISTINCT s) AS distinct_values,
	   (SELECT count(*) FROM (SELECT s FROM big GROUP BY s) g) AS groups
FROM big;
SELECT bool_and((a.s < b.s)::int + (a.s = b.s)::int + (a.s > b.s)::int = 1) AS trichotomy,
	   bool_and((a.s = b.s) = (ftsample_cmp(a.s, b.s) = 0)) AS cmp,
	   bool_and((a.s < b.s) = (ftsample_cmp(b.s, a.s) > 0)) AS antisymmetric,
	   bool_and((a.s = b.s) = (a.s::text = b.s::text)) AS eq_is_text_eq,
	   bool_and((a.s = b.s) <= (ftsample_hash(a.s) = ftsample_hash(b.s))) AS hash
FROM big a, big b;

-- The operators live in schema ftstore: without it on the search path
-- they are spelled OPERATOR(ftstore.=).
SET search_path = public;
SELECT '{"text": "a"}'::ftstore.ftsample OPERATOR(ftstore.=) '{"text": "a"}'::ftstore.ftsample AS qualified;
SELECT pg_temp.try($q$SELECT '{"text": "a"}'::ftstore.ftsample = '{"text": "a"}'::ftstore.ftsample$q$);
SET search_path = ftstore, public;

DROP TABLE inputs, bin_out, bin_in, eq, uniq, big;
