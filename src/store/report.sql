
-- What a dataset holds and what is wrong with it: the report the main job
-- (scripts/run.sh) prints, and views with plain column types for BI tools
-- and drivers that do not know the ftsample type.  This fragment comes last
-- in the install script because it reads every other capability's objects.

-- One row per sample, the sample as jsonb and its measures as integers.
-- security_invoker, so a reader sees through the view only what the
-- tables' privileges and policies let that reader see.
CREATE VIEW ftstore.samples_bi WITH (security_invoker = true) AS
SELECT
	s.id,
	d.name AS dataset,
	s.source,
	s.record,
	s.line,
	ftstore.format(s.sample) AS format,
	ftstore.kind(s.sample) AS kind,
	s.sample::jsonb AS sample,
	ftstore.turns(s.sample)::integer AS turns,
	ftstore.char_count(s.sample)::integer AS chars,
	ftstore.token_count(s.sample)::integer AS tokens,
	encode(s.fingerprint, 'hex') AS fingerprint,
	CASE WHEN m.sample_id IS NULL THEN 'active' ELSE 'duplicate' END AS status,
	m.duplicate_of,
	s.created_at
FROM ftstore.samples s
JOIN ftstore.datasets d ON d.id = s.dataset_id
LEFT JOIN ftstore.duplicates m
	ON m.dataset_id = s.dataset_id AND m.sample_id = s.id;

COMMENT ON VIEW ftstore.samples_bi IS
	'samples with plain column types (jsonb, integer, hex text) for BI tools';

-- The records imports refused, under the dataset's name.
CREATE VIEW ftstore.rejects_bi WITH (security_invoker = true) AS
SELECT
	r.id,
	d.name AS dataset,
	r.source,
	r.record,
	r.line,
	r.error_code,
	r.message,
	r.detail,
	r.path,
	r.raw,
	r.created_at
FROM ftstore.rejects r
JOIN ftstore.datasets d ON d.id = r.dataset_id;

COMMENT ON VIEW ftstore.rejects_bi IS
	'records that imports refused, with the SQLSTATE, message and JSON path of the reason';

-- One row per import call, under the dataset's name.
CREATE VIEW ftstore.imports_bi WITH (security_invoker = true) AS
SELECT
	i.id,
	d.name AS dataset,
	i.source,
	i.format,
	i.records_read,
	i.imported,
	i.rejected,
	i.skipped,
	i.started_at,
	i.finished_at
FROM ftstore.imports i
JOIN ftstore.datasets d ON d.id = i.dataset_id;

COMMENT ON VIEW ftstore.imports_bi IS
	'one row per ftstore.import_file call: records read, imported, rejected, skipped';

