-- ftstore.validate and ftstore.estimate_tokens.  Each record is written to
-- trigger known codes; the expected rows were worked out by hand from the
-- rules in docs/validation.md.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore;
RESET client_min_messages;

-- Token estimate: words ceil(chars/4), digit runs ceil(digits/3), one per
-- Han/Kana/Hangul character and per punctuation or symbol, none for space.
SELECT t, ftstore.estimate_tokens(t) AS tokens
FROM (VALUES (''), ('   '), ('abcd'), ('hello'), ('1234567'), ('a,b'),
             ('abc123def'), ('Eat a banana!'), ('naïve café'), ('Привет мир'),
             ('你好'), ('カタカナ'), ('한국어'), ('😀😀'),
             ('Hello, world! 12345 你好世界 こんにちは')) AS v(t);
SELECT ftstore.estimate_tokens(NULL) IS NULL AS strict;

-- Records that are not objects, or of no format
SELECT * FROM ftstore.validate('[]') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('42') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('null') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('{"id": 1, "prompt": "x"}') ORDER BY path COLLATE "C", code COLLATE "C";

-- Clean records of every format give no rows
SELECT count(*) AS problems FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Hi"},
                 {"role": "assistant", "content": "Hello.", "weight": 1}]}');
SELECT count(*) AS problems FROM ftstore.validate(
  '{"messages": [{"role": "developer", "content": "Use tools."},
                 {"role": "user", "content": "Weather in Oslo?"},
                 {"role": "assistant", "content": "", "tool_calls": [
                   {"id": "c1", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}},
                   {"id": "c2", "type": "function",
                    "function": {"name": "time", "arguments": "{}"}}]},
                 {"role": "tool", "tool_call_id": "c2", "content": "12:00"},
                 {"role": "tool", "tool_call_id": "c1", "content": "rain"},
                 {"role": "assistant", "content": "Rain at noon.", "weight": 0.0},
                 {"role": "user", "content": "And Bergen?"},
                 {"role": "assistant", "content": null, "tool_calls": [
                   {"id": "c3", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\": \"Bergen\"}"}}]}],
    "tools": [{"type": "function", "function": {"name": "weather"}}],
    "parallel_tool_calls": true}');
SELECT count(*) AS problems FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "s"},
                 {"role": "user", "content": [{"type": "text", "value": "What is this? <image>"},
                                              {"type": "image_url", "image_url": {"url": "a.png"}}],
                  "loss_weight": 0.0},
                 {"role": "assistant", "content": [{"type": "reasoning", "value": "A cat."},
                                                   {"type": "text", "text": "A cat."}],
                  "loss_weight": 1.0},
                 {"role": "user", "content": "Sure?"},
                 {"role": "assistant", "content": null, "refusal": "I cannot say."}],
    "images": ["a.png"], "label": true}');
SELECT count(*) AS problems FROM ftstore.validate(
  '{"input": {"messages": [{"role": "system", "content": "s"},
                           {"role": "user", "content": "q"}],
              "tools": []},
    "preferred_output": [{"role": "assistant", "content": "good"}],
    "non_preferred_output": [{"role": "assistant", "content": "bad"}]}');
SELECT count(*) AS problems FROM ftstore.validate(
  '{"conversations": [{"from": "human", "value": "Find a recipe."},
                      {"from": "function_call", "value": "{\"name\": \"search\", \"arguments\": {\"q\": \"rice\"}}"},
                      {"from": "observation", "value": "{\"hits\": 2}"},
                      {"from": "gpt", "value": "Two recipes."}],
    "tools": "[{\"name\": \"search\"}]", "system": "You cook."}');
SELECT count(*) AS problems FROM ftstore.validate(
  '{"conversations": [{"from": "system", "value": "s"},
                      {"from": "human", "value": "q"}],
    "chosen": {"from": "gpt", "value": "good"},
    "rejected": {"from": "gpt", "value": "bad"}}');
SELECT count(*) AS problems FROM ftstore.validate(
  '{"instruction": "Add the numbers.", "input": "2 3", "output": "5",
    "system": "You add.", "history": [["Hi", "Hello."]], "kto_tag": false}');
SELECT count(*) AS problems FROM ftstore.validate(
  '{"instruction": "Name a colour.", "chosen": "Blue.", "rejected": "Seven."}');
SELECT count(*) AS problems FROM ftstore.validate(
  '{"text": "Line one.\tTabbed.\nLine two.\r\n", "url": "http://example.com"}');

