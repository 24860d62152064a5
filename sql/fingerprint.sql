-- ftstore.fingerprint and ftstore.normalize_text.
--
-- The first queries rebuild the byte string of docs/dedup.md by hand, in
-- SQL, and hash it with sha256(): an independent computation of the
-- fingerprint, not a copy of what the C code printed.  Then the
-- fingerprint's equalities (what must not matter) and inequalities (what
-- must).  normalize_text results were checked against Python's
-- unicodedata.normalize('NFC') and str.isspace().
-- quiet, so that the output does not depend on which test ran first
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore;
RESET client_min_messages;
SET search_path = ftstore, public;
\pset format unaligned

-- field(x) = byte length in decimal, a colon, the bytes
CREATE FUNCTION pg_temp.f(t text) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$ SELECT octet_length(t) || ':' || t $$;
CREATE FUNCTION pg_temp.fp(t text) RETURNS bytea LANGUAGE sql IMMUTABLE
	AS $$ SELECT substr(sha256(convert_to(t, 'UTF8')), 1, 16) $$;
-- the tail every sample without tools or media ends in
CREATE FUNCTION pg_temp.tail() RETURNS text LANGUAGE sql IMMUTABLE
	AS $$ SELECT pg_temp.f('tools') || pg_temp.f('') || pg_temp.f('images') || pg_temp.f('videos') || pg_temp.f('audios') $$;

-- Alpaca; the prompt is instruction, newline, input
SELECT fingerprint('{"instruction": "Add", "input": "2 3", "output": "5"}')
	   = pg_temp.fp(pg_temp.f('ftfp1') || pg_temp.f('sft')
					|| pg_temp.f('prompt') || pg_temp.f('user') || pg_temp.f('Add 2 3') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.f('prompt') || pg_temp.f('assistant') || pg_temp.f('5') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.tail()) AS alpaca_by_hand;
-- the value itself, for the record
SELECT fingerprint('{"instruction": "Add", "input": "2 3", "output": "5"}');
-- tool calls, tools (as jsonb writes them), media, multibyte text with
-- white space to fold; lengths are in bytes
SELECT fingerprint('{"messages": [{"role": "user", "content": "  Wetter\u00a0in  Köln? <image>"},
		{"role": "assistant", "content": null, "tool_calls": [
			{"id": "x", "type": "function", "function": {"name": "w", "arguments": "{\"c\": \"Köln\"}"}},
			{"id": "y", "type": "function", "function": {"name": "t"}}]},
		{"role": "tool", "tool_call_id": "x", "content": "-3"}],
	"tools": [{"type": "function", "function": {"name": "w", "parameters": {"b": 1, "a": 2}}}],
	"images": ["a.jpg", " b.jpg"], "audios": ["c.wav"]}')
	   = pg_temp.fp(pg_temp.f('ftfp1') || pg_temp.f('sft')
					|| pg_temp.f('prompt') || pg_temp.f('user') || pg_temp.f('Wetter in Köln? <image>') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.f('prompt') || pg_temp.f('assistant') || pg_temp.f('') || pg_temp.f('w({"c": "Köln"}) t()') || pg_temp.f('')
					|| pg_temp.f('prompt') || pg_temp.f('tool') || pg_temp.f('-3') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.f('tools') || pg_temp.f('[{"type": "function", "function": {"name": "w", "parameters": {"a": 2, "b": 1}}}]')
					|| pg_temp.f('images') || pg_temp.f('a.jpg') || pg_temp.f(' b.jpg')
					|| pg_temp.f('videos') || pg_temp.f('audios') || pg_temp.f('c.wav')) AS tools_by_hand;
