-- The cold tier's benchmark, run by scripts/bench.sh on its server: table
-- size before and after offload on mllm-style data scaled up, and read
-- throughput of blobs on cache hits, each beside a baseline from the same
-- run.  Variables: imgdir (the folder of mllm_demo.json's images), n (how
-- many samples).
--
-- The data: n samples shaped like mllm_demo.json's, each with an image of
-- its own (one of the demo's three JPEGs, with the sample's number
-- appended, so that no two are equal and none dedups away).
--   baseline: the same samples as jsonb, the image kept in the row as a
--             data: URL, base64 (how a row-only store keeps media)
--   ftstore:  ftsample rows referencing blobs, before and after offload
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET ftstore.blob_cache_size = '4GB';

DROP TABLE IF EXISTS bt_images, bt_baseline, bt_baseline_bytes, bt_times;
CREATE TABLE bt_times (what text PRIMARY KEY, seconds float8, bytes bigint);
CREATE TABLE bt_images AS
SELECT i, pg_read_binary_file(:'imgdir' || '/' || (1 + i % 3) || '.jpg')
		  || convert_to(i::text, 'UTF8') AS data
FROM generate_series(1, :n) i;

CREATE TABLE bt_baseline (id bigint PRIMARY KEY, doc jsonb);
INSERT INTO bt_baseline
SELECT i, jsonb_build_object(
	'messages', jsonb_build_array(
		jsonb_build_object('role', 'user', 'content', '<image>Who are they?'),
		jsonb_build_object('role', 'assistant', 'content', 'They are players on a field.')),
	'images', jsonb_build_array('data:image/jpeg;base64,' || encode(data, 'base64')))
FROM bt_images;
-- The bytes as a plain bytea column: the baseline of reads.
CREATE TABLE bt_baseline_bytes AS SELECT i, data FROM bt_images;
VACUUM ANALYZE bt_baseline, bt_baseline_bytes;

SELECT ftstore.create_dataset('bench_tier') IS NOT NULL AS created \gset
INSERT INTO ftstore.samples (dataset_id, sample, source, record)
SELECT ftstore.dataset_id('bench_tier'), ftstore.ftsample(jsonb_build_object(
	'messages', jsonb_build_array(
		jsonb_build_object('role', 'user', 'content', '<image>Who are they?'),
		jsonb_build_object('role', 'assistant', 'content', 'They are players on a field.')),
	'images', jsonb_build_array(ftstore.store_blob('bench_tier', data, 'image/jpeg')))),
	'bench', i
FROM bt_images;
VACUUM ANALYZE ftstore.samples, ftstore.blob_hot, ftstore.blob_catalog, ftstore.blob_refs;

-- What the store holds in the database for the dataset's samples and
-- blobs: every table involved, whole (heap, TOAST, indexes).
CREATE FUNCTION pg_temp.tier_size() RETURNS bigint LANGUAGE sql AS $$
SELECT pg_total_relation_size('ftstore.samples') + pg_total_relation_size('ftstore.blob_hot')
	 + pg_total_relation_size('ftstore.blob_catalog') + pg_total_relation_size('ftstore.blob_refs')
	 + pg_total_relation_size('ftstore.blob_claims')
$$;
INSERT INTO bt_times VALUES ('size_baseline', NULL, pg_total_relation_size('bt_baseline')),
	('size_ftstore_hot', NULL, pg_temp.tier_size());

SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT ftstore.offload('bench_tier') AS moved \gset
SELECT extract(epoch FROM clock_timestamp()) AS t1 \gset
INSERT INTO bt_times VALUES ('offload', :t1 - :t0, (SELECT sum(length(data)) FROM bt_images));
VACUUM FULL ftstore.blob_hot;
VACUUM ANALYZE ftstore.samples, ftstore.blob_catalog;
INSERT INTO bt_times VALUES ('size_ftstore_cold', NULL, pg_temp.tier_size());

-- Reads: the first pass fills the cache, the second is all cache hits.
SELECT sum(length(ftstore.blob(s.sample, 1))) AS warm FROM ftstore.samples s
WHERE s.dataset_id = ftstore.dataset_id('bench_tier') \gset
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT sum(length(ftstore.blob(s.sample, 1))) AS nbytes FROM ftstore.samples s
WHERE s.dataset_id = ftstore.dataset_id('bench_tier') \gset
SELECT extract(epoch FROM clock_timestamp()) AS t1 \gset
INSERT INTO bt_times VALUES ('read_ftstore_cache', :t1 - :t0, :nbytes);
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT sum(length(data || '\x00'::bytea) - 1) AS nbytes FROM bt_baseline_bytes \gset
SELECT extract(epoch FROM clock_timestamp()) AS t1 \gset
INSERT INTO bt_times VALUES ('read_baseline_bytea', :t1 - :t0, :nbytes);

\echo
\echo 'Cold tier (' :n 'mllm-style samples, one distinct JPEG each;' :moved 'blobs offloaded)'
SELECT 'table size, MB' AS figure,
	   round((SELECT bytes FROM bt_times WHERE what = 'size_baseline') / 1048576.0, 1) AS baseline,
	   round((SELECT bytes FROM bt_times WHERE what = 'size_ftstore_hot') / 1048576.0, 1) AS ftstore_hot,
	   round((SELECT bytes FROM bt_times WHERE what = 'size_ftstore_cold') / 1048576.0, 1) AS ftstore_offloaded,
	   round((SELECT bytes FROM bt_times WHERE what = 'size_ftstore_cold')::numeric
			 / (SELECT bytes FROM bt_times WHERE what = 'size_baseline'), 4) AS offloaded_over_baseline
UNION ALL
SELECT 'blob reads, MB/s', round((SELECT bytes / seconds FROM bt_times WHERE what = 'read_baseline_bytea')::numeric / 1048576, 1),
	   NULL,
	   round((SELECT bytes / seconds FROM bt_times WHERE what = 'read_ftstore_cache')::numeric / 1048576, 1),
	   round(((SELECT bytes / seconds FROM bt_times WHERE what = 'read_ftstore_cache')
			  / (SELECT bytes / seconds FROM bt_times WHERE what = 'read_baseline_bytea'))::numeric, 3);
\echo '(baseline: jsonb rows with the image inline as base64, and for reads a bytea column;'
\echo ' ftstore_offloaded reads are cache hits after one warming pass)'
SELECT round(seconds::numeric, 2) AS offload_seconds,
	   round((bytes / seconds / 1048576)::numeric, 1) AS offload_mb_per_s
FROM bt_times WHERE what = 'offload';

DROP TABLE bt_images, bt_baseline, bt_baseline_bytes, bt_times;
DELETE FROM ftstore.samples WHERE dataset_id = ftstore.dataset_id('bench_tier');
SET ftstore.collect_grace = 0;
SELECT * FROM ftstore.collect() \gset
