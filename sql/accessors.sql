-- Accessors: messages as rows, roles, turns, prompt and response text,
-- character and token counts, format and kind.
--
-- Expected values were worked out independently: character counts are
-- Python's len() of the text, token counts follow the rule in tokens.c
-- (words ceil(n/4), digit runs ceil(n/3), one per Han/Kana/Hangul
-- character and per symbol, spaces free) plus 3 per message and 3 per
-- sample, recomputed by hand for each sample below.
-- quiet, so that the output does not depend on which test ran first
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore;
RESET client_min_messages;
SET search_path = ftstore, public;
\pset format unaligned
\pset null '<null>'

CREATE TABLE a (n int PRIMARY KEY, s ftsample);
INSERT INTO a VALUES
(1, '{"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "developer", "content": "Use tools."},
    {"role": "user", "content": "Weather in Oslo?", "name": "ann"},
    {"role": "assistant", "content": null, "weight": 0,
     "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "-3 C"},
    {"role": "assistant", "content": "Cold: -3 C.", "weight": 1}]}'),
(2, '{"input": {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Capital?"}]},
      "preferred_output": [{"role": "assistant", "content": "Paris."}],
      "non_preferred_output": [{"role": "assistant", "content": "Lyon, I think."}]}'),
(3, '{"instruction": "And times?", "input": "2 3", "output": "6", "system": "Calc.",
      "history": [["2 plus 3?", "5"]]}'),
(4, '{"messages": [{"role": "user", "content": "héllo wörld 你好 😀"}, {"role": "assistant", "content": "ça va? はい 안녕"}]}'),
(5, '{"text": "Plain text 123."}'),
(6, '{"messages": [{"role": "user", "content": [{"type": "text", "value": "Look:"},
                                             {"type": "image_url", "image_url": {"url": "u"}},
                                             {"type": "text", "text": "what?"}]},
                   {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "v"}}]}]}'),
(7, '{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "No answer yet"}]}'),
(8, '{"messages": [{"role": "user", "content": "Joke?"}, {"role": "assistant", "content": "No."}], "label": true}'),
(9, '{"instruction": "Hi", "input": "", "output": "Yo", "kto_tag": false}'),
(10, '{"conversations": [{"from": "human", "value": "2+2?"}],
       "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "function_call", "value": "{\"name\": \"calc\"}"}}'),
(11, '{"messages": []}');

-- newlines in text are shown as \n
SELECT n, ordinal, section, role, replace(content, E'\n', '\n') AS content, name, weight, tool_calls, tool_call_id
FROM a, messages(s) m ORDER BY n, ordinal;

SELECT n, format(s), kind(s), roles(s), turns(s), char_count(s), token_count(s)
FROM a ORDER BY n;

-- prompt_text of 1 holds an empty line where the tool-calling turn has no
-- text
SELECT n, replace(prompt_text(s), E'\n', '\n') AS prompt_text,
	   replace(response_text(s), E'\n', '\n') AS response_text
FROM a ORDER BY n;
-- counts are of characters, not bytes
SELECT char_count(s) AS chars, octet_length(response_text(s)) + octet_length(prompt_text(s)) AS bytes
FROM a WHERE n = 4;

-- format and kind read only the header: they work on a value stored out
-- of line too
CREATE TABLE big (s ftsample);
INSERT INTO big VALUES (('{"text": "' || repeat('word ', 200000) || '", "id": 1}')::ftsample);
SELECT format(s), kind(s), char_count(s), token_count(s), turns(s) FROM big;

-- every accessor is strict
SELECT (SELECT count(*) FROM messages(NULL)) AS message_rows, roles(NULL) IS NULL AS r, turns(NULL) IS NULL AS t,
	   prompt_text(NULL) IS NULL AS p, response_text(NULL) IS NULL AS rt,
	   char_count(NULL) IS NULL AS c, token_count(NULL) IS NULL AS tc,
	   format(NULL) IS NULL AS f, kind(NULL) IS NULL AS k;

DROP TABLE a, big;