-- OpenAI chat: roles, keys, content, weights
SELECT * FROM ftstore.validate('{"messages": {}}') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('{"messages": []}') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "s"},
                 {"content": "no role"},
                 {"role": "robot", "content": "x"},
                 {"role": "user", "content": "q", "extra": 1},
                 {"role": "user"},
                 {"role": "assistant", "content": "a", "weight": 0.5},
                 {"role": "user", "content": "q2", "weight": 1}]}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": 1, "content": "x"},
                 {"role": "user", "content": 5, "name": 7},
                 {"role": "assistant", "content": "a", "tool_call_id": 3,
                  "loss_weight": "high", "refusal": 5}],
    "tools": {}, "parallel_tool_calls": "yes", "label": 1}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "s"},
                 {"role": "assistant", "content": "a"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "s"},
                 {"role": "user", "content": "q"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";

-- OpenAI chat: role order (a warning: OpenAI accepts any order)
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "assistant", "content": "hi"},
                 {"role": "assistant", "content": "again"},
                 {"role": "system", "content": "late"},
                 {"role": "tool", "content": "r"},
                 {"role": "user", "content": "q"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";

SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "s"},
                 {"role": "user", "content": "q"},
                 {"role": "assistant", "content": null, "tool_calls": [
                   {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                 {"role": "assistant", "content": "skip"},
                 {"role": "assistant", "content": null, "tool_calls": [
                   {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                 {"role": "user", "content": "q"},
                 {"role": "assistant", "content": "ok"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";

-- OpenAI chat: tool calls
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "s"},
                 {"role": "user", "content": "q", "tool_calls": [
                   {"id": "u1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                 {"role": "assistant", "content": null, "tool_calls": [
                   {"type": "function", "function": {"name": "f", "arguments": "{}"}},
                   {"id": "c2", "type": "function"},
                   {"id": "c3", "function": {"arguments": {"a": 1}}},
                   {"id": "c4", "function": {"name": "g"}},
                   7]},
                 {"role": "tool", "tool_call_id": "c3", "content": "ok"},
                 {"role": "assistant", "content": "done", "tool_call_id": "c3"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "s"},
                 {"role": "user", "content": "q"},
                 {"role": "assistant", "content": null, "tool_calls": [
                   {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{bad"}},
                   {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                 {"role": "tool", "tool_call_id": "c1", "content": "r"},
                 {"role": "tool", "tool_call_id": "zz", "content": "r"},
                 {"role": "tool", "content": "r"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "s"},
                 {"role": "user", "content": "q", "function_call": {"name": "f", "arguments": "{}"}},
                 {"role": "assistant", "content": null,
                  "function_call": {"name": "f", "arguments": "not json"}},
                 {"role": "function", "name": "f", "content": "r"},
                 {"role": "assistant", "content": "ok"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";

-- OpenAI chat: typed content parts and media
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "user", "content": [{"type": "text", "value": "look <image>"},
                                              {"type": "image_url", "image_url": {"url": "x"}}]},
                 {"role": "assistant", "content": [{"type": "reasoning", "value": "think"},
                                                   {"type": "tool_call", "value": "{\"name\": \"f\"}"},
                                                   {"type": "text"},
                                                   {"text": "no type"},
                                                   {"type": "text", "text": 5},
                                                   3]},
                 {"role": "tool", "content": [{"type": "text", "value": "  "}]},
                 {"role": "assistant", "content": []}],
    "images": []}')
ORDER BY path COLLATE "C", code COLLATE "C";

-- OpenAI preference
SELECT * FROM ftstore.validate(
  '{"input": {"messages": [{"role": "user", "content": "q"},
                           {"role": "assistant", "content": "a"}],
              "temperature": 1},
    "preferred_output": [{"role": "user", "content": "x"}],
    "non_preferred_output": []}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"input": {"messages": [{"role": "user", "content": "q"}]},
    "preferred_output": [{"role": "assistant", "content": "a"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"input": [], "preferred_output": []}')
ORDER BY path COLLATE "C", code COLLATE "C";

-- ShareGPT
SELECT * FROM ftstore.validate(
  '{"conversations": [{"from": "system", "value": "s"},
                      {"from": "gpt", "value": "hi"},
                      {"from": "human", "value": "q"},
                      {"from": "system", "value": "late"},
                      {"from": "observation", "value": "r"},
                      {"from": "bot", "value": "x"},
                      {"value": "y"},
                      {"from": "human", "id": 3}]}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"conversations": [{"from": "human", "value": "q"},
                      {"from": "gpt", "value": "a"},
                      {"from": "observation", "value": "r"},
                      {"from": "function_call", "value": "[{\"name\": \"f\", \"arguments\": {}}]"},
                      {"from": "observation", "value": "r2"},
                      {"from": "function_call", "value": "{\"name\": 1, \"arguments\": {}}"}],
    "tools": "not json", "system": 5}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
    "chosen": {"from": "human", "value": "c"}, "rejected": "r"}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"conversations": [{"from": "human", "value": "q"}],
    "chosen": {"from": "gpt", "value": "c"}}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('{"conversations": []}') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"conversations": [{"from": "gpt", "value": "a"}, {"from": "gpt", "value": "b"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"conversations": [{"from": "human", "value": "q"}, {"from": "human", "value": "q"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"conversations": [{"from": "human", "value": "<video><video>what?"},
                      {"from": "gpt", "value": "x"}],
    "videos": ["v.mp4"], "images": "a.jpg", "audios": [1], "tools": "{\"a\": 1}"}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"conversations": [{"from": "human", "value": "q"},
                      {"from": "function_call", "value": 5},
                      {"from": "observation", "value": "r"},
                      {"from": "function_call", "value": "[]"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";

-- Alpaca
SELECT * FROM ftstore.validate(
  '{"instruction": "Summarize.\t", "input": "<noinput>", "output": "", "system": " sys"}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(
  '{"instruction": "", "output": "None",
    "history": [["q", "a"], ["q2"], "x", [1, "a"]],
    "kto_tag": "yes", "label": true}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('{"instruction": "q", "output": "o", "chosen": "c"}')
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('{"instruction": "q", "input": ""}') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('{"instruction": 5, "output": ["a"]}') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('{"instruction": "", "input": "2 3", "output": null}')
ORDER BY path COLLATE "C", code COLLATE "C";

-- Placeholders are matched without case after trimming
SELECT p, (SELECT string_agg(code, ',' ORDER BY code COLLATE "C")
           FROM ftstore.validate(jsonb_build_object('instruction', 'Say it.', 'input', p,
                                                    'output', 'ok'))) AS codes
FROM (VALUES ('<NoInput>'), ('No input.'), ('N/A'), ('n/a'), ('NONE'), ('null'),
             ('NaN'), ('-'), ('<nooutput>'), ('no inputs'), ('None at all')) AS v(p);

-- Raw text: control and zero-width characters, emptiness, type
SELECT * FROM ftstore.validate('{"text": "a\u0007b\u200bc\ufeff"}') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('{"text": "zero\u200dwidth"}') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('{"text": "   "}') ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate('{"text": 1}') ORDER BY path COLLATE "C", code COLLATE "C";

-- Token limit: strings "system"(2) "s"(1) "user"(1) "q"(1) "assistant"(3)
-- "aaaa aaaa"(2) = 10, plus 3 per message and 3 for the record: 22
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                 {"role": "assistant", "content": "aaaa aaaa"}]}', 21)
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT count(*) AS problems FROM ftstore.validate(
  '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                 {"role": "assistant", "content": "aaaa aaaa"}]}', 22);
SELECT * FROM ftstore.validate('{"text": "x"}', 0);
SELECT count(*) AS rows FROM ftstore.validate('{"text": "x"}', NULL);

-- Keys that need quoting in paths
SELECT * FROM ftstore.validate(
  '{"messages": [{"role": "user", "content": "q", "a\"b": 1, "": 2, "a.b": 3},
                 {"role": "assistant", "content": "a"}]}')
ORDER BY path COLLATE "C", code COLLATE "C";

-- Hostile shapes: deep nesting, deep JSON in strings, many messages
SELECT * FROM ftstore.validate(
  ('{"messages": [{"role": "user", "content": [' || repeat('[', 1000) || repeat(']', 1000)
   || ']}]}')::jsonb)
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(jsonb_build_object('messages', jsonb_build_array(
  jsonb_build_object('role', 'user', 'content', 'q'),
  jsonb_build_object('role', 'assistant', 'tool_calls', jsonb_build_array(
    jsonb_build_object('id', 'c', 'type', 'function', 'function',
      jsonb_build_object('name', 'f', 'arguments', repeat('[', 100000))))))))
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT * FROM ftstore.validate(jsonb_build_object('conversations', jsonb_build_array(
  jsonb_build_object('from', 'human', 'value', 'q'),
  jsonb_build_object('from', 'function_call', 'value', repeat('[', 64) || repeat(']', 64)),
  jsonb_build_object('from', 'observation', 'value', 'r'),
  jsonb_build_object('from', 'function_call', 'value', repeat('[', 65) || repeat(']', 65)))))
ORDER BY path COLLATE "C", code COLLATE "C";
SELECT code, count(*) FROM ftstore.validate(
  (SELECT jsonb_build_object('messages', jsonb_agg(jsonb_build_object('role', 'user', 'content', 'q')))
   FROM generate_series(1, 20000)))
GROUP BY code ORDER BY code COLLATE "C";

-- Over a table
CREATE TEMP TABLE samples (id int, doc jsonb);
INSERT INTO samples VALUES
  (1, '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}'),
  (2, '{"instruction": "q", "output": " a"}'),
  (3, '{"text": ""}'),
  (4, '{"instruction": "q", "output": "a"}');
SELECT s.id, v.severity, v.code, v.path
FROM samples s, LATERAL ftstore.validate(s.doc) v
ORDER BY s.id, v.path COLLATE "C", v.code COLLATE "C";
SELECT id FROM samples s
WHERE NOT EXISTS (SELECT 1 FROM ftstore.validate(s.doc) v WHERE v.severity = 'error')
ORDER BY id;

-- Records the type refuses by a rule of its own get one invalid_sample
-- error with the parser's path, so that an error row always means refused.
SELECT n, v.severity, v.code, v.path, v.message
FROM (VALUES
	(1, '{"instruction": "a", "chosen": "c", "rejected": "d", "kto_tag": true}'::jsonb),
	(2, '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "system": "s", "ftstore": {"format": "bogus"}}'),
	(3, '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "ftstore": {"tools_as_string": true}}'),
	(4, '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}')
) AS r (n, doc), ftstore.validate(r.doc) v
WHERE v.severity = 'error'
ORDER BY n, v.path COLLATE "C", v.code COLLATE "C";
