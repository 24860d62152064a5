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
	status		text NOT NULL DEFAULT 'active'
				CHECK (status IN ('active', 'duplicate')),
	duplicate_of bigint,
	created_at	timestamptz NOT NULL DEFAULT now(),
	restricted	boolean NOT NULL DEFAULT false,
	UNIQUE (dataset_id, source, record)
);

CREATE INDEX b_jsonb_managed_dataset_fingerprint_idx
	ON b_jsonb_managed (dataset_id, fingerprint);
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

-- ftstore.dedup_exact's marking, over the jsonb table: the same work with
-- md5 as the key, to show what the marking UPDATE itself costs.
CREATE FUNCTION bench.dedup_exact_jsonb(ds integer) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	marked bigint;
BEGIN
	WITH ranked AS (
		SELECT s.id,
			   first_value(s.id) OVER (PARTITION BY s.fingerprint ORDER BY s.id) AS keep
		FROM b_jsonb_managed s
		WHERE s.dataset_id = ds
	)
	UPDATE b_jsonb_managed s
	SET status = CASE WHEN r.id = r.keep THEN 'active' ELSE 'duplicate' END,
		duplicate_of = CASE WHEN r.id = r.keep THEN NULL ELSE r.keep END
	FROM ranked r
	WHERE s.id = r.id
	  AND s.duplicate_of IS DISTINCT FROM CASE WHEN r.id = r.keep THEN NULL ELSE r.keep END;

	SELECT count(*) INTO marked
	FROM b_jsonb_managed s
	WHERE s.dataset_id = ds AND s.status = 'duplicate';
	RETURN marked;
END;
$$;
