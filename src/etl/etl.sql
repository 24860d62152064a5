
-- Import and export: files on the server for roles trusted with them,
-- buffers sent by any client, JSON lines back out.

-- The records of a server file as the importer splits them, for looking
-- into a file that will not import.  Reads any file the server can.
CREATE FUNCTION ftstore.read_records(path text)
RETURNS TABLE (record integer, line integer, raw text)
	AS 'MODULE_PATHNAME', 'ft_read_records' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.read_records(text) FROM PUBLIC;

COMMENT ON FUNCTION ftstore.read_records(text) IS
	'records of a JSONL or JSON array file on the server, plain, gzip or zstd';

-- The function checks for superuser or pg_read_server_files itself, so
-- that the error says what is missing.
CREATE FUNCTION ftstore.import_file(dataset text, path text,
									format text DEFAULT 'auto',
									labels jsonb DEFAULT '{}')
RETURNS TABLE (imported bigint, rejected bigint)
	AS 'MODULE_PATHNAME', 'ft_import_file' LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION ftstore.import_file(text, text, text, jsonb) IS
	'import a JSONL or JSON array file on the server into a dataset';

CREATE FUNCTION ftstore.import_data(dataset text, source text, data bytea,
									format text DEFAULT 'auto',
									labels jsonb DEFAULT '{}')
RETURNS TABLE (imported bigint, rejected bigint)
	AS 'MODULE_PATHNAME', 'ft_import_data' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION ftstore.import_data(dataset text, source text, data text,
									format text DEFAULT 'auto',
									labels jsonb DEFAULT '{}')
RETURNS TABLE (imported bigint, rejected bigint)
	AS 'MODULE_PATHNAME', 'ft_import_text' LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION ftstore.import_data(text, text, bytea, text, jsonb) IS
	'import JSONL or JSON array bytes sent by the client, plain, gzip or zstd';
COMMENT ON FUNCTION ftstore.import_data(text, text, text, text, jsonb) IS
	'import JSONL or JSON array text sent by the client';

CREATE FUNCTION ftstore.export(dataset text, format text DEFAULT 'openai',
							   include_duplicates boolean DEFAULT false)
RETURNS SETOF text
	AS 'MODULE_PATHNAME', 'ft_export' LANGUAGE C STABLE STRICT;

COMMENT ON FUNCTION ftstore.export(text, text, boolean) IS
	'one JSON line per sample of a dataset, in import order';

-- Checks for superuser or pg_write_server_files itself.
CREATE FUNCTION ftstore.export_file(dataset text, path text,
									format text DEFAULT 'openai',
									compression text DEFAULT 'none',
									include_duplicates boolean DEFAULT false)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'ft_export_file' LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION ftstore.export_file(text, text, text, text, boolean) IS
	'write a dataset as a JSONL file on the server, plain, gzip or zstd';
