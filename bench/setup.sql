-- setup.sql: the tables the benchmark loads and the ones it records its
-- figures in.  Run once, in a fresh database, by scripts/bench.sh.

CREATE EXTENSION ftstore;

CREATE SCHEMA bench;

-- One row per timed run.  rows is what the run loaded, or how many groups
-- a dedup found.
CREATE TABLE bench.timing (
	variant		text NOT NULL,
	metric		text NOT NULL,
	run			integer NOT NULL,
	seconds		float8 NOT NULL,
	rows		bigint NOT NULL
);

-- Figures that are not timings: sizes in bytes, counts of groups.
CREATE TABLE bench.figure (
	variant		text NOT NULL,
	metric		text NOT NULL,
	value		numeric NOT NULL
);

-- The file's lines as text, for the INSERT ... SELECT loads.  n is the
-- line's ordinal in the file, as COPY assigns identities in file order.
CREATE TABLE b_staging (
	n			integer GENERATED ALWAYS AS IDENTITY,
	line		text NOT NULL
);

-- The two bare columns the issue compares.
CREATE TABLE b_jsonb (doc jsonb);
CREATE TABLE b_ft (sample ftstore.ftsample);

-- ftstore.samples as a user without ftstore would build it: the same
-- columns, keys and indexes, the document as jsonb, an md5 of its text (16
-- bytes, as wide as ftstore's fingerprint) as the dedup key, and GIN
-- jsonb_path_ops on the document where ftstore has its facets index on the
-- sample.  Not copied: row-level security and the audit triggers, which a
-- bare jsonb table would not have.
CREATE TABLE b_jsonb_managed (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	dataset_id	integer NOT NULL REFERENCES ftstore.datasets (id) ON DELETE CASCADE,
	doc			jsonb NOT NULL,
	source		text,
	record		integer,
	line		integer,
	fingerprint bytea NOT NULL GENERATED ALWAYS AS (decode(md5(doc::text), 'hex')) STORED,
	labels		jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	restricted	boolean NOT NULL DEFAULT false,
	UNIQUE (dataset_id, source, record)
);

CREATE INDEX b_jsonb_managed_dataset_fingerprint_idx
	ON b_jsonb_managed (dataset_id, fingerprint, restricted, id);
CREATE INDEX b_jsonb_managed_doc_idx
	ON b_jsonb_managed USING gin (doc jsonb_path_ops);
CREATE INDEX b_jsonb_managed_labels_idx
	ON b_jsonb_managed USING gin (labels jsonb_path_ops);

-- The store changes as ftstore grows: say so when the twin above no longer
-- has ftstore.samples' columns or as many indexes, as its size would then
-- compare unlike things.
DO $$
DECLARE
	missing text;
	extra text;
	ft_indexes integer;
	jsonb_indexes integer;
BEGIN
	SELECT string_agg(a, ', ') INTO missing
	FROM (SELECT replace(attname, 'sample', 'doc') AS a FROM pg_attribute
		  WHERE attrelid = 'ftstore.samples'::regclass AND attnum > 0 AND NOT attisdropped
		  EXCEPT
		  SELECT attname FROM pg_attribute
		  WHERE attrelid = 'b_jsonb_managed'::regclass AND attnum > 0 AND NOT attisdropped) m;
	SELECT string_agg(a, ', ') INTO extra
	FROM (SELECT attname AS a FROM pg_attribute
		  WHERE attrelid = 'b_jsonb_managed'::regclass AND attnum > 0 AND NOT attisdropped
		  EXCEPT
		  SELECT replace(attname, 'sample', 'doc') FROM pg_attribute
		  WHERE attrelid = 'ftstore.samples'::regclass AND attnum > 0 AND NOT attisdropped) e;
	SELECT count(*) INTO ft_indexes FROM pg_index WHERE indrelid = 'ftstore.samples'::regclass;
	SELECT count(*) INTO jsonb_indexes FROM pg_index WHERE indrelid = 'b_jsonb_managed'::regclass;
	IF missing IS NOT NULL OR extra IS NOT NULL OR ft_indexes <> jsonb_indexes THEN
		RAISE WARNING 'b_jsonb_managed no longer mirrors ftstore.samples'
			USING DETAIL = format('Columns only in ftstore.samples: %s; only in b_jsonb_managed: %s; indexes: %s against %s.',
								  coalesce(missing, 'none'), coalesce(extra, 'none'),
								  ft_indexes, jsonb_indexes),
				  HINT = 'Update bench/setup.sql.';
	END IF;
END;
$$;

-- ftstore.dedup_exact's marking, over the jsonb table: the same ranking
-- with md5 as the key, into a marks table like ftstore.duplicates, to show
-- what finding and writing the marks costs without ftstore.
CREATE TABLE bench.duplicates_jsonb (
	dataset_id	integer NOT NULL,
	sample_id	bigint NOT NULL,
	restricted	boolean NOT NULL,
	duplicate_of bigint NOT NULL,
	PRIMARY KEY (dataset_id, sample_id)
);

CREATE FUNCTION bench.dedup_exact_jsonb(ds integer) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	marked bigint;
BEGIN
	WITH ranked AS (
		SELECT s.id, s.restricted,
			   first_value(s.id) OVER (PARTITION BY s.fingerprint, s.restricted
									   ORDER BY s.id) AS keep
		FROM b_jsonb_managed s
		WHERE s.dataset_id = ds
	),
	wanted AS MATERIALIZED (
		SELECT r.id, r.restricted, r.keep FROM ranked r WHERE r.id <> r.keep
	),
	gone AS (
		DELETE FROM bench.duplicates_jsonb m
		WHERE m.dataset_id = ds
		  AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.id = m.sample_id)
	),
	moved AS (
		UPDATE bench.duplicates_jsonb m
		SET duplicate_of = w.keep, restricted = w.restricted
		FROM wanted w
		WHERE m.dataset_id = ds AND m.sample_id = w.id
		  AND (m.duplicate_of, m.restricted) IS DISTINCT FROM (w.keep, w.restricted)
	)
	INSERT INTO bench.duplicates_jsonb (dataset_id, sample_id, restricted, duplicate_of)
	SELECT ds, w.id, w.restricted, w.keep
	FROM wanted w
	WHERE NOT EXISTS (SELECT 1 FROM bench.duplicates_jsonb m
					  WHERE m.dataset_id = ds AND m.sample_id = w.id);

	SELECT count(*) INTO marked
	FROM bench.duplicates_jsonb m
	WHERE m.dataset_id = ds;
	RETURN marked;
END;
$$;
