-- bench/facets.sql: the facet index of ftsample against the same facets
-- materialised in jsonb columns, one with a jsonb_path_ops GIN index and
-- one with a jsonb_ops GIN index, on the same table, server and data.
--
-- Run in a fresh database with ftstore installed and a staging file of the
-- corpus, one JSON record a line (jq -c; see docs/facets.md for the
-- command):
--
--   psql -X -v corpus=/path/corpus.jsonl -v samples=1000000 -v runs=5 \
--     -f bench/facets.sql
--
-- It prints, for each index, its build time and size, and for each of ten
-- queries the median latency over :runs runs (after one warm-up run), the
-- plan's index and the row count, which must agree across the three.  It
-- prints figures, never a verdict.

\set ON_ERROR_STOP on
\pset pager off
SET client_min_messages = warning;
SET search_path = public, ftstore;
SET max_parallel_workers_per_gather = 0;
SET max_parallel_maintenance_workers = 0;
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';
SET jit = off;
SELECT :'samples'::bigint AS target_samples, :'runs'::int AS runs \gset

CREATE EXTENSION IF NOT EXISTS ftstore;

-- The corpus, parsed once.
CREATE TEMP TABLE stage (doc jsonb);
COPY stage FROM :'corpus' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
CREATE TEMP TABLE corpus AS
SELECT row_number() OVER () AS i, doc::ftstore.ftsample AS sample FROM stage;
SELECT count(*) AS corpus_records FROM corpus \gset

-- The same facets, materialised twice so that each jsonb index has a
-- column of its own and each query can be put to each index.
ALTER TABLE ftstore.samples ADD COLUMN facets_p jsonb, ADD COLUMN facets_o jsonb;
DROP INDEX ftstore.samples_facets_idx;
DROP INDEX ftstore.samples_labels_idx;

-- Copies of the corpus until there are :samples, with labels: a quality
-- (gold on one copy in twenty, ok else) and a batch number.
SELECT ftstore.dataset_id('bench', true) AS ds \gset
\timing on
INSERT INTO ftstore.samples (dataset_id, sample, source, record, labels,
	facets_p, facets_o)
SELECT :ds, c.sample, 'copy ' || g, c.i,
	jsonb_build_object('quality', CASE WHEN g % 20 = 0 THEN 'gold' ELSE 'ok' END,
					   'batch', g % 100),
	f.f, f.f
FROM generate_series(1, ceil(:target_samples::numeric / :corpus_records)::int) g,
	corpus c,
	LATERAL (SELECT ftstore.facets(c.sample) AS f) f;
\timing off
VACUUM (ANALYZE) ftstore.samples;
SELECT count(*) AS samples FROM ftstore.samples;

-- Index builds.
CREATE TEMP TABLE builds (index text, seconds float8, bytes bigint);
CREATE INDEX samples_labels_idx ON ftstore.samples USING gin (labels jsonb_path_ops);

