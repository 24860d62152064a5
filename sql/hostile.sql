-- Hostile input: every fault gets a clean error with an SQLSTATE and, for
-- faults inside a sample, the JSON path of the field in the error's
-- column name field; nothing is half stored; the session goes on.
--
-- Expected lines were checked by hand: each case's path is the field that
-- was broken (path_ok compares it with the path this file computed), the
-- SQLSTATE is 22P02 for malformed JSON and wrong types, 22023 for values
-- of the right type that mean nothing (unknown roles, bad weights), 22P05
-- for \u0000, 54000 for limits.  The 200 MB and invalid UTF-8 cases are in
-- test/t/030_hostile.pl, since they need a client.
-- quiet, so that the output does not depend on which test ran first
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore;
RESET client_min_messages;
SET search_path = ftstore, public;
\pset format unaligned

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
-- Try a JSON text as a sample.
CREATE FUNCTION pg_temp.s(j text) RETURNS text LANGUAGE sql
	AS $$ SELECT pg_temp.try(format('SELECT %L::ftstore.ftsample', j)) $$;

-- Malformed JSON: truncated, bad escapes, \u0000, lone surrogates
SELECT n, pg_temp.s(j) AS result FROM (VALUES
	(1, '{"messages": [{"role": "user", "content": "hi"'),
	(2, '{"messages": [{"role": "user", "content": "hi"}]'),
	(3, '{"text": "abc'),
	(4, '{"text": "a\xb"}'),
	(5, '{"text": "a\u12"}'),
	(6, '{"text": "a\uZZZZ"}'),
	(7, '{"text": "a\u0000b"}'),
	(8, '{"text": "a\ud800"}'),
	(9, '{"text": "a\udc00b"}'),
	(10, '{"text": "a\ud800\u0041"}'),
	(11, '{"text": "tab	inside"}'),
	(12, '{"text": "x",}'),
	(13, '{"text": "x"} trailing'),
	(14, '{''text'': ''x''}'),
	(15, '')) AS v(n, j)
ORDER BY n;
-- a valid surrogate pair is fine
SELECT '{"text": "\ud83d\ude00"}'::ftsample;

-- Not an object, or an object of no known format
SELECT n, pg_temp.s(j) AS result FROM (VALUES
	(1, '[]'), (2, '"text"'), (3, '5'), (4, 'null'), (5, 'true'), (6, '   '),
	(7, '{}'), (8, '{"id": 1, "prompt": "x"}'), (9, '[{"text": "x"}]')) AS v(n, j)
ORDER BY n;

-- Unknown roles
SELECT n, pg_temp.s(j) AS result FROM (VALUES
	(1, '{"messages": [{"role": "robot", "content": "x"}]}'),
	(2, '{"messages": [{"role": "User", "content": "x"}]}'),
	(3, '{"messages": [{"role": "text", "content": "x"}]}'),
	(4, '{"messages": [{"role": "", "content": "x"}]}'),
	(5, '{"messages": [{"content": "x"}]}'),
	(6, '{"conversations": [{"from": "bot", "value": "x"}]}'),
	(7, '{"conversations": [{"value": "x"}]}'),
	(8, '{"conversations": [{"from": "human"}]}'),
	(9, '{"input": {"messages": []}, "preferred_output": [{"role": "user", "content": "a"}], "non_preferred_output": [{"role": "assistant", "content": "b"}]}'),
	(10, '{"conversations": [], "chosen": {"from": "human", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}}'),
	(11, '{"messages": [{"role": "' || repeat('x', 1000) || '", "content": "x"}]}')) AS v(n, j)
ORDER BY n;