-- a preference pair from ShareGPT, with its system key
SELECT fingerprint('{"conversations": [{"from": "human", "value": "2+2?"}], "system": "Math.",
		"chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "5"}}')
	   = pg_temp.fp(pg_temp.f('ftfp1') || pg_temp.f('preference')
					|| pg_temp.f('prompt') || pg_temp.f('system') || pg_temp.f('Math.') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.f('prompt') || pg_temp.f('user') || pg_temp.f('2+2?') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.f('chosen') || pg_temp.f('assistant') || pg_temp.f('4') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.f('rejected') || pg_temp.f('assistant') || pg_temp.f('5') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.tail()) AS preference_by_hand;
-- typed parts: text parts joined by a newline, other parts as JSON
SELECT fingerprint('{"messages": [{"role": "user", "content": [{"type": "text", "value": "Look"},
		{"type": "image_url", "image_url": {"url": "u"}}, {"type": "reasoning", "text": "hm"},
		{"type": "input_audio", "input_audio": {"data": "x"}}]}], "label": true}')
	   = pg_temp.fp(pg_temp.f('ftfp1') || pg_temp.f('kto')
					|| pg_temp.f('prompt') || pg_temp.f('user') || pg_temp.f('Look hm') || pg_temp.f('')
					|| pg_temp.f('{"type": "image_url", "image_url": {"url": "u"}} {"type": "input_audio", "input_audio": {"data": "x"}}')
					|| pg_temp.tail()) AS parts_by_hand;
-- raw text, and ShareGPT function calls with their arguments as jsonb writes them
SELECT fingerprint('{"text": " Once\n\nupon\u200b a time. ", "id": 5}')
	   = pg_temp.fp(pg_temp.f('ftfp1') || pg_temp.f('text')
					|| pg_temp.f('prompt') || pg_temp.f('text') || pg_temp.f('Once upon a time.') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.tail()) AS text_by_hand,
	   fingerprint('{"conversations": [{"from": "human", "value": "q"},
		{"from": "function_call", "value": "{\"name\": \"f\", \"arguments\": {\"long\": 1.50, \"a\": [1,2]}}"}]}')
	   = pg_temp.fp(pg_temp.f('ftfp1') || pg_temp.f('sft')
					|| pg_temp.f('prompt') || pg_temp.f('user') || pg_temp.f('q') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.f('prompt') || pg_temp.f('assistant') || pg_temp.f('') || pg_temp.f('f({"a": [1, 2], "long": 1.50})') || pg_temp.f('')
					|| pg_temp.tail()) AS function_call_by_hand;
-- fold_case lowers ASCII letters only
SELECT fingerprint('{"text": "ÉCOLE Abc"}', true)
	   = pg_temp.fp(pg_temp.f('ftfp1') || pg_temp.f('text')
					|| pg_temp.f('prompt') || pg_temp.f('text') || pg_temp.f('École abc') || pg_temp.f('') || pg_temp.f('')
					|| pg_temp.tail()) AS fold_case_by_hand;

-- What must not change the fingerprint: each variant against its base.
CREATE TABLE same (n int, what text, base text, variant text);
INSERT INTO same VALUES
(1, 'alpaca vs openai (docs/dedup.md example)',
 '{"instruction": "Add", "input": "", "output": "5"}',
 '{"messages": [{"role": "user", "content": "Add "}, {"role": "assistant", "content": " 5"}]}'),
(2, 'alpaca vs sharegpt',
 '{"instruction": "Add", "input": "2 3", "output": "5", "system": "S", "history": [["a", "b"]]}',
 '{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}, {"from": "human", "value": "Add\n2 3"}, {"from": "gpt", "value": "5"}], "system": "S"}'),
(3, 'sharegpt system key vs a system turn',
 '{"conversations": [{"from": "human", "value": "q"}], "system": "S"}',
 '{"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "q"}]}'),
(4, 'openai preference vs sharegpt preference vs alpaca preference',
 '{"input": {"messages": [{"role": "user", "content": "q"}]}, "preferred_output": [{"role": "assistant", "content": "a"}], "non_preferred_output": [{"role": "assistant", "content": "b"}]}',
 '{"instruction": "q", "chosen": "a", "rejected": "b"}'),
