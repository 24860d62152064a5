
-- Exact deduplication over the managed store.  The earliest sample of a
-- group (the smallest id, so the first imported) is kept; the others are
-- marked, never deleted, so that a curator can look before removing.

CREATE FUNCTION ftstore.dedup_exact(dataset text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ds integer := ftstore.dataset_id(dataset);
	marked bigint;
BEGIN
	-- Marking is writing: a reader must not learn through it what it
	-- cannot see (the policies would hide the rows, but fail loudly).
	IF NOT ftstore.can_access(ds, 'write') THEN
		RAISE EXCEPTION 'permission denied to write dataset "%"', dataset
			USING ERRCODE = 'insufficient_privilege';
	END IF;

	-- Re-rank every group, so that a group whose kept sample was deleted
	-- keeps its next earliest member instead.  Restricted samples form
	-- groups of their own: a visible sample marked as the duplicate of a
	-- hidden one would tell uncleared readers that the hidden one exists.
	WITH ranked AS (
		SELECT s.id,
			   first_value(s.id) OVER (PARTITION BY s.fingerprint, s.restricted
									   ORDER BY s.id) AS keep
		FROM ftstore.samples s
		WHERE s.dataset_id = ds
	)
	UPDATE ftstore.samples s
	SET status = CASE WHEN r.id = r.keep THEN 'active' ELSE 'duplicate' END,
		duplicate_of = CASE WHEN r.id = r.keep THEN NULL ELSE r.keep END
	FROM ranked r
	WHERE s.id = r.id
	  AND s.duplicate_of IS DISTINCT FROM CASE WHEN r.id = r.keep THEN NULL ELSE r.keep END;

	SELECT count(*) INTO marked
	FROM ftstore.samples s
	WHERE s.dataset_id = ds AND s.status = 'duplicate';
	RETURN marked;
END;
$$;

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