-- Values of the right type that break a rule
SELECT n, pg_temp.s(j) AS result FROM (VALUES
	(1, '{"messages": [{"role": "user", "content": "x", "weight": 2}]}'),
	(2, '{"messages": [{"role": "user", "content": "x", "weight": 0.5}]}'),
	(3, '{"messages": [{"role": "user", "content": "x", "weight": -1}]}'),
	(4, '{"messages": [{"role": "user", "content": "x", "weight": 1.0}]}'),
	(5, '{"messages": [{"role": "user", "content": "x", "loss_weight": 0.5}]}'),
	(6, '{"messages": [], "label": true, "kto_tag": true}'),
	(7, '{"instruction": "q", "chosen": "a"}'),
	(8, '{"instruction": "q", "output": "o", "chosen": "a", "rejected": "b"}'),
	(9, '{"conversations": [], "chosen": {"from": "gpt", "value": "a"}}'),
	(10, '{"input": {"messages": []}, "preferred_output": [], "non_preferred_output": [{"role": "assistant", "content": "b"}]}'),
	(11, '{"input": {"messages": []}, "preferred_output": [{"role": "assistant", "content": "a"}], "non_preferred_output": []}'),
	(12, '{"input": {"messages": []}, "preferred_output": [{"role": "assistant", "content": "a"}]}'),
	(13, '{"input": {"messages": [], "seed": 1}, "preferred_output": [{"role": "assistant", "content": "a"}], "non_preferred_output": [{"role": "assistant", "content": "b"}]}'),
	(14, '{"input": {"messages": []}, "preferred_output": [{"role": "assistant", "content": "a"}], "non_preferred_output": [{"role": "assistant", "content": "b"}], "label": true}'),
	(15, '{"text": "x", "label": true}'),
	(16, '{"text": "x", "kto_tag": false}'),
	(17, '{"instruction": "q", "history": [["a"]]}'),
	(18, '{"instruction": "q", "history": [["a", "b", "c"]]}'),
	(19, '{"messages": [{"role": "user", "content": [{"text": "no type"}]}]}'),
	(20, '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "1", "type": "function"}]}]}'),
	(21, '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"function": {"arguments": "{}"}}]}]}'),
	(22, '{"conversations": [{"from": "function_call", "value": "not json"}]}'),
	(23, '{"conversations": [{"from": "function_call", "value": "5"}]}'),
	(24, '{"conversations": [{"from": "function_call", "value": "{\"arguments\": {}}"}]}'),
	(25, '{"conversations": [{"from": "function_call", "value": "[{\"name\": \"a\"}, 7]"}]}'),
	(26, '{"conversations": [{"from": "function_call", "value": "{\"name\": 5}"}]}'),
	(27, '{"conversations": [{"from": "function_call", "value": "{\"name\": \"f\", \"x\": \"\\u0000\"}"}]}'),
	(28, '{"conversations": [], "tools": "[{"}'),
	(29, '{"conversations": [], "tools": "{\"name\": \"f\"}"}'),
	(30, '{"conversations": [], "tools": "' || repeat('[', 100000) || '"}'),
	(31, '{"messages": [], "tools": {"name": "f"}}'),
	(32, '{"conversations": [{"from": "gpt", "value": "a"}], "chosen": {"from": "human", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}}'),
	(33, '{"messages": [], "parallel_tool_calls": "yes"}')) AS v(n, j)
ORDER BY n;

