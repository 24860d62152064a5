
-- The managed store: datasets, their samples, and the records an import
-- refused, kept for inspection.

CREATE TABLE ftstore.datasets (
	id			integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name		text NOT NULL UNIQUE CHECK (name <> ''),
	description text,
	created_at	timestamptz NOT NULL DEFAULT now()
);

-- A sample's source is the file (or client label) it came from, record its
-- ordinal there (1-based) and line the line its text starts on.  Imports
-- are idempotent on (dataset, source, record): the record ordinal rather
-- than the line, because a minified JSON array holds every record on line 1.
CREATE TABLE ftstore.samples (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	dataset_id	integer NOT NULL REFERENCES ftstore.datasets (id) ON DELETE CASCADE,
	-- Hidden from roles without clearance (docs/security.md).  Here,
	-- beside dataset_id, because the row-level security policy reads both
	-- on every row: a column at the end would make each row be decoded up
	-- to its last column before the policy could test it.
	restricted	boolean NOT NULL DEFAULT false,
	sample		ftstore.ftsample NOT NULL,
	source		text,
	record		integer,
	line		integer,
	fingerprint bytea NOT NULL GENERATED ALWAYS AS (ftstore.fingerprint(sample)) STORED,
	labels		jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	-- restricted rides along so that the policy can be tested in an
	-- index-only scan (a reader's count by dataset, say).
	CONSTRAINT samples_dataset_id_source_record_key
		UNIQUE (dataset_id, source, record) INCLUDE (restricted)
);

-- Duplicates by fingerprint.  restricted and id too, in that order, so
-- that dedup_exact reads each group's members in rank order from the index
-- alone: one pass without a sort (three times faster on 300,000 samples).
-- The cost: the index no longer folds equal keys into one entry, so on
-- data with many duplicates it is larger (15 MB instead of 3 MB for
-- 302,240 samples of which 99% are duplicates; about the same otherwise).
CREATE INDEX samples_dataset_fingerprint_idx
	ON ftstore.samples (dataset_id, fingerprint, restricted, id);

-- Records an import could not take.  raw is the record's text as read;
-- bytes that are not valid UTF-8 are written as \xNN so that the text
-- column can hold them.
CREATE TABLE ftstore.rejects (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	dataset_id	integer NOT NULL REFERENCES ftstore.datasets (id) ON DELETE CASCADE,
	source		text NOT NULL,
	record		integer NOT NULL,
	line		integer NOT NULL,
	raw			text NOT NULL,
	error_code	text NOT NULL,
	message		text NOT NULL,
	detail		text,
	path		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (dataset_id, source, record)
);

-- One row per import call, so a report can say how many records were read.
CREATE TABLE ftstore.imports (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	dataset_id	integer NOT NULL REFERENCES ftstore.datasets (id) ON DELETE CASCADE,
	source		text NOT NULL,
	format		text NOT NULL,
	records_read bigint NOT NULL,
	imported	bigint NOT NULL,
	rejected	bigint NOT NULL,
	skipped		bigint NOT NULL,	-- already imported before
	started_at	timestamptz NOT NULL,
	finished_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The dataset's id, created on first use.
CREATE FUNCTION ftstore.dataset_id(dataset text, create_missing boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result integer;
BEGIN
	SELECT d.id INTO result FROM ftstore.datasets d WHERE d.name = dataset;
	IF result IS NULL AND create_missing THEN
		INSERT INTO ftstore.datasets (name) VALUES (dataset)
			ON CONFLICT (name) DO NOTHING;
		SELECT d.id INTO result FROM ftstore.datasets d WHERE d.name = dataset;
	END IF;
	IF result IS NULL THEN
		RAISE EXCEPTION 'dataset "%" does not exist', dataset
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN result;
END;
$$;

-- The store is the user's data, not the extension's: pg_dump must dump its
-- rows (and the identity sequences behind the ids) even though the tables
-- belong to the extension.
SELECT pg_catalog.pg_extension_config_dump('ftstore.datasets', '');
SELECT pg_catalog.pg_extension_config_dump('ftstore.samples', '');
SELECT pg_catalog.pg_extension_config_dump('ftstore.rejects', '');
SELECT pg_catalog.pg_extension_config_dump('ftstore.imports', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ftstore.datasets', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ftstore.samples', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ftstore.rejects', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ftstore.imports', 'id'), '');