(5, 'sharegpt preference vs alpaca preference',
 '{"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}}',
 '{"instruction": "q", "input": "", "chosen": "a", "rejected": "b"}'),
(6, 'sharegpt function_call vs openai tool_calls, arguments as jsonb writes them',
 '{"conversations": [{"from": "human", "value": "q"}, {"from": "function_call", "value": "{\"arguments\": {\"b\": 2, \"a\": 1}, \"name\": \"f\"}"}, {"from": "observation", "value": "r"}], "tools": "[{\"name\": \"f\"}]"}',
 '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1, \"b\": 2}"}}]}, {"role": "tool", "tool_call_id": "call_9", "content": "r"}], "tools": [{"name": "f"}]}'),
(7, 'white space: runs, tabs, newlines, ends',
 '{"text": "Add 2 and 3"}',
 '{"text": "\n  Add  2\t\tand\r\n3 \f"}'),
(8, 'white space: NBSP, ideographic space, line separator, U+001C..U+001F, U+0085',
 '{"text": "a b c d e f"}',
 '{"text": "a\u00a0b\u3000c\u2028d\u001c\u001d\u001e\u001fe\u0085f"}'),
(9, 'white space: U+1680, U+2000..U+200A, U+2029, U+202F, U+205F, \v',
 '{"text": "a b c d e f"}',
 '{"text": "a\u1680b\u2000\u2005\u200ac\u2029d\u202fe\u205f\u000bf"}'),
(10, 'NFC: e + combining acute vs precomposed',
 '{"text": "caf\u00e9"}',
 '{"text": "cafe\u0301"}'),
(11, 'NFC: Hangul jamo vs syllable, and combining marks reordered',
 '{"text": "\uac00 \u1e69"}',
 '{"text": "\u1100\u1161 s\u0307\u0323"}'),
(12, 'zero-width space, word joiner, BOM removed',
 '{"text": "abcd"}',
 '{"text": "\ufeffa\u200bb\u2060c\u200b\u200bd"}'),
(13, 'key order',
 '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "tools": [{"name": "f", "description": "d"}]}',
 '{"tools": [{"description": "d", "name": "f"}], "messages": [{"content": "q", "role": "user"}, {"content": "a", "role": "assistant"}]}'),
(14, 'ids and other unknown keys, top level and in messages',
 '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}',
 '{"id": "r-17", "source": "x", "messages": [{"role": "user", "content": "q", "lang": "en"}, {"role": "assistant", "content": "a", "meta": {"t": 1}}]}'),
(15, 'names, weights, loss_weight',
 '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}',
 '{"messages": [{"role": "user", "content": "q", "name": "ann", "loss_weight": 0.0}, {"role": "assistant", "content": "a", "weight": 1}]}'),
(16, 'KTO label value, and its spelling',
 '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "label": true}',
 '{"instruction": "q", "output": "a", "kto_tag": false}'),
(17, 'tool call ids',
 '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}',
 '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "b", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}'),
(18, 'typed text parts vs a string, value vs text spelling',
 '{"messages": [{"role": "user", "content": "Look\nhere"}]}',
 '{"messages": [{"role": "user", "content": [{"type": "text", "value": "Look"}, {"type": "text", "text": "here"}]}]}'),
(19, 'self-instruct instances and response spellings',
 '{"instruction": "Antonym?", "input": "hot", "output": "cold"}',
 '{"instruction": "Antonym?", "instances": [{"input": "hot", "output": "cold"}], "id": "seed_task_1"}'),
(20, 'response spelling with leading white space',
 '{"instruction": "Greet.", "output": "Hello."}',
 '{"instruction": "Greet.", "input": "", "response": "  Hello.", "target": "x"}'),
(21, 'content null vs empty string vs absent',
 '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}',
 '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant"}]}'),
(22, 'tools as a string vs as an array; parallel_tool_calls',
 '{"messages": [{"role": "user", "content": "q"}], "tools": "[{\"name\": \"f\"}]"}',
 '{"messages": [{"role": "user", "content": "q"}], "tools": [{"name": "f"}], "parallel_tool_calls": true}'),