-- The reserved "ftstore" key: only what the canonical output writes
SELECT n, pg_temp.s(j) AS result FROM (VALUES
	(1, '{"messages": [], "ftstore": {"format": "alpaca", "colour": "red"}}'),
	(2, '{"messages": [], "ftstore": {"format": "csv"}}'),
	(3, '{"messages": [], "ftstore": {"format": "auto"}}'),
	(4, '{"messages": [], "ftstore": {"format": 1}}'),
	(5, '{"messages": [], "ftstore": "alpaca"}'),
	(6, '{"messages": [], "ftstore": null}'),
	(7, '{"messages": [{"role": "user", "content": "Q\nI"}], "ftstore": {"input_offset": -1}}'),
	(8, '{"messages": [{"role": "user", "content": "Q\nI"}], "ftstore": {"input_offset": "2"}}'),
	(9, '{"messages": [{"role": "user", "content": "Q\nI"}], "ftstore": {"input_offset": 4}}'),
	(10, '{"messages": [{"role": "user", "content": "Q\nI"}], "ftstore": {"input_offset": 2147483647}}'),
	(11, '{"messages": [{"role": "user", "content": "Q\nI"}], "ftstore": {"input_offset": 1e30}}'),
	(12, '{"messages": [{"role": "assistant", "content": "Q\nI"}], "ftstore": {"input_offset": 1}}'),
	(13, '{"messages": [], "ftstore": {"tools_as_string": "yes"}}'),
	(14, '{"messages": [], "ftstore": {"kto_tag": 1}}'),
	(15, '{"messages": [], "ftstore": {"system_field": null}}'),
	(16, '{"messages": [], "ftstore": {"instances": []}}'),
	(17, '{"messages": [], "ftstore": {"response_key": {}}}'),
	(18, '{"instruction": "q", "ftstore": {"Format": "alpaca"}}'),
	(19, '{"text": "x", "ftstore": {"format": "text", "tools_as_string": false}}'),
	(20, '{"messages": [{"role": "user", "content": "Q\nI"}], "ftstore": {"input_offset": 2, "format": "openai"}}')) AS v(n, j)
ORDER BY n;
-- accepted ones read back the same
SELECT '{"text": "x", "ftstore": {"format": "text", "tools_as_string": false}}'::ftsample;

-- A wrong type in every field of every format.  For each field of a base
-- sample, the field is replaced by values of two other JSON types; the
-- path of the field, written the way ftsample writes paths, is compared
-- with the path the error reports.
CREATE TABLE bases (b text PRIMARY KEY, doc jsonb);
INSERT INTO bases VALUES
('openai', '{"messages": [{"role": "system", "content": "s", "name": "n"},
	{"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "image_url", "image_url": {"url": "u"}}]},
	{"role": "assistant", "content": null, "weight": 0,
	 "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
	{"role": "tool", "content": "r", "tool_call_id": "c", "loss_weight": 1}],
	"tools": [{"type": "function", "function": {"name": "f"}}], "parallel_tool_calls": true,
	"images": ["a.jpg"], "videos": ["v.mp4"], "audios": ["a.wav"], "label": true}'),
('openai_pref', '{"input": {"messages": [{"role": "user", "content": "q"}], "tools": [], "parallel_tool_calls": false},
	"preferred_output": [{"role": "assistant", "content": "a"}],
	"non_preferred_output": [{"role": "assistant", "content": "b"}]}'),
('alpaca', '{"instruction": "i", "input": "x", "output": "o", "system": "s", "history": [["q", "a"]], "kto_tag": false}'),
('alpaca_pref', '{"instruction": "i", "input": "", "chosen": "c", "rejected": "r"}'),
('instances', '{"instruction": "i", "instances": [{"input": "x", "output": "o"}]}'),
('response', '{"instruction": "i", "input": "", "response": "o"}'),
('sharegpt', '{"conversations": [{"from": "human", "value": "q"}, {"from": "function_call", "value": "{\"name\": \"f\", \"arguments\": {}}"},
	{"from": "observation", "value": "r"}, {"from": "gpt", "value": "a"}], "system": "s", "tools": "[]"}'),
('sharegpt_pref', '{"conversations": [{"from": "human", "value": "q"}],
	"chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}}'),
('text', '{"text": "t"}'),
('meta', '{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q\nI"},
	{"role": "assistant", "content": "A"}], "tools": [{"name": "f"}], "label": true,
	"ftstore": {"format": "alpaca", "input_offset": 2, "tools_as_string": true, "kto_tag": true,
				"system_field": true, "instances": true, "response_key": true}}');
-- every base is valid as it stands
SELECT b, pg_temp.s(doc::text) AS base_ok FROM bases ORDER BY b;

