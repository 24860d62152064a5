-- Import into the managed store and export from it, on small inline inputs.
-- Every count, record ordinal and line number below was worked out by hand
-- from the input written next to it; the comments say how.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore;
RESET client_min_messages;

-- JSONL: three records on lines 1, 3 and 4 (line 2 is blank and is no
-- record); the second has a role no format knows, so it is rejected and
-- the third still lands.  CRLF line ends are allowed.
SELECT * FROM ftstore.import_data('store_jsonl', 'store/chat.jsonl',
E'{"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]}\r\n'
 '\r\n'
 '{"messages": [{"role": "user", "content": "hi"}, {"role": "wizard", "content": "x"}]}\r\n'
 '{"instruction": "Name a colour.", "input": "", "output": "Blue"}');

SELECT record, line, ftstore.format(sample) AS format
FROM ftstore.samples WHERE source = 'store/chat.jsonl' ORDER BY id;
SELECT record, line, error_code, path, raw
FROM ftstore.rejects WHERE source = 'store/chat.jsonl' ORDER BY record;

-- The same input again adds nothing: two records are skipped as already
-- stored, the bad one is rejected again but its reject row is not doubled.
SELECT * FROM ftstore.import_data('store_jsonl', 'store/chat.jsonl',
E'{"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]}\r\n'
 '\r\n'
 '{"messages": [{"role": "user", "content": "hi"}, {"role": "wizard", "content": "x"}]}\r\n'
 '{"instruction": "Name a colour.", "input": "", "output": "Blue"}');
SELECT count(*) AS samples FROM ftstore.samples WHERE source = 'store/chat.jsonl';
SELECT count(*) AS rejects FROM ftstore.rejects WHERE source = 'store/chat.jsonl';
SELECT format, records_read, imported, rejected, skipped
FROM ftstore.imports WHERE source = 'store/chat.jsonl' ORDER BY id;

-- A source that grew since it was imported: its first two records are
-- skipped unread, the two new ones added.
SELECT * FROM ftstore.import_data('store_grow', 'store/grow.jsonl',
E'{"text": "one"}\n{"text": "two"}\n');
SELECT * FROM ftstore.import_data('store_grow', 'store/grow.jsonl',
E'{"text": "one"}\n{"text": "two"}\n{"text": "three"}\n{"text": "four"}\n');
SELECT records_read, imported, rejected, skipped
FROM ftstore.imports WHERE source = 'store/grow.jsonl' ORDER BY id;
SELECT record, ftstore.render_text(sample, 'text') AS sample
FROM ftstore.samples WHERE source = 'store/grow.jsonl' ORDER BY id;

-- A pretty-printed JSON array after a BOM: elements start on lines 2 and
-- 3; the second spans lines 3 to 5.
SELECT * FROM ftstore.import_data('store_array', 'store/pretty.json',
E'\uFEFF[\n'
 '  {"instruction": "Add 1 and 1.", "output": "2"},\n'
 '  {"instruction": "Say hello.",\n'
 '   "input": "",\n'
 '   "output": "Hello."}\n'
 ']\n');
SELECT record, line, ftstore.format(sample) AS format
FROM ftstore.samples WHERE source = 'store/pretty.json' ORDER BY id;

-- A minified array: every element is on line 1.  The third element, 42,
-- is not an object; a ']' or an escaped quote inside a string does not
-- end the array.
SELECT * FROM ftstore.import_data('store_array', 'store/mini.json',
'[{"instruction":"a]b","output":"c"},{"instruction":"d","output":"e"},42,{"instruction":"f\"]","output":"g"}]');
SELECT record, line FROM ftstore.samples WHERE source = 'store/mini.json' ORDER BY id;
SELECT record, line, error_code, path, raw
FROM ftstore.rejects WHERE source = 'store/mini.json' ORDER BY record;

-- The format named instead of detected: as ShareGPT, an Alpaca record is
-- rejected (it has no conversations).
SELECT * FROM ftstore.import_data('store_hint', 'store/hint.jsonl',
'{"instruction": "a", "output": "b"}', 'sharegpt');
SELECT record, error_code, path FROM ftstore.rejects WHERE source = 'store/hint.jsonl';
SELECT * FROM ftstore.import_data('store_hint', 'store/hint.jsonl', '{}', 'yaml');

-- Bytes, with a record that is not UTF-8 (0xFF on line 2): rejected with
-- SQLSTATE 22021 and the byte written as \xFF; lines 1 and 3 land.
SELECT * FROM ftstore.import_data('store_bytes', 'store/bytes.jsonl',
convert_to(E'{"text": "one"}\n{"text": "t', 'UTF8') || '\xff'::bytea ||
convert_to(E'wo"}\n{"text": "three"}\n', 'UTF8'));
SELECT record, line, error_code, raw FROM ftstore.rejects
WHERE source = 'store/bytes.jsonl';