CREATE FUNCTION pg_temp.build(name text, ddl text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
BEGIN
	CHECKPOINT;
	t0 := clock_timestamp();
	EXECUTE ddl;
	INSERT INTO builds VALUES (name,
		extract(epoch FROM clock_timestamp() - t0),
		pg_relation_size(('ftstore.' || name)::regclass));
END;
$$;

SELECT pg_temp.build('samples_facets_idx',
	'CREATE INDEX samples_facets_idx ON ftstore.samples USING gin (sample)');
SELECT pg_temp.build('bench_path_ops_idx',
	'CREATE INDEX bench_path_ops_idx ON ftstore.samples USING gin (facets_p jsonb_path_ops)');
SELECT pg_temp.build('bench_ops_idx',
	'CREATE INDEX bench_ops_idx ON ftstore.samples USING gin (facets_o jsonb_ops)');
VACUUM (ANALYZE) ftstore.samples;

SELECT index, round(seconds::numeric, 2) AS build_s,
	pg_size_pretty(bytes) AS size, bytes
FROM builds ORDER BY index;

-- The queries: %s is the facet column (sample, facets_p or facets_o).
CREATE TEMP TABLE queries (n int, name text, sql text);
INSERT INTO queries VALUES
(1, 'one facet (lang zh)',
 $q$SELECT count(*) FROM ftstore.samples WHERE %s @> '{"lang": "zh"}'$q$),
(2, 'two facets ANDed (sft with tools)',
 $q$SELECT count(*) FROM ftstore.samples WHERE %s @> '{"kind": "sft", "tools": true}'$q$),
(3, 'a label and a facet',
 $q$SELECT count(*) FROM ftstore.samples WHERE labels @> '{"quality": "gold"}' AND %s @> '{"tool_calls": true}'$q$),
(4, 'a rare value (two images)',
 $q$SELECT count(*) FROM ftstore.samples WHERE %s @> '{"images": 2}'$q$),
(5, 'a common value (lang en)',
 $q$SELECT count(*) FROM ftstore.samples WHERE %s @> '{"lang": "en"}'$q$),
(6, 'key existence (? system)',
 $q$SELECT count(*) FROM ftstore.samples WHERE %s ? 'system'$q$),
(7, 'any-of (?| tools, media)',
 $q$SELECT count(*) FROM ftstore.samples WHERE %s ?| '{tools,media}'$q$),
(8, 'all-of (?& tools, tool_calls)',
 $q$SELECT count(*) FROM ftstore.samples WHERE %s ?& '{tools,tool_calls}'$q$),
(9, 'facet summary (kind x lang of preference data)',
 $q$SELECT f->>'kind', f->>'lang', count(*) FROM (SELECT %s AS f FROM ftstore.samples WHERE %s @> '{"kind": "preference"}') s GROUP BY 1, 2$q$),
(10, 'BI view (length of zh samples)',
 $q$SELECT length, count(*) FROM %s WHERE %s @> '{"lang": "zh"}' GROUP BY 1$q$);

-- A BI view for each side: the same columns, from the jsonb.
CREATE VIEW pg_temp.bi_jsonb_p AS
SELECT s.id, s.facets_p, s.facets_p ->> 'length' AS length,
	s.facets_p ->> 'lang' AS lang, s.labels
FROM ftstore.samples s;
CREATE VIEW pg_temp.bi_jsonb_o AS
SELECT s.id, s.facets_o, s.facets_o ->> 'length' AS length,
	s.facets_o ->> 'lang' AS lang, s.labels
FROM ftstore.samples s;

CREATE FUNCTION pg_temp.query_text(q queries, side text) RETURNS text
LANGUAGE sql AS $$
SELECT CASE
	WHEN q.n = 9 THEN format(q.sql,
		CASE side WHEN 'sample' THEN 'ftstore.facets(sample)' ELSE side END, side)
	WHEN q.n = 10 THEN format(q.sql,
		CASE side WHEN 'sample' THEN 'ftstore.samples_facets_bi'
			WHEN 'facets_p' THEN 'pg_temp.bi_jsonb_p' ELSE 'pg_temp.bi_jsonb_o' END,
		side)
	ELSE format(q.sql, side)
END
$$;

CREATE TEMP TABLE timings (n int, side text, run int, ms float8, result text);
CREATE TEMP TABLE plans (n int, side text, index text);

CREATE FUNCTION pg_temp.measure(q queries, side text, runs int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	sql text := pg_temp.query_text(q, side);
	t0 timestamptz;
	res text;
	plan text := '';
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || sql LOOP
		plan := plan || line || E'\n';
	END LOOP;
	INSERT INTO plans VALUES (q.n, side, coalesce(
		(SELECT string_agg(DISTINCT m[1], ' + ')
		 FROM regexp_matches(plan, 'Index Scan on (\w+)', 'g') m), 'Seq Scan'));
	EXECUTE 'SELECT string_agg(t::text, '';'' ORDER BY t::text) FROM (' || sql || ') t'
		INTO res;	-- warm-up
	FOR r IN 1 .. runs LOOP
		t0 := clock_timestamp();
		EXECUTE 'SELECT string_agg(t::text, '';'' ORDER BY t::text) FROM (' || sql || ') t'
			INTO res;
		INSERT INTO timings VALUES (q.n, side, r,
			extract(epoch FROM clock_timestamp() - t0) * 1000, md5(res));
	END LOOP;
END;
$$;

-- Interleaved by query, so that the three sides see the same cache state.
SELECT pg_temp.measure(q, side, CASE WHEN q.n = 9 THEN greatest(:runs / 2, 1) ELSE :runs END)
FROM queries q, unnest(ARRAY['sample', 'facets_p', 'facets_o']) side
ORDER BY q.n, side;

\echo
\echo Median latency (ms) per query; ratio = ftsample / better jsonb index
WITH med AS (
	SELECT n, side, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms,
		count(DISTINCT result) AS results, min(result) AS result
	FROM timings GROUP BY n, side
)
SELECT q.n, q.name,
	round(a.ms::numeric, 2) AS ftsample_ms,
	round(p.ms::numeric, 2) AS path_ops_ms,
	round(o.ms::numeric, 2) AS jsonb_ops_ms,
	round((a.ms / least(p.ms, o.ms))::numeric, 2) AS ratio,
	(a.result = p.result AND a.result = o.result) AS same_answer,
	pa.index AS ftsample_plan, pp.index AS path_ops_plan, po.index AS jsonb_ops_plan
FROM queries q
JOIN med a ON a.n = q.n AND a.side = 'sample'
JOIN med p ON p.n = q.n AND p.side = 'facets_p'
JOIN med o ON o.n = q.n AND o.side = 'facets_o'
JOIN plans pa ON pa.n = q.n AND pa.side = 'sample'
JOIN plans pp ON pp.n = q.n AND pp.side = 'facets_p'
JOIN plans po ON po.n = q.n AND po.side = 'facets_o'
ORDER BY q.n;

\echo
\echo Index size and build time; ratio = ftsample / better jsonb index
SELECT 'size' AS figure,
	pg_size_pretty(a.bytes) AS ftsample, pg_size_pretty(p.bytes) AS path_ops,
	pg_size_pretty(o.bytes) AS jsonb_ops,
	round(a.bytes::numeric / least(p.bytes, o.bytes), 2) AS ratio
FROM builds a, builds p, builds o
WHERE a.index = 'samples_facets_idx' AND p.index = 'bench_path_ops_idx'
	AND o.index = 'bench_ops_idx'
UNION ALL
SELECT 'build_s',
	round(a.seconds::numeric, 2)::text, round(p.seconds::numeric, 2)::text,
	round(o.seconds::numeric, 2)::text,
	round((a.seconds / least(p.seconds, o.seconds))::numeric, 2)
FROM builds a, builds p, builds o
WHERE a.index = 'samples_facets_idx' AND p.index = 'bench_path_ops_idx'
	AND o.index = 'bench_ops_idx';