CREATE TABLE cases AS
WITH RECURSIVE walk(b, path, shown, v) AS (
	SELECT b, ARRAY[]::text[], '', doc FROM bases
	UNION ALL
	SELECT w.b, w.path || e.k, w.shown || e.shown, e.v
	FROM walk w,
		 LATERAL (SELECT k, CASE WHEN w.shown = '' THEN k ELSE '.' || k END, v
				  FROM jsonb_each(CASE WHEN jsonb_typeof(w.v) = 'object' THEN w.v END) o(k, v)
				  UNION ALL
				  SELECT (i - 1)::text, '[' || (i - 1) || ']', v
				  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(w.v) = 'array' THEN w.v END)
					   WITH ORDINALITY a(v, i)) e(k, shown, v)
)
SELECT w.b, w.shown AS path, jsonb_typeof(w.v) AS was, x.wrong,
	   jsonb_set(bases.doc, w.path, x.wrong) AS doc
FROM walk w JOIN bases USING (b),
	 LATERAL (SELECT wrong FROM (VALUES ('5'::jsonb, 'number'), ('"x"', 'string'), ('{}', 'object'),
										('[]', 'array'), ('true', 'boolean')) t(wrong, type)
			  WHERE t.type <> jsonb_typeof(w.v)
			  ORDER BY CASE jsonb_typeof(w.v)
						   WHEN 'string' THEN array_position(ARRAY['number', 'object'], t.type)
						   WHEN 'array' THEN array_position(ARRAY['string', 'object'], t.type)
						   WHEN 'object' THEN array_position(ARRAY['string', 'array'], t.type)
						   ELSE array_position(ARRAY['string', 'object'], t.type) END
			  NULLS LAST
			  LIMIT 2) x
WHERE w.shown <> '';

-- Accepted ("ok"), by design: a content string or a bare string part is
-- text; a part of another shape is kept whole as JSON; tools and image_url
-- objects are free-form JSON (ftstore.validate judges them); a loss_weight
-- other than 0 or 1 is an unknown key, kept; an "instances" key not of
-- self-instruct's shape is an unknown key, kept.
SELECT b, path, was, wrong,
	   split_part(r, ':', 1) AS error,
	   CASE WHEN r = 'ok' THEN NULL
			ELSE substring(r FROM '^\w{5} \[(.*?)\]: ') = path END AS path_ok,
	   CASE WHEN r = 'ok' THEN NULL ELSE substring(r FROM ': (.*?)( / |$)') END AS message
FROM (SELECT c.*, pg_temp.s(doc::text) AS r FROM cases c) t
ORDER BY b, path COLLATE "C", wrong::text COLLATE "C";

