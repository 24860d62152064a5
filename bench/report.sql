-- report.sql: the benchmark's closing tables, from bench.timing and
-- bench.figure.  Each timing is the median of its runs; a rate is the rows
-- loaded over that median.

\pset footer off
\pset null 'n/a'

CREATE TEMP VIEW medians AS
SELECT variant, metric,
	   percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS seconds,
	   max(rows) AS rows,
	   count(*) AS runs
FROM bench.timing
GROUP BY variant, metric;

-- Each comparison: which figure is the baseline, which is ftstore's, and
-- whether bigger is better (rates), smaller is better (sizes) or the
-- baseline's time over ftstore's is the speed-up (times).
-- The issue's load goal compares like with like, a column loaded by COPY
-- against a column loaded by COPY (row 1); the managed store's loads are
-- shown against that bare COPY, and against the same store built on
-- jsonb, without a goal of their own (docs/benchmarks.md says why).
CREATE TEMP TABLE comparisons (ord, label, kind, base, ft, goal) AS
VALUES
	(1, 'load rows/s: COPY into b_jsonb vs into b_ft', 'rate',
		'load_copy_jsonb', 'load_copy_ft', 1.0),
	(2, 'load rows/s: COPY b_jsonb vs INSERT..SELECT samples', 'rate',
		'load_copy_jsonb', 'load_insert_samples', NULL),
	(3, 'load rows/s: COPY b_jsonb vs import_file', 'rate',
		'load_copy_jsonb', 'load_import_file', NULL),
	(4, 'load rows/s: INSERT..SELECT, jsonb twin vs samples', 'rate',
		'load_insert_jsonb_managed', 'load_insert_samples', NULL),
	(5, 'size MB: b_jsonb vs b_ft', 'size',
		'size_b_jsonb', 'size_b_ft', 0.8),
	(6, 'size MB: jsonb twin vs samples, total', 'size',
		'size_jsonb_managed', 'size_samples', 0.8),
	(7, 'size MB: jsonb twin vs samples, heap+toast', 'size',
		'size_table_jsonb_managed', 'size_table_samples', NULL),
	(8, 'size MB: jsonb twin vs samples, indexes', 'size',
		'size_indexes_jsonb_managed', 'size_indexes_samples', NULL),
	(9, 'dedup s: DISTINCT md5 vs dedup_exact', 'time',
		'dedup_md5', 'dedup_exact', 2.0),
	(10, 'dedup s: DISTINCT md5 vs DISTINCT fingerprint()', 'time',
		'dedup_md5', 'dedup_fp', NULL),
	(11, 'dedup s: DISTINCT md5 vs DISTINCT stored column', 'time',
		'dedup_md5', 'dedup_stored_fp', NULL),
	(12, 'dedup s: marking on jsonb twin vs dedup_exact', 'time',
		'dedup_mark_jsonb', 'dedup_exact', NULL);

CREATE TEMP VIEW figures AS
SELECT variant, metric,
	   CASE WHEN metric LIKE 'load%' THEN rows / seconds ELSE seconds END AS value
FROM medians
UNION ALL
SELECT variant, metric, value::float8 FROM bench.figure WHERE metric LIKE 'size%';

CREATE TEMP VIEW results AS
SELECT v.variant, c.ord, c.label, c.kind, c.goal,
	   b.value AS base, f.value AS ft,
	   CASE c.kind WHEN 'time' THEN b.value / nullif(f.value, 0)
		   ELSE f.value / nullif(b.value, 0) END AS ratio
FROM (SELECT DISTINCT variant FROM bench.figure) v
CROSS JOIN comparisons c
LEFT JOIN figures b ON b.variant = v.variant AND b.metric = c.base
LEFT JOIN figures f ON f.variant = v.variant AND f.metric = c.ft;

CREATE TEMP VIEW shown AS
SELECT variant, ord, label AS metric,
	   CASE kind
		   WHEN 'rate' THEN to_char(base, 'FM999,999,990')
		   WHEN 'size' THEN to_char(base / 1048576, 'FM999,990.0')
		   ELSE to_char(base, 'FM9,990.000') END AS "jsonb baseline",
	   CASE kind
		   WHEN 'rate' THEN to_char(ft, 'FM999,999,990')
		   WHEN 'size' THEN to_char(ft / 1048576, 'FM999,990.0')
		   ELSE to_char(ft, 'FM9,990.000') END AS ftstore,
	   to_char(ratio, 'FM990.00') || 'x' AS ratio,
	   CASE WHEN goal IS NULL THEN '(info)'
		   WHEN kind = 'size' THEN '<= ' || to_char(goal, 'FM0.0') || 'x'
		   ELSE '>= ' || to_char(goal, 'FM0.0') || 'x' END AS goal,
	   CASE WHEN goal IS NULL OR ratio IS NULL THEN ''
		   WHEN kind = 'size' AND ratio <= goal THEN 'yes'
		   WHEN kind <> 'size' AND ratio >= goal THEN 'yes'
		   ELSE 'no' END AS met
FROM results;

\echo
\echo 'Duplicate groups found, per variant (duplicates = samples - groups)'
SELECT g.variant, g.method AS "counted by", g.groups,
	   s.value - g.groups AS duplicates
FROM (
	SELECT variant, 1 AS ord, 'jq -cS, whole record (independent)' AS method,
		   value AS groups
	FROM bench.figure WHERE metric = 'groups_jq'
	UNION ALL
	SELECT variant,
		   CASE metric WHEN 'dedup_md5' THEN 2 WHEN 'dedup_mark_jsonb' THEN 3
			   WHEN 'dedup_fp' THEN 4 WHEN 'dedup_stored_fp' THEN 5 ELSE 6 END,
		   CASE metric
			   WHEN 'dedup_md5' THEN 'md5(doc::text) over b_jsonb'
			   WHEN 'dedup_mark_jsonb' THEN 'md5 marking over jsonb table'
			   WHEN 'dedup_fp' THEN 'fingerprint(sample) over b_ft'
			   WHEN 'dedup_stored_fp' THEN 'stored fingerprint column'
			   ELSE 'ftstore.dedup_exact' END,
		   max(rows)
	FROM bench.timing WHERE metric LIKE 'dedup%'
	GROUP BY variant, metric
) g
JOIN bench.figure s ON s.variant = g.variant AND s.metric = 'samples'
ORDER BY g.variant, g.ord;

\echo
\echo 'Timed runs (seconds; the median is used)'
SELECT variant, metric, count(*) AS runs,
	   string_agg(to_char(seconds, 'FM9,990.000'), '  ' ORDER BY run) AS seconds,
	   to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds), 'FM9,990.000') AS median,
	   max(rows) AS rows
FROM bench.timing
GROUP BY variant, metric
ORDER BY variant, metric;

\echo
\echo 'Results: ratio is ftstore/jsonb for rates and sizes, jsonb/ftstore (speed-up) for times'
SELECT variant, metric, "jsonb baseline", ftstore, ratio, goal, met
FROM shown
ORDER BY variant, ord;
