
-- Exact deduplication over the managed store.  The earliest sample of a
-- group (the smallest id, so the first imported) is kept; the others are
-- marked, never deleted, so that a curator can look before removing.

-- The marks, one row per sample marked, kept beside the samples rather
-- than in them: marking then writes a narrow row, where a status column
-- in the samples would make every marked sample a new version of its whole
-- row and of its index entries (on data where 99% of the rows are
-- duplicates, that is rewriting the table).  duplicate_of is the sample
-- kept.  restricted is the marked sample's own flag, copied so that the
-- policy can hide the mark exactly when it hides the sample without a
-- lookup per row; triggers on the samples keep it true (security.sql).
-- No foreign keys: a check per marked row would cost more than the
-- marking, and the marks are written by dedup_exact alone, which takes
-- them from the samples; deleting samples deletes their marks (trigger).
CREATE TABLE ftstore.duplicates (
	dataset_id	integer NOT NULL,
	sample_id	bigint NOT NULL,
	restricted	boolean NOT NULL,
	duplicate_of bigint NOT NULL,
	PRIMARY KEY (dataset_id, sample_id)
);

COMMENT ON TABLE ftstore.duplicates IS
	'exact-duplicate marks: each sample marked and the sample kept in its place (written by dedup_exact)';

SELECT pg_catalog.pg_extension_config_dump('ftstore.duplicates', '');

-- SECURITY DEFINER so that no role writes marks of its own: every mark is
-- the result of a ranking, which the views and export rely on.  The right
-- to write the dataset is checked for the caller, whom the C entry point
-- below names (caller.c), and every sample is ranked, hidden ones too,
-- each class apart: restricted samples form groups of their own, as a
-- visible sample marked the duplicate of a hidden one would tell uncleared
-- readers that the hidden one exists.  The count returned covers what the
-- caller may see.
--
-- No nested loops: the marks table is often far from what its statistics
-- say (emptied, or filled by the previous run, since the last ANALYZE),
-- and a nested loop that rescans it, or the ranking, for every mark is
-- quadratic: 302,240 samples took minutes where hash joins take a second.
CREATE FUNCTION ftstore.dedup_exact_as(dataset text, actor name) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_nestloop = off
AS $$
DECLARE
	ds integer;
	marked bigint;
BEGIN
	-- The same answers as the policies give the caller: a dataset it holds
	-- no grant on does not exist for it, and marking is writing.
	SELECT d.id INTO ds FROM ftstore.datasets d WHERE d.name = dataset;
	IF ds IS NULL OR NOT ftstore.actor_holds(actor, ds, 'read') THEN
		RAISE EXCEPTION 'dataset "%" does not exist', dataset
			USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT ftstore.actor_holds(actor, ds, 'write') THEN
		RAISE EXCEPTION 'permission denied to write dataset "%"', dataset
			USING ERRCODE = 'insufficient_privilege';
	END IF;

	-- One marking of a dataset at a time, or two would insert the same
	-- marks; the triggers that mend marks when samples are deleted or
	-- change restriction take the same lock (security.sql).  NO KEY
	-- UPDATE lets imports (which take KEY SHARE through their foreign
	-- key) go on meanwhile.
	PERFORM 1 FROM ftstore.datasets d WHERE d.id = ds FOR NO KEY UPDATE;

	-- Every group is ranked afresh, so that a group whose kept sample was
	-- deleted keeps its next earliest member instead.  The samples' index
	-- on (dataset_id, fingerprint, restricted, id) hands the ranking its
	-- rows in order: one index-only pass, no sort.
	IF NOT EXISTS (SELECT 1 FROM ftstore.duplicates m WHERE m.dataset_id = ds) THEN
		-- The first marking of the dataset (or the first since all its
		-- marks went): nothing to compare with.
		INSERT INTO ftstore.duplicates (dataset_id, sample_id, restricted, duplicate_of)
		SELECT ds, r.id, r.restricted, r.keep
		FROM (SELECT s.id, s.restricted,
					 first_value(s.id) OVER (PARTITION BY s.fingerprint, s.restricted
											 ORDER BY s.id) AS keep
			  FROM ftstore.samples s
			  WHERE s.dataset_id = ds) r
		WHERE r.id <> r.keep;
	ELSE
		-- Three disjoint sets of marks, in one statement so that they
		-- agree on one ranking: those no longer wanted go, those whose
		-- kept sample changed are updated, new ones are added.
		WITH wanted AS MATERIALIZED (
			SELECT r.id, r.restricted, r.keep
			FROM (SELECT s.id, s.restricted,
						 first_value(s.id) OVER (PARTITION BY s.fingerprint, s.restricted
												 ORDER BY s.id) AS keep
				  FROM ftstore.samples s
				  WHERE s.dataset_id = ds) r
			WHERE r.id <> r.keep
		),
		gone AS (
			DELETE FROM ftstore.duplicates m
			WHERE m.dataset_id = ds
			  AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.id = m.sample_id)
		),
		moved AS (
			UPDATE ftstore.duplicates m
			SET duplicate_of = w.keep, restricted = w.restricted
			FROM wanted w
			WHERE m.dataset_id = ds AND m.sample_id = w.id
			  AND (m.duplicate_of, m.restricted) IS DISTINCT FROM (w.keep, w.restricted)
		)
		INSERT INTO ftstore.duplicates (dataset_id, sample_id, restricted, duplicate_of)
		SELECT ds, w.id, w.restricted, w.keep
		FROM wanted w
		WHERE NOT EXISTS (SELECT 1 FROM ftstore.duplicates m
						  WHERE m.dataset_id = ds AND m.sample_id = w.id);
	END IF;

	SELECT count(*) INTO marked
	FROM ftstore.duplicates m
	WHERE m.dataset_id = ds
	  AND (NOT m.restricted OR ftstore.actor_holds(actor, ds, 'clearance'));

	INSERT INTO ftstore.audit_log (actor, action, dataset_id, dataset, detail)
	VALUES (actor, 'dedup_exact', ds, dedup_exact_as.dataset,
			jsonb_build_object('marked', marked));
	RETURN marked;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.dedup_exact_as(text, name) FROM PUBLIC;

-- The entry point: runs as the caller and names it to the body (caller.c).
CREATE FUNCTION ftstore.dedup_exact(dataset text) RETURNS bigint
LANGUAGE C
AS 'MODULE_PATHNAME', 'ft_call_as_caller';

REVOKE EXECUTE ON FUNCTION ftstore.dedup_exact(text) FROM PUBLIC;

COMMENT ON FUNCTION ftstore.dedup_exact(text) IS
	'mark all but the earliest sample of each exact-duplicate group; returns how many are marked';

-- Groups of exact duplicates, for inspection.
CREATE VIEW ftstore.duplicate_groups WITH (security_invoker = true) AS
SELECT d.name AS dataset,
	   encode(s.fingerprint, 'hex') AS fingerprint,
	   count(*) AS size,
	   min(s.id) AS kept_id,
	   array_agg(s.id ORDER BY s.id) AS sample_ids
FROM ftstore.samples s
JOIN ftstore.datasets d ON d.id = s.dataset_id
GROUP BY d.name, s.fingerprint
HAVING count(*) > 1;