-- Compressed bytes are recognised by their magic numbers.  Both constants
-- hold two lines {"text": "... record one"} and {"text": "... record two"},
-- made with gzip -9n and zstd -19.
SELECT * FROM ftstore.import_data('store_bytes', 'store/two.jsonl.gz',
'\x1f8b0800000000000203ab562a49ad2851b252504aafca2c50284a4dce2f4a51c8cf4b55aae5aac62a57529e0f94030076b9a89a38000000'::bytea);
SELECT * FROM ftstore.import_data('store_bytes', 'store/two.jsonl.zst',
'\x28b52ffd04684d010024027b2274657874223a20227a737464207265636f7264206f6e65227d0a74776f227d0a0100bc329d7129ceaf'::bytea);
SELECT source, record, line, ftstore.render_text(sample, 'text') AS sample
FROM ftstore.samples WHERE source LIKE 'store/two.jsonl.%' ORDER BY id;

-- A truncated array: the first element is whole, the second is cut off
-- inside a string.  Garbage between elements is a record of its own.
SELECT * FROM ftstore.import_data('store_hostile', 'store/cut.json',
E'[\n{"text": "whole"},\n{"text": "cut');
SELECT * FROM ftstore.import_data('store_hostile', 'store/garbage.json',
E'[{"text": "a"} oops, {"text": "b"}]');
SELECT * FROM ftstore.import_data('store_hostile', 'store/open.json',
E'[{"text": "a"},\n{"text": "b"}\n');
SELECT source, record, line, error_code, message, raw
FROM ftstore.rejects WHERE source IN ('store/cut.json', 'store/garbage.json', 'store/open.json')
ORDER BY source, record;

-- A record over ftstore.max_sample_bytes is rejected without being read
-- whole; its first kilobyte is kept.  The record is 2,012 bytes: the 10
-- of {"text": ", 2,000 'x' and the 2 of "}.
SET ftstore.max_sample_bytes = 1024;
SELECT * FROM ftstore.import_data('store_hostile', 'store/big.jsonl',
'{"text": "' || repeat('x', 2000) || E'"}\n{"text": "small"}\n');
SELECT record, line, error_code, detail, octet_length(raw) AS kept
FROM ftstore.rejects WHERE source = 'store/big.jsonl';
RESET ftstore.max_sample_bytes;

-- Empty input, and input that is all white space, hold no records.
SELECT * FROM ftstore.import_data('store_hostile', 'store/empty.jsonl', '');
SELECT * FROM ftstore.import_data('store_hostile', 'store/blank.jsonl', E' \n\t\r\n');

-- Export: one line per active sample in import order, in the format asked:
-- store_array holds pretty.json's two records, then mini.json's three.
SELECT * FROM ftstore.export('store_jsonl');
SELECT * FROM ftstore.export('store_array', 'alpaca');
INSERT INTO ftstore.duplicates (dataset_id, sample_id, restricted, duplicate_of)
SELECT dataset_id, id, restricted, id - 1 FROM ftstore.samples
WHERE source = 'store/mini.json' AND record = 2;
SELECT * FROM ftstore.export('store_array', 'alpaca');
SELECT count(*) AS all_samples FROM ftstore.export('store_array', 'alpaca', true);
SELECT * FROM ftstore.export('no_such_dataset');
SELECT * FROM ftstore.export('store_array', 'auto');

-- Server files need a privileged role and an absolute path.
SELECT * FROM ftstore.import_file('store_file', 'relative/path.jsonl');
SELECT * FROM ftstore.import_file('store_file', '/nonexistent/ftstore/x.jsonl');
\echo :LAST_ERROR_SQLSTATE
-- The role may call the functions, so that their own check is what stops
-- it: it lacks pg_read_server_files and pg_write_server_files.
CREATE ROLE ftstore_store_user;
GRANT USAGE ON SCHEMA ftstore TO ftstore_store_user;
GRANT EXECUTE ON FUNCTION ftstore.import_file(text, text, text, jsonb),
	ftstore.export_file(text, text, text, text, boolean)
	TO ftstore_store_user;
SET ROLE ftstore_store_user;
SELECT * FROM ftstore.import_file('store_file', '/nonexistent/ftstore/x.jsonl');
\echo :LAST_ERROR_SQLSTATE
SELECT ftstore.export_file('store_array', '/nonexistent/ftstore/out.jsonl');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ftstore.read_records('/nonexistent/ftstore/x.jsonl');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP OWNED BY ftstore_store_user;
DROP ROLE ftstore_store_user;
