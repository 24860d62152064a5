-- Facets, their operators and index, and labels, on small inline samples.
-- Each expected value is worked out from the sample written next to it by
-- the rules of docs/facets.md; the comments say how.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore;
RESET client_min_messages;
SET search_path = public, ftstore;

-- Alpaca, one exchange: roles user and assistant, 2 turns, few tokens
-- (short), Latin script; what, is, the, of, is are 5 of its 8 words, over
-- one in ten: en.  No tools, no system prompt, no media: those keys are absent.
SELECT ftstore.facets('{"instruction": "What is the capital of France?", "output": "Paris is."}');
SELECT ftstore.facet_array('{"instruction": "What is the capital of France?", "output": "Paris is."}');

-- OpenAI chat with a system prompt, tools offered and a tool call, then
-- the tool's answer: roles system, user, assistant, tool; turns counts all
-- but the system message (3); tools, tool_calls and system are true.
SELECT ftstore.facets($${"messages": [
	{"role": "system", "content": "You are a weather bot."},
	{"role": "user", "content": "Weather in Paris?"},
	{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
	{"role": "tool", "tool_call_id": "c1", "content": "sunny"}],
	"tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]}$$);

-- Media: two images, one video.  The counts and the media kinds appear.
SELECT ftstore.facets('{"messages": [{"role": "user", "content": "<image><image><video>What is shown?"}, {"role": "assistant", "content": "Cats."}], "images": ["a.jpg", "b.jpg"], "videos": ["c.mp4"]}');

-- Writing systems and languages: Chinese (Han, no Kana), Japanese (Kana
-- outnumber Han here), Korean, Russian, Arabic, Hindi; German is Latin but
-- has none of the English function words: und.  Text with no letters:
-- script none, lang und.
SELECT f->>'script' AS script, f->>'lang' AS lang
FROM (VALUES
	('{"instruction": "请把这句话翻译成英文。", "output": "好的。"}'),
	('{"instruction": "これを英語に翻訳してください。", "output": "はい。"}'),
	('{"instruction": "이것을 영어로 번역하세요.", "output": "네."}'),
	('{"instruction": "Переведите это на английский.", "output": "Хорошо."}'),
	('{"instruction": "ترجم هذا إلى الإنجليزية.", "output": "حسنا."}'),
	('{"instruction": "इसका अनुवाद करें।", "output": "ठीक है।"}'),
	('{"instruction": "Übersetze den Satz.", "output": "Gut."}'),
	('{"instruction": "2 + 2 = ?", "output": "4"}')) v(doc),
	LATERAL (SELECT ftstore.facets(doc::ftstore.ftsample) AS f) x;

-- Length buckets: 600 words of four letters are 600 tokens by the
-- estimate, "Say" one more, plus 9 for the template: 610, medium (512 to
-- 2047).
SELECT ftstore.facets(jsonb_build_object('instruction', 'Say', 'output',
	repeat('word ', 600))::ftstore.ftsample) ->> 'length' AS length;

-- Preference and KTO kinds, and raw text (role text, 0 turns).
SELECT f->>'kind' AS kind, f->'roles' AS roles, f->'turns' AS turns
FROM (VALUES
	('{"conversations": [{"from": "human", "value": "Hi"}], "chosen": {"from": "gpt", "value": "Hello"}, "rejected": {"from": "gpt", "value": "Go away"}}'),
	('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], "label": true}'),
	('{"text": "A document."}')) v(doc),
	LATERAL (SELECT ftstore.facets(doc::ftstore.ftsample) AS f) x;

-- A small table, the index, and every operator answered both ways.
SELECT ftstore.dataset_id('facets_regress', true) > 0 AS created;
INSERT INTO ftstore.samples (dataset_id, sample, source, record)
SELECT ftstore.dataset_id('facets_regress'), doc::ftstore.ftsample, 'inline', ord
FROM unnest(ARRAY[
	'{"instruction": "What is the capital of France?", "output": "Paris is."}',
	'{"instruction": "请把这句话翻译成英文。", "output": "好的。"}',
	'{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}',
	'{"messages": [{"role": "user", "content": "<image>What is it?"}, {"role": "assistant", "content": "A cat."}], "images": ["a.jpg"]}',
	'{"messages": [{"role": "user", "content": "<image><image>And these?"}, {"role": "assistant", "content": "Two dogs."}], "images": ["b.jpg", "c.jpg"]}',
	'{"conversations": [{"from": "human", "value": "Weather?"}, {"from": "function_call", "value": "{\"name\": \"w\", \"arguments\": {}}"}, {"from": "observation", "value": "sun"}, {"from": "gpt", "value": "Sunny."}], "tools": "[{\"name\": \"w\"}]"}',
	'{"text": "A document about the sea."}'
]) WITH ORDINALITY AS t(doc, ord);

CREATE TEMP TABLE q (op text, arg text);
INSERT INTO q VALUES
	('@>', '{"lang": "zh"}'),				-- record 2
	('@>', '{"roles": ["system"]}'),		-- record 3
	('@>', '{"system": true}'),				-- record 3
	('@>', '{"images": 2}'),				-- record 5
	('@>', '{"media": ["image"]}'),			-- records 4, 5
	('@>', '{"turns": 4}'),					-- record 6: user, 2 assistant, tool
	('@>', '{"turns": 4.0}'),				-- the same number
	('@>', '{"turns": "4"}'),				-- a string: no record
	('@>', '{"tools": true, "tool_calls": true}'),	-- record 6
	('@>', '{"tools": false}'),				-- false is never stored: none
	('@>', '{"kind": "text"}'),				-- record 7
	('@>', '{"roles": "user"}'),			-- a scalar is not in an array: none
	('@>', '{}'),							-- all seven
	('@>', '[]'),							-- not an object: none
	('@>', '{"nokey": 1}'),					-- no such facet: none
	('?', 'system'),						-- record 3
	('?', 'images'),						-- records 4, 5
	('?', 'lang'),							-- all seven
	('?', 'nokey'),							-- none
	('?|', '{system,tools}'),				-- records 3, 6
	('?|', '{}'),							-- none
	('?&', '{tools,tool_calls}'),			-- record 6
	('?&', '{}');							-- all seven

CREATE FUNCTION pg_temp.answer(op text, arg text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	res text;
BEGIN
	EXECUTE format('SELECT coalesce(string_agg(record::text, '','' ORDER BY record), '''')
		FROM ftstore.samples
		WHERE dataset_id = ftstore.dataset_id(''facets_regress'')
		AND sample OPERATOR(ftstore.%s) %L::%s', op, arg,
		CASE op WHEN '@>' THEN 'jsonb' WHEN '?' THEN 'text' ELSE 'text[]' END)
		INTO res;
	RETURN res;
END;
$$;

SET enable_bitmapscan = off;
SET enable_indexscan = off;
CREATE TEMP TABLE seq AS SELECT op, arg, pg_temp.answer(op, arg) AS records FROM q;
RESET enable_bitmapscan;
RESET enable_indexscan;
SET enable_seqscan = off;
CREATE TEMP TABLE idx AS SELECT op, arg, pg_temp.answer(op, arg) AS records FROM q;
SELECT s.op, s.arg, s.records, s.records = i.records AS index_agrees
FROM seq s JOIN idx i USING (op, arg) ORDER BY s.op, s.arg;

EXPLAIN (COSTS OFF)
SELECT id FROM ftstore.samples WHERE sample @> '{"lang": "zh"}';
EXPLAIN (COSTS OFF)
SELECT id FROM ftstore.samples WHERE sample ? 'tools';
EXPLAIN (COSTS OFF)
SELECT id FROM ftstore.samples WHERE sample ?| '{tools,system}';
EXPLAIN (COSTS OFF)
SELECT id FROM ftstore.samples WHERE sample ?& '{tools,system}';
RESET enable_seqscan;

-- The operators are leakproof, so a security barrier does not stop them.
SELECT p.proname, p.proleakproof, p.provolatile
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'ftstore' AND p.proname LIKE 'ftsample_facets_%'
ORDER BY 1;

-- Labels: two images samples (4, 5) get a review label; again, nothing
-- changes; an empty filter labels all seven; unlabel the media ones.
SELECT ftstore.label('facets_regress', '{"media": ["image"]}', '{"review": "media"}');
SELECT ftstore.label('facets_regress', '{"media": ["image"]}', '{"review": "media"}');
SELECT ftstore.label('facets_regress', '{}', '{"licence": "cc-by"}');
SELECT record, labels FROM ftstore.samples
WHERE dataset_id = ftstore.dataset_id('facets_regress') ORDER BY record;
SELECT ftstore.unlabel('facets_regress', '{"images": 2}', '{review}');
SELECT count(*) FROM ftstore.samples
WHERE dataset_id = ftstore.dataset_id('facets_regress') AND labels ? 'review';

-- A LLaMA-Factory entry: formatting, columns and tags are kept; split
-- defaults to train, ranking to false.
SELECT ftstore.dataset_info_labels($${"glaive": {"file_name": "glaive.json",
	"formatting": "sharegpt", "columns": {"messages": "conversations", "tools": "tools"},
	"tags": {"role_tag": "from"}}}$$, 'glaive');
SELECT ftstore.label_from_dataset_info('facets_regress',
	'{"mine": {"file_name": "mine.json"}}', 'mine', '{"kind": "text"}');
SELECT labels ->> 'source' AS source, labels ->> 'formatting' AS formatting
FROM ftstore.samples
WHERE dataset_id = ftstore.dataset_id('facets_regress') AND record = 7;

-- Errors users can make.
SELECT ftstore.label('facets_regress', NULL, '["not", "an", "object"]');
SELECT ftstore.label('facets_regress', '"lang"', '{"a": 1}');
SELECT ftstore.label('no_such_dataset', NULL, '{"a": 1}');
SELECT ftstore.dataset_info_labels('{}', 'missing');

-- The summary: counts per facet value (roles each counted).
SELECT * FROM ftstore.facet_summary('facets_regress')
WHERE facet IN ('kind', 'media', 'images', 'lang');

-- The BI view.
SELECT record, format, kind, roles, turns, tools, system, images, lang
FROM ftstore.samples_facets_bi b JOIN ftstore.samples s USING (id)
WHERE b.dataset = 'facets_regress' ORDER BY record;

DELETE FROM ftstore.samples WHERE dataset_id = ftstore.dataset_id('facets_regress');
DELETE FROM ftstore.datasets WHERE name = 'facets_regress';