(23, 'white space inside the tools JSON text is folded',
 '{"messages": [{"role": "user", "content": "q"}], "tools": [{"description": "a b"}]}',
 '{"messages": [{"role": "user", "content": "q"}], "tools": [{"description": "a    b"}]}'),
(24, 'empty tools string is no tools',
 '{"conversations": [{"from": "human", "value": "q"}]}',
 '{"conversations": [{"from": "human", "value": "q"}], "tools": ""}');
SELECT n, what, fingerprint(base::ftsample) = fingerprint(variant::ftsample) AS same_fingerprint
FROM same ORDER BY n;

-- What must change it.
CREATE TABLE differ (n int, what text, a text, b text);
INSERT INTO differ VALUES
(1, 'different text', '{"text": "a"}', '{"text": "b"}'),
(2, 'case, by default', '{"text": "Hello"}', '{"text": "hello"}'),
(3, 'role', '{"messages": [{"role": "system", "content": "q"}]}', '{"messages": [{"role": "user", "content": "q"}]}'),
(4, 'developer is not system', '{"messages": [{"role": "developer", "content": "q"}]}', '{"messages": [{"role": "system", "content": "q"}]}'),
(5, 'section: a pair vs the same messages in one conversation',
 '{"instruction": "q", "chosen": "a", "rejected": "b"}',
 '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]}'),
(6, 'chosen and rejected swapped',
 '{"instruction": "q", "chosen": "a", "rejected": "b"}', '{"instruction": "q", "chosen": "b", "rejected": "a"}'),
(7, 'kind: KTO vs SFT',
 '{"instruction": "q", "output": "a", "kto_tag": true}', '{"instruction": "q", "output": "a"}'),
(8, 'kind: raw text vs a text-free conversation turn',
 '{"text": "q"}', '{"messages": [{"role": "user", "content": "q"}]}'),
(9, 'message order',
 '{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}',
 '{"messages": [{"role": "user", "content": "b"}, {"role": "user", "content": "a"}]}'),
(10, 'field framing: text split differently between messages',
 '{"messages": [{"role": "user", "content": "ab"}, {"role": "user", "content": "c"}]}',
 '{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "bc"}]}'),
(11, 'white space between words is not removed',
 '{"text": "a b"}', '{"text": "ab"}'),
(12, 'U+200C and U+200D are kept',
 '{"text": "ab"}', '{"text": "a\u200cb\u200d"}'),
(13, 'tool call arguments',
 '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]}]}',
 '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"x\": 2}"}}]}]}'),
(14, 'tool call name',
 '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "f"}}]}]}',
 '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "g"}}]}]}'),
(15, 'a tool call vs its text in the content',
 '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}',
 '{"messages": [{"role": "assistant", "content": "f({})"}]}'),
(16, 'tools offered', '{"messages": [], "tools": [{"name": "f"}]}', '{"messages": []}'),
(17, 'tools: empty array vs none', '{"messages": [], "tools": []}', '{"messages": []}'),
(18, 'media references', '{"messages": [], "images": ["a.jpg"]}', '{"messages": [], "images": ["b.jpg"]}'),
(19, 'media references are not normalised', '{"messages": [], "images": ["a.jpg"]}', '{"messages": [], "images": [" a.jpg"]}'),
(20, 'media kind', '{"messages": [], "images": ["a"]}', '{"messages": [], "videos": ["a"]}'),
(21, 'media order', '{"messages": [], "images": ["a", "b"]}', '{"messages": [], "images": ["b", "a"]}'),
(22, 'a non-text part', '{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "a"}}]}]}',
 '{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "b"}}]}]}'),
(23, 'NFKC is not applied: full-width and ligature letters stay',
 '{"text": "ﬁ Ａ"}', '{"text": "fi A"}'),