-- The report on one dataset, one row per line of it, in the order it is
-- meant to be read:
--
--   section 'summary': code names the figure (records_read, imported,
--     rejected, skipped, samples, exact_duplicates, duplicate_groups,
--     samples_with_errors, samples_with_warnings), message says it in words.
--     The import figures are those of the latest import of each source, so
--     importing a file again does not double them.
--   section 'rejects': the records imports refused, grouped by SQLSTATE
--     (code), message and JSON path; message carries the error's detail too.
--   section 'validation': the problems ftstore.validate finds in the
--     stored samples, grouped by severity and code; message is one example,
--     path the JSON path when all problems share it (else one, then "...").
--
-- lines lists the first source lines where a reject or problem occurs, so
-- the user can find them in the file; count is how many there are.
-- Duplicate samples are validated too: they are still in the dataset.
CREATE FUNCTION ftstore.report(dataset text)
RETURNS TABLE (
	section text,
	code text,
	severity text,
	message text,
	path text,
	lines text,
	count bigint
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH ds AS (
	SELECT ftstore.dataset_id(report.dataset) AS id
),
latest_import AS (
	SELECT DISTINCT ON (i.source) i.*
	FROM ftstore.imports i, ds
	WHERE i.dataset_id = ds.id
	ORDER BY i.source, i.id DESC
),
stored AS (
	SELECT s.id, s.line, s.fingerprint, s.sample
	FROM ftstore.samples s, ds
	WHERE s.dataset_id = ds.id
),
problems AS (
	-- An empty path means the record as a whole: no path to show.
	SELECT st.id, st.line, v.severity, v.code, nullif(v.path, '') AS path,
		v.message
	FROM stored st,
		LATERAL ftstore.validate(ftstore.render(st.sample,
												ftstore.format(st.sample))) v
),
summary (ord, code, message, count) AS (
	SELECT 1, 'records_read', 'records read',
		(SELECT coalesce(sum(records_read), 0) FROM latest_import)::bigint
	UNION ALL
	SELECT 2, 'imported', 'imported',
		(SELECT coalesce(sum(imported), 0) FROM latest_import)::bigint
	UNION ALL
	SELECT 3, 'rejected', 'rejected',
		(SELECT coalesce(sum(rejected), 0) FROM latest_import)::bigint
	UNION ALL
	SELECT 4, 'skipped', 'skipped (imported before)',
		(SELECT coalesce(sum(skipped), 0) FROM latest_import)::bigint
	UNION ALL
	SELECT 5, 'samples', 'samples stored',
		(SELECT count(*) FROM stored)
	UNION ALL
	SELECT 6, 'exact_duplicates', 'exact duplicates (marked, not deleted)',
		(SELECT count(*) FROM ftstore.duplicates m, ds WHERE m.dataset_id = ds.id)
	UNION ALL
	SELECT 7, 'duplicate_groups', 'duplicate groups',
		(SELECT count(*) FROM (SELECT 1 FROM stored
							   GROUP BY fingerprint
							   HAVING count(*) > 1) g)
	UNION ALL
	SELECT 8, 'samples_with_errors', 'samples with validation errors',
		(SELECT count(DISTINCT id) FROM problems WHERE severity = 'error')
	UNION ALL
	SELECT 9, 'samples_with_warnings', 'samples with validation warnings',
		(SELECT count(DISTINCT id) FROM problems WHERE severity = 'warning')
),
rejects AS (
	SELECT r.error_code AS code,
		r.message || CASE count(DISTINCT r.detail)
			WHEN 0 THEN ''
			WHEN 1 THEN ': ' || min(r.detail)
			ELSE ': ' || min(r.detail) || ' (and other details)'
		END AS message,
		nullif(r.path, '') AS path,
		array_to_string((array_agg(r.line ORDER BY r.line))[1:5], ', ')
			|| CASE WHEN count(*) > 5 THEN ', ...' ELSE '' END AS lines,
		count(*) AS count
	FROM ftstore.rejects r, ds
	WHERE r.dataset_id = ds.id
	GROUP BY r.error_code, r.message, nullif(r.path, '')
),
validation AS (
	SELECT p.code, p.severity,
		min(p.message) AS message,
		CASE count(DISTINCT p.path)
			WHEN 0 THEN NULL
			WHEN 1 THEN min(p.path)
			ELSE min(p.path) || ', ...'
		END AS path,
		array_to_string((array_agg(DISTINCT p.line))[1:5], ', ')
			|| CASE WHEN count(DISTINCT p.line) > 5 THEN ', ...' ELSE '' END
			AS lines,
		count(*) AS count
	FROM problems p
	GROUP BY p.severity, p.code
)
SELECT section, code, severity, message, path, lines, count
FROM (
	SELECT 1 AS sect, ord, 'summary' AS section, code,
		NULL::text AS severity, message, NULL::text AS path,
		NULL::text AS lines, count
	FROM summary
	UNION ALL
	SELECT 2, 0, 'rejects', code, 'error', message, path, lines, count
	FROM rejects
	UNION ALL
	SELECT 3, CASE severity WHEN 'error' THEN 0 ELSE 1 END,
		'validation', code, severity, message, path, lines, count
	FROM validation
) r
ORDER BY sect, ord, count DESC, code, message
$$;

COMMENT ON FUNCTION ftstore.report(text) IS
	'the main job''s report on a dataset: summary figures, rejected records by reason, validation problems by code';
