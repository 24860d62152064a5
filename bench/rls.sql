-- rls.sql: what row-level security costs.  The same queries, timed as the
-- owner (a superuser, to whom no policy applies) and as a reader under
-- the policies, side by side in one run, with the ratio, and the reader's
-- plans to show that the indexes are still used.
--
--   psql -X -v n=1000000 -f bench/rls.sql      (n defaults to 1,000,000)
--
-- Run it in a database of its own, as a superuser: it creates the roles
-- (ftstore.create_roles) and one login-less role, bench_rls_reader, which
-- it drops again at the end, with the datasets it made.
--
-- The reader is granted all ten datasets the run fills, so that both sides
-- do the same work and the difference is the policies'; an eleventh
-- dataset of 1,000 samples is granted to nobody, so the policies have
-- rows to hide.  Each figure is the median of 11 runs, the owner's and the reader's
-- interleaved.

\set ON_ERROR_STOP on
\if :{?n}
\else
\set n 1000000
\endif
\pset pager off

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore;
SELECT ftstore.create_roles() \gset
DROP SCHEMA IF EXISTS bench_rls CASCADE;
DROP ROLE IF EXISTS bench_rls_reader;
DELETE FROM ftstore.datasets WHERE name LIKE 'bench\_rls\_%';
RESET client_min_messages;

CREATE ROLE bench_rls_reader IN ROLE ftstore_reader;
CREATE SCHEMA bench_rls;
GRANT USAGE ON SCHEMA bench_rls TO bench_rls_reader;

-- The samples: n records over ten datasets, 1% of them OpenAI chats (the
-- rest Alpaca), another 1% labelled split=test; then the hidden dataset.
\echo loading :n samples
SELECT count(ftstore.create_dataset('bench_rls_' || d)) AS datasets FROM generate_series(0, 10) d;
INSERT INTO ftstore.samples (dataset_id, sample, source, record, line, labels)
SELECT ftstore.dataset_id('bench_rls_' || (g % 10)),
	   CASE WHEN g % 100 = 50
			THEN format('{"messages": [{"role": "user", "content": "question %s"}, {"role": "assistant", "content": "answer %s"}]}',
						g, g % 100000)
			ELSE format('{"instruction": "question %s", "input": "", "output": "answer %s"}',
						g, g % 100000)
	   END::ftstore.ftsample,
	   'bench', g, g,
	   CASE WHEN g % 100 = 0 THEN '{"split": "test"}' ELSE '{}' END::jsonb
FROM generate_series(1, :n) g;
INSERT INTO ftstore.samples (dataset_id, sample, source, record, line)
SELECT ftstore.dataset_id('bench_rls_10'),
	   format('{"instruction": "hidden %s", "output": "x"}', g)::ftstore.ftsample,
	   'bench', g, g
FROM generate_series(1, 1000) g;
SELECT count(ftstore.grant('bench_rls_' || d, 'bench_rls_reader', 'read')) AS grants
FROM generate_series(0, 9) d;
VACUUM ANALYZE ftstore.samples;

-- Probes for the index queries: ids and fingerprints spread over the table.
CREATE TABLE bench_rls.probe AS
SELECT s.id, s.dataset_id, s.fingerprint
FROM ftstore.samples s TABLESAMPLE SYSTEM (1) REPEATABLE (42)
JOIN ftstore.datasets d ON d.id = s.dataset_id AND d.name <> 'bench_rls_10'
LIMIT 200;
ANALYZE bench_rls.probe;
GRANT SELECT ON bench_rls.probe TO bench_rls_reader;

CREATE TABLE bench_rls.query (ord int, name text, q text);
INSERT INTO bench_rls.query VALUES
(1, 'count by dataset',
 'SELECT dataset_id, count(*) FROM ftstore.samples GROUP BY dataset_id'),
(2, 'fetch 200 by id',
 'SELECT count(s.line) FROM bench_rls.probe p JOIN ftstore.samples s ON s.id = p.id'),
(3, 'fetch 200 by fingerprint, one by one',
 'SELECT count(s.line) FROM bench_rls.probe p, LATERAL (SELECT s.line FROM ftstore.samples s WHERE s.dataset_id = p.dataset_id AND s.fingerprint = p.fingerprint OFFSET 0) s'),
(4, 'facets @> (gin, leakproof)',
 'SELECT count(*) FROM ftstore.samples WHERE sample OPERATOR(ftstore.@>) ''{"format": "openai"}''::jsonb'),
(5, 'labels @> (gin, leakproof)',
 'SELECT count(*) FROM ftstore.samples WHERE labels OPERATOR(ftstore.@>) ''{"split": "test"}'''),