(24, 'fold_case is ASCII only', '{"text": "École"}', '{"text": "école"}'),
(25, 'an escaped newline in tools JSON is not white space',
 '{"messages": [], "tools": [{"description": "a b"}]}', '{"messages": [], "tools": [{"description": "a\n b"}]}');
SELECT n, what, fingerprint(a::ftsample) <> fingerprint(b::ftsample) AS differs,
	   fingerprint(a::ftsample, true) <> fingerprint(b::ftsample, true) AS differs_folded
FROM differ ORDER BY n;

-- fold_case: the same as the default on text without ASCII capitals
SELECT fingerprint('{"text": "hello"}', true) = fingerprint('{"text": "HeLLo"}', true) AS folded_equal,
	   fingerprint('{"text": "hello"}', false) = fingerprint('{"text": "hello"}') AS default_is_false,
	   fingerprint('{"text": "hello"}', true) = fingerprint('{"text": "hello"}') AS lower_same,
	   octet_length(fingerprint('{"text": ""}')) AS bytes,
	   fingerprint(NULL) IS NULL AS strict;

-- normalize_text
SELECT n, replace(replace(replace(t, E'\n', '\n'), E'\t', '\t'), E'\r', '\r') AS input,
	   normalize_text(t) AS normalized, normalize_text(t, true) AS folded,
	   octet_length(normalize_text(t)) AS bytes
FROM (VALUES (1, '  Hello   World  '),
			 (2, E'\ta\n\nb\r\n'),
			 (3, 'cafe' || U&'\0301'),
			 (4, U&'\feffa\200bb\2060c'),
			 (5, U&'a\00a0b\3000c\2028d'),
			 (6, U&'a\200cb\200dc'),
			 (7, 'ÀÉÎ Straße ABC xyz'),
			 (8, ''),
			 (9, '   '),
			 (10, U&'\200b'),
			 (11, U&'\1100\1161\11a8'),
			 (12, U&'A\030a\0327'),
			 -- characters that skip the NFC check, alone and with a mark
			 (13, U&'\201Cca\00E9\201D \00C0 \4E2D \+01F600 \2019'),
			 (14, U&'\201Ccafe\0301\201D \4E2D\6587 \+01F600'),
			 -- CJK punctuation, kana, fullwidth forms and the ideographic
			 -- space, which skip the NFC check too; then with a mark that
			 -- does not, and the kana voicing mark that composes
			 (15, U&'\3000\300C\4E2D\6587\300D\3002 \30AB\30BF\30AB\30CA\FF0C\FF01\3000 A\3000\3000B '),
			 (16, U&'\300C\4E2D\300D\3001cafe\0301\FF01'),
			 (17, U&'\304B\3099\30AB\3099 \3000x')) AS v(n, t)
ORDER BY n;
SELECT normalize_text(NULL) IS NULL AS strict;

-- ASCII text goes eight bytes at a time where it holds no space or
-- control character: texts of every length from 0 to 40 and every
-- alignment of their spaces, control characters and capitals agree with
-- the rule written with regular expressions (runs of ASCII white space to
-- one space, trimmed; lower() of ASCII letters, under the C collation).
SELECT count(*) AS texts,
	   count(*) FILTER (WHERE normalize_text(t) <> ref) AS differ,
	   count(*) FILTER (WHERE normalize_text(t, true) <>
						lower(ref COLLATE "C")) AS differ_folded
FROM (SELECT t,
			 regexp_replace(regexp_replace(t, E'[\\t\\n\\v\\f\\r\\x1c-\\x1f ]+',
										   ' ', 'g'),
							'^ | $', '', 'g') AS ref
	  FROM (SELECT substr(pattern, off, n) AS t
			FROM (VALUES ('Hello, World! AZaz@[`{ x' || E'\t\ty\x01z\x1f' ||
						  'EIGHT_BY' || E'\n \r' || 'TES_Q' || E'\x7f' ||
						  '  end  ')) AS v(pattern),
				 generate_series(1, 9) AS off,
				 generate_series(0, 40) AS n) s) r;

DROP TABLE same, differ;