-- Keys of one format used as unknown keys of another, or inside a
-- message: each such sample is either refused or reads back from its
-- canonical text as the same value; none is silently changed.
CREATE FUNCTION pg_temp.rt(j jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s ftstore.ftsample;
BEGIN
	BEGIN
		s := j::text::ftstore.ftsample;
	EXCEPTION WHEN OTHERS THEN
		RETURN 'refused';
	END;
	IF s::text::ftstore.ftsample OPERATOR(ftstore.=) s THEN
		RETURN 'reads back the same';
	END IF;
	RETURN 'CHANGED';
EXCEPTION WHEN OTHERS THEN
	RETURN 'DOES NOT READ BACK';
END $$;
CREATE TABLE sweep AS
WITH b(doc) AS (SELECT doc FROM bases
	UNION ALL VALUES ('{"instruction": "q", "output": "a"}'::jsonb),
		('{"messages": [{"role": "user", "content": "q"}]}'::jsonb)),
k(key) AS (SELECT unnest(ARRAY['messages', 'tools', 'parallel_tool_calls', 'label', 'images', 'videos',
		'audios', 'input', 'preferred_output', 'non_preferred_output', 'text', 'ftstore', 'conversations',
		'instruction', 'output', 'system', 'history', 'chosen', 'rejected', 'kto_tag', 'instances',
		'response', 'role', 'content', 'name', 'weight', 'loss_weight', 'tool_calls', 'tool_call_id',
		'from', 'value', 'id'])),
v(val) AS (VALUES ('"zz"'::jsonb), ('""'), ('"[]"'), ('1'), ('0'), ('true'), ('null'), ('[]'), ('{}'), ('["a"]'),
		('[{"role": "user", "content": "x"}]'), ('[{"from": "human", "value": "x"}]'), ('{"messages": []}'))
SELECT b.doc || jsonb_build_object(k.key, v.val) AS doc FROM b, k, v WHERE NOT b.doc ? k.key
UNION ALL
SELECT jsonb_set(b.doc, ARRAY[m.key, '0'], (b.doc -> m.key -> 0) || jsonb_build_object(k.key, v.val))
FROM b, k, v, (VALUES ('messages'), ('conversations')) m(key)
WHERE jsonb_typeof(b.doc -> m.key -> 0) = 'object' AND NOT (b.doc -> m.key -> 0) ? k.key;
SELECT pg_temp.rt(doc) AS result, count(*) FROM sweep GROUP BY 1 ORDER BY 1;
SELECT doc FROM sweep WHERE pg_temp.rt(doc) NOT IN ('refused', 'reads back the same');

-- Deep nesting: the pre-scan refuses it before any parser recurses.
SELECT pg_temp.s(repeat('[', 100000) || repeat(']', 100000)) AS deep_array;
SELECT pg_temp.s('{"messages": [], "x": ' || repeat('{"a": ', 100000) || '1' || repeat('}', 100000) || '}') AS deep_object;
-- the same through jsonb: jsonb's own parser stops it (stack depth)
SELECT split_part(pg_temp.try(format('SELECT %L::jsonb::ftstore.ftsample',
		'{"messages": [], "x": ' || repeat('[', 100000) || repeat(']', 100000) || '}')), ':', 1) AS deep_jsonb;
-- a deep value that jsonb accepts is refused by ftsample all the same, so
-- that every stored sample can be read back from its text
SELECT pg_temp.try(format('SELECT %L::jsonb::ftstore.ftsample',
		'{"messages": [], "x": ' || repeat('[', 65) || repeat(']', 65) || '}')) AS deep_jsonb_65;
-- at the limit (64 levels, the sample object included) it is accepted
SELECT pg_temp.s('{"messages": [], "x": ' || repeat('[', 63) || repeat(']', 63) || '}') AS depth_64,
	   pg_temp.s('{"messages": [], "x": ' || repeat('[', 64) || repeat(']', 64) || '}') AS depth_65;
-- brackets inside strings are text, not nesting; escaped quotes do not end a string
SELECT pg_temp.s('{"text": "' || repeat('[{', 10000) || '\"' || repeat('[', 100) || '"}') AS brackets_in_string;
SHOW ftstore.max_depth;
SET ftstore.max_depth = 8;
SELECT pg_temp.s('{"messages": [{"role": "user", "content": [{"type": "x", "a": [[[[1]]]]}]}]}') AS depth_9_of_8,
	   pg_temp.s('{"messages": [{"role": "user", "content": [{"type": "x", "a": [[[1]]]}]}]}') AS depth_8_of_8;
RESET ftstore.max_depth;

-- Size: ftstore.max_sample_bytes, which only a superuser may change
SHOW ftstore.max_sample_bytes;
SET ftstore.max_sample_bytes = '1kB';
SELECT pg_temp.s('{"text": "' || repeat('x', 1024 - 12) || '"}') AS exactly_1024,
	   pg_temp.s('{"text": "' || repeat('x', 1025 - 12) || '"}') AS bytes_1025,
	   pg_temp.s('{"text": "' || repeat('é', 600) || '"}') AS multibyte_1212;
SELECT pg_temp.try($q$SELECT ftstore.ftsample(repeat('x', 5000), 'openai')$q$) AS named_format;
RESET ftstore.max_sample_bytes;
SELECT pg_temp.try($q$SET ftstore.max_sample_bytes = 100$q$) AS too_small,
	   pg_temp.try($q$SET ftstore.max_sample_bytes = '1GB'$q$) AS too_big,
	   pg_temp.try($q$SET ftstore.max_depth = 100000$q$) AS too_deep;
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_ftstore_hostile;
RESET client_min_messages;
CREATE ROLE regress_ftstore_hostile;
SET ROLE regress_ftstore_hostile;
SELECT pg_temp.try($q$SET ftstore.max_sample_bytes = '256MB'$q$) AS not_superuser,
	   pg_temp.try($q$SET ftstore.max_depth = 1000$q$) AS not_superuser_depth;
RESET ROLE;
DROP ROLE regress_ftstore_hostile;

-- Nothing is half stored: one bad row fails the whole statement.
CREATE TABLE t (s ftsample);
SELECT pg_temp.try($q$INSERT INTO t VALUES ('{"text": "good"}'), ('{"text": 5}'), ('{"text": "good too"}')$q$) AS insert;
SELECT count(*) AS rows_stored FROM t;
SELECT pg_temp.try($q$COPY t FROM PROGRAM 'printf ''{"text": "a"}\n{"text": [1]}\n'''$q$) AS copy;
SELECT count(*) AS rows_stored FROM t;

-- Errors at the top level, outside any function: the session goes on.
\set VERBOSITY terse
SELECT (repeat('[', 100000) || repeat(']', 100000))::ftsample;
SELECT '{"messages": [{"role": "robot"}]}'::ftsample;
SELECT '{"text": "a\u0000"}'::ftsample;
\set VERBOSITY default
SELECT 'still alive' AS session, count(*) AS rows FROM t;

-- Hints of the reserved "ftstore" key that contradict the sample are
-- refused at their path; consistent ones are taken.
SELECT n, pg_temp.s(j) AS result FROM (VALUES
	(1, '{"messages": [{"role": "user", "content": "a"}], "ftstore": {"format": "text"}}'),
	(2, '{"text": "x", "ftstore": {"format": "alpaca"}}'),
	(3, '{"instruction": "a", "output": "b", "ftstore": {"format": "sharegpt"}}'),
	(4, '{"messages": [{"role": "user", "content": "a"}], "ftstore": {"tools_as_string": true}}'),
	(5, '{"messages": [{"role": "user", "content": "a"}], "ftstore": {"kto_tag": true}}'),
	(6, '{"messages": [{"role": "user", "content": "a"}], "ftstore": {"format": "sharegpt", "system_field": true}}'),
	(7, '{"messages": [{"role": "user", "content": "a"}], "ftstore": {"response_key": true}}'),
	(8, '{"messages": [{"role": "user", "content": "abc"}], "ftstore": {"format": "alpaca", "input_offset": 2}}'),
	(9, '{"messages": [{"role": "user", "content": "ab\ncd"}], "ftstore": {"format": "openai", "input_offset": 3}}'),
	(10, '{"messages": [{"role": "user", "content": "ab\ncd"}], "ftstore": {"format": "alpaca", "input_offset": 3}}'),
	(11, '{"conversations": [{"from": "human", "value": "x"}], "tools": ""}')
) AS v (n, j) ORDER BY n;

DROP TABLE bases, cases, sweep, t;

-- Only UTF8 databases: elsewhere fingerprints and facets would differ.
\set regress_db :DBNAME
CREATE DATABASE regress_ftstore_latin1 ENCODING 'LATIN1' TEMPLATE template0
	LC_COLLATE 'C' LC_CTYPE 'C';
\c regress_ftstore_latin1
\set VERBOSITY terse
CREATE EXTENSION ftstore;
\set VERBOSITY default
\c :regress_db
DROP DATABASE regress_ftstore_latin1;