(6, 'labels @> (core, not leakproof)',
 'SELECT count(*) FROM ftstore.samples WHERE labels @> ''{"split": "test"}'''),
(7, 'filter on every row (seq scan)',
 'SELECT count(*) FROM ftstore.samples WHERE line % 7 = 3'),
(8, 'join 200 by fingerprint (no statistics)',
 'SELECT count(s.line) FROM bench_rls.probe p JOIN ftstore.samples s ON s.dataset_id = p.dataset_id AND s.fingerprint = p.fingerprint');
GRANT SELECT ON bench_rls.query TO bench_rls_reader;

-- Median milliseconds as the owner and as the reader, the two runs
-- interleaved (owner, reader, owner, ...) so that a machine busy with
-- something else slows both alike; 11 runs each after a warm-up of each.
CREATE FUNCTION bench_rls.compare(q text, OUT owner_ms float8, OUT reader_ms float8)
LANGUAGE plpgsql AS $$
DECLARE
	t0		timestamptz;
	o		float8[] := '{}';
	r		float8[] := '{}';
BEGIN
	EXECUTE q;
	SET LOCAL ROLE bench_rls_reader;
	EXECUTE q;
	RESET ROLE;
	FOR i IN 1..11 LOOP
		t0 := clock_timestamp();
		EXECUTE q;
		o := o || extract(epoch FROM clock_timestamp() - t0) * 1000;
		SET LOCAL ROLE bench_rls_reader;
		t0 := clock_timestamp();
		EXECUTE q;
		r := r || extract(epoch FROM clock_timestamp() - t0) * 1000;
		RESET ROLE;
	END LOOP;
	owner_ms := (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t) FROM unnest(o) t);
	reader_ms := (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t) FROM unnest(r) t);
END;
$$;

CREATE TABLE bench_rls.result AS
SELECT q.ord, c.owner_ms, c.reader_ms
FROM bench_rls.query q, LATERAL bench_rls.compare(q.q) c;

-- Both sides see the same rows but the hidden dataset's.
SELECT count(*) AS owner_sees FROM ftstore.samples;
SET ROLE bench_rls_reader;
SELECT count(*) AS reader_sees FROM ftstore.samples;
RESET ROLE;

\echo
\echo Median milliseconds, owner (no policy) and reader (policies), n = :n
SELECT q.ord, q.name,
	   round(r.owner_ms::numeric, 2) AS owner_ms,
	   round(r.reader_ms::numeric, 2) AS reader_ms,
	   round((r.reader_ms / nullif(r.owner_ms, 0))::numeric, 2) AS ratio
FROM bench_rls.query q
JOIN bench_rls.result r USING (ord)
ORDER BY q.ord;

-- The reader's plans: the policy is an init plan compared once per row, and
-- the indexes are still used, the policy's dataset_id = ANY (...) among
-- the index conditions where the index leads with dataset_id.
\echo
\echo Plans as the reader
SET ROLE bench_rls_reader;
SELECT q AS by_dataset FROM bench_rls.query WHERE ord = 1 \gset
EXPLAIN (COSTS OFF) :by_dataset;
SELECT q AS fetch_by_id FROM bench_rls.query WHERE ord = 2 \gset
EXPLAIN (COSTS OFF) :fetch_by_id;
SELECT q AS by_fingerprint FROM bench_rls.query WHERE ord = 3 \gset
EXPLAIN (COSTS OFF) :by_fingerprint;
SELECT q AS by_facets FROM bench_rls.query WHERE ord = 4 \gset
EXPLAIN (COSTS OFF) :by_facets;
SELECT q AS by_labels FROM bench_rls.query WHERE ord = 5 \gset
EXPLAIN (COSTS OFF) :by_labels;
SELECT q AS by_labels_core FROM bench_rls.query WHERE ord = 6 \gset
EXPLAIN (COSTS OFF) :by_labels_core;
SELECT q AS every_row FROM bench_rls.query WHERE ord = 7 \gset
EXPLAIN (COSTS OFF) :every_row;
SELECT q AS join_fingerprint FROM bench_rls.query WHERE ord = 8 \gset
EXPLAIN (COSTS OFF) :join_fingerprint;
RESET ROLE;
\echo
\echo Plans as the owner, for comparison
EXPLAIN (COSTS OFF) :by_dataset;
EXPLAIN (COSTS OFF) :by_labels;
EXPLAIN (COSTS OFF) :by_labels_core;

-- Clean up.
SET client_min_messages = warning;
DELETE FROM ftstore.datasets WHERE name LIKE 'bench\_rls\_%';
DROP SCHEMA bench_rls CASCADE;
DROP OWNED BY bench_rls_reader;
DROP ROLE bench_rls_reader;
