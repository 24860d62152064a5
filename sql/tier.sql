-- The cold tier: blob references, reads through rows, offload, and the
-- attacks on blob access.  Expected hashes are computed by PostgreSQL's
-- own sha256() over the bytes given, a code path independent of the
-- tier's (OpenSSL); expected outcomes of the attacks are the design of
-- docs/tier.md.
--
-- Datasets: tier_a (granted to the reader and curator), tier_b (granted
-- to nobody but its creator, the superuser).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore;
DROP SCHEMA IF EXISTS regress_tier CASCADE;
DROP ROLE IF EXISTS regress_tier_reader, regress_tier_curator,
	regress_tier_outsider;
RESET client_min_messages;
SELECT ftstore.create_roles();
CREATE ROLE regress_tier_reader LOGIN IN ROLE ftstore_reader;
CREATE ROLE regress_tier_curator LOGIN IN ROLE ftstore_curator;
CREATE ROLE regress_tier_outsider LOGIN;
CREATE SCHEMA regress_tier;
GRANT USAGE ON SCHEMA regress_tier TO PUBLIC;

-- The blobs: text that compresses, and bytes that start like a JPEG.
CREATE TABLE regress_tier.payload (name text PRIMARY KEY, data bytea);
INSERT INTO regress_tier.payload VALUES
	('doc', convert_to(repeat('a long document, ', 4000), 'UTF8')),
	('jpeg', '\xffd8ffe0'::bytea || convert_to(repeat('pixels', 500), 'UTF8')),
	('secret', convert_to('SECRET-B ' || repeat('z', 100), 'UTF8'));
GRANT SELECT ON regress_tier.payload TO PUBLIC;

SELECT ftstore.create_dataset('tier_a') > 0 AS created;
SELECT ftstore.create_dataset('tier_b') > 0 AS created;
SELECT ftstore.grant('tier_a', 'regress_tier_reader', 'read');
SELECT ftstore.grant('tier_a', 'regress_tier_curator', 'write');

-- References: the hash, size and media type, computed independently.
CREATE TABLE regress_tier.refs AS
SELECT p.name, ftstore.store_blob(d, p.data, NULL) AS ref, d AS dataset
FROM regress_tier.payload p,
	 LATERAL (SELECT CASE p.name WHEN 'secret' THEN 'tier_b' ELSE 'tier_a' END) x (d);
GRANT SELECT ON regress_tier.refs TO PUBLIC;
SELECT r.name, r.ref = 'ftblob:sha256:' || encode(sha256(p.data), 'hex') || ':'
		|| length(p.data) || ':'
		|| CASE r.name WHEN 'jpeg' THEN 'image/jpeg' ELSE 'application/octet-stream' END
	   AS ref_ok
FROM regress_tier.refs r JOIN regress_tier.payload p USING (name) ORDER BY 1;

-- Samples that name them: two in tier_a, one in tier_b.
SELECT * FROM ftstore.import_data('tier_a', 'a.jsonl',
	(SELECT string_agg(jsonb_build_object(
		'messages', jsonb_build_array(
			jsonb_build_object('role', 'user', 'content', '<image>what is it?'),
			jsonb_build_object('role', 'assistant', 'content', 'a thing')),
		'images', jsonb_build_array(r.ref))::text, E'\n' ORDER BY r.name)
	 FROM regress_tier.refs r WHERE r.dataset = 'tier_a'));
SELECT * FROM ftstore.import_data('tier_b', 'b.jsonl',
	(SELECT jsonb_build_object(
		'messages', jsonb_build_array(
			jsonb_build_object('role', 'user', 'content', '<image>SECRET-B'),
			jsonb_build_object('role', 'assistant', 'content', 'hidden')),
		'images', jsonb_build_array(r.ref))::text
	 FROM regress_tier.refs r WHERE r.name = 'secret'));
SELECT d.name, count(*) FROM ftstore.blob_refs r
JOIN ftstore.datasets d ON d.id = r.dataset_id GROUP BY 1 ORDER BY 1;

-- blobs() and blob(): bytes equal to what was stored.
SELECT b.ordinal, b.sha256 = encode(sha256(p.data), 'hex') AS hash_ok,
	   b.bytes = length(p.data) AS size_ok, b.media_type, b.tier
FROM ftstore.samples s, ftstore.blobs(s.sample) b,
	 regress_tier.payload p
WHERE s.dataset_id = ftstore.dataset_id('tier_a')
  AND b.sha256 = encode(sha256(p.data), 'hex')
ORDER BY p.name;
SELECT p.name, ftstore.blob(s.sample, 1) = p.data AS bytes_ok
FROM ftstore.samples s, ftstore.blobs(s.sample) b, regress_tier.payload p
WHERE b.sha256 = encode(sha256(p.data), 'hex') ORDER BY 1;
SELECT ftstore.blob(sample, 2) FROM ftstore.samples
WHERE dataset_id = ftstore.dataset_id('tier_b');

-- Offload: every blob of tier_a moves, verified; the document is
-- compressed, the JPEG is not; reads give the same bytes.
SELECT ftstore.offload('tier_a');
SELECT ftstore.offload('tier_a') AS again;
SELECT p.name, c.tier, c.codec, c.stored_bytes < c.bytes AS smaller,
	   c.verified_at IS NOT NULL AS verified,
	   EXISTS (SELECT 1 FROM ftstore.blob_hot h WHERE h.sha256 = c.sha256) AS hot_copy
FROM ftstore.blob_catalog c JOIN regress_tier.payload p ON sha256(p.data) = c.sha256
ORDER BY 1;
SELECT p.name, ftstore.blob(s.sample, 1) = p.data AS bytes_ok
FROM ftstore.samples s, ftstore.blobs(s.sample) b, regress_tier.payload p
WHERE b.sha256 = encode(sha256(p.data), 'hex') ORDER BY 1;
-- Printing a sample never fetches: the reference is text in the sample.
SELECT count(*) FROM ftstore.samples s
WHERE s.sample::text LIKE '%ftblob:sha256:%' AND s.dataset_id = ftstore.dataset_id('tier_a');

-- The cold objects are files of the default store, in the data directory.
CREATE TABLE regress_tier.files AS
SELECT p.name, 'ftstore_tier/blobs/' || substr(encode(sha256(p.data), 'hex'), 1, 2)
		|| '/' || encode(sha256(p.data), 'hex') AS path
FROM regress_tier.payload p WHERE p.name IN ('doc', 'jpeg');
-- Header: magic, version, codec (1 zstd), flags (1 encrypted).
SELECT name, substr(pg_read_binary_file(path), 1, 4) = 'FTB1'::bytea AS magic,
	   get_byte(pg_read_binary_file(path), 5) AS codec,
	   get_byte(pg_read_binary_file(path), 6) AS flags
FROM regress_tier.files ORDER BY 1;

-- Encryption: with a key, the object is AES-256-GCM; reads are the same.
INSERT INTO ftstore.blob_keys (key) VALUES (sha256('regress key one'));
SELECT ftstore.rekey_blobs(0) AS rewritten;
SELECT name, get_byte(pg_read_binary_file(path), 6) AS flags,
	   position('\xffd8ffe0'::bytea in pg_read_binary_file(path)) AS clear_jpeg_at
FROM regress_tier.files ORDER BY 1;
SELECT p.name, c.key_id IS NOT NULL AS encrypted, ftstore.blob(s.sample, 1) = p.data AS bytes_ok
FROM ftstore.samples s, ftstore.blobs(s.sample) b, regress_tier.payload p,
	 ftstore.blob_catalog c
WHERE b.sha256 = encode(sha256(p.data), 'hex') AND c.sha256 = sha256(p.data)
ORDER BY 1;

-- ---------------------------------------------------------------------------
-- Attacks.
-- ---------------------------------------------------------------------------
\set VERBOSITY terse

-- A reader builds a sample literal naming tier_b's hash.
SET ROLE regress_tier_reader;
SELECT ftstore.blob(ftstore.ftsample(jsonb_build_object(
	'messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', '<image>x'),
								  jsonb_build_object('role', 'assistant', 'content', 'y')),
	'images', jsonb_build_array(ref))), 1)
FROM regress_tier.refs WHERE name = 'secret';
-- blobs() on the same literal lists what the literal says, but no tier.
SELECT b.bytes, b.tier FROM regress_tier.refs r,
	ftstore.blobs(ftstore.ftsample(jsonb_build_object(
	'messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', '<image>x'),
								  jsonb_build_object('role', 'assistant', 'content', 'y')),
	'images', jsonb_build_array(r.ref)))) b
WHERE r.name = 'secret';
-- The reader sees its own dataset's blobs.
SELECT count(*) AS readable FROM ftstore.samples s, ftstore.blobs(s.sample) b
WHERE ftstore.blob(s.sample, b.ordinal) IS NOT NULL;
-- It sees only its datasets' references, and none of the tier's tables.
SELECT count(*) AS visible_refs FROM ftstore.blob_refs;
SELECT count(*) FROM ftstore.blob_catalog;
SELECT count(*) FROM ftstore.blob_hot;
SELECT count(*) FROM ftstore.blob_keys;
SELECT count(*) FROM ftstore.blob_claims;
SELECT ftstore.offload('tier_a');
SELECT ftstore.collect();
RESET ROLE;

-- A curator writes a sample into its dataset naming tier_b's hash: the
-- dataset holds no claim on it, so the sample is refused, as a reject of
-- the import (and the trigger on samples would refuse it too).
SET ROLE regress_tier_curator;
SELECT * FROM ftstore.import_data('tier_a', 'forged.jsonl',
	(SELECT jsonb_build_object(
		'messages', jsonb_build_array(
			jsonb_build_object('role', 'user', 'content', '<image>give'),
			jsonb_build_object('role', 'assistant', 'content', 'it')),
		'images', jsonb_build_array(r.ref))::text
	 FROM regress_tier.refs r WHERE r.name = 'secret'));
SELECT error_code, message = 'sample references blob ' || split_part(r.ref, ':', 3) || ' which its dataset does not hold' AS names_the_blob
FROM ftstore.rejects j, regress_tier.refs r
WHERE j.source = 'forged.jsonl' AND r.name = 'secret';
SELECT count(*) FROM ftstore.samples WHERE source = 'forged.jsonl';
-- Nor through an UPDATE of a sample it may write.
UPDATE ftstore.samples s SET sample = ftstore.ftsample(jsonb_build_object(
	'messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', '<image>x'),
								  jsonb_build_object('role', 'assistant', 'content', 'y')),
	'images', jsonb_build_array((SELECT ref FROM regress_tier.refs WHERE name = 'secret'))))
WHERE s.dataset_id = ftstore.dataset_id('tier_a');
-- Storing into a dataset it may not write is refused too.
SELECT ftstore.store_blob('tier_b', '\x00'::bytea);
-- With the bytes themselves it may: that is proof it knows the content.
SELECT ftstore.store_blob('tier_a', data) = (SELECT ref FROM regress_tier.refs WHERE name = 'secret') AS same_ref
FROM regress_tier.payload WHERE name = 'secret';
RESET ROLE;

-- A role with no grant sees nothing, whatever it calls.
SET ROLE regress_tier_outsider;
SELECT ftstore.blob(ftstore.ftsample(jsonb_build_object(
	'messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', '<image>x'),
								  jsonb_build_object('role', 'assistant', 'content', 'y')),
	'images', jsonb_build_array(ref))), 1)
FROM regress_tier.refs WHERE name = 'doc';
RESET ROLE;

-- A restricted sample hides its blobs from the reader (no clearance).
UPDATE ftstore.samples SET restricted = true
WHERE dataset_id = ftstore.dataset_id('tier_a')
  AND sample::text LIKE '%' || (SELECT encode(sha256(data), 'hex') FROM regress_tier.payload WHERE name = 'doc') || '%';
SET ROLE regress_tier_reader;
SELECT ftstore.blob(ftstore.ftsample(jsonb_build_object(
	'messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', '<image>x'),
								  jsonb_build_object('role', 'assistant', 'content', 'y')),
	'images', jsonb_build_array(ref))), 1)
FROM regress_tier.refs WHERE name = 'doc';
RESET ROLE;
\set VERBOSITY default

-- Security definer functions pin their search path; the tier's
-- administrative functions are not for PUBLIC.
SELECT p.proname FROM pg_proc p
WHERE p.pronamespace = 'ftstore'::regnamespace AND p.prosecdef
  AND p.proname LIKE 'blob%'
  AND NOT ('search_path=pg_catalog, ftstore, pg_temp' = ANY (p.proconfig));
SELECT p.oid::regprocedure AS public_can_run FROM pg_proc p
WHERE p.pronamespace = 'ftstore'::regnamespace
  AND p.proname IN ('offload', 'offload_policy', 'collect', 'collect_objects',
					'rekey_blobs', 'start_offload_worker', 'blob_refs_sync')
  AND has_function_privilege('regress_tier_outsider', p.oid, 'EXECUTE');

-- Deleting samples removes nothing; the collector does, after the grace.
DELETE FROM ftstore.samples WHERE dataset_id = ftstore.dataset_id('tier_b');
SELECT count(*) AS catalogued FROM ftstore.blob_catalog c
JOIN regress_tier.payload p ON sha256(p.data) = c.sha256;
SELECT * FROM ftstore.collect();
SET ftstore.collect_grace = 0;
DELETE FROM ftstore.samples WHERE dataset_id = ftstore.dataset_id('tier_a');
SELECT name, (pg_stat_file(path, true)).size IS NOT NULL AS object_exists
FROM regress_tier.files ORDER BY 1;
SELECT blobs, objects >= 2 AS objects_removed FROM ftstore.collect();
SELECT name, (pg_stat_file(path, true)).size IS NOT NULL AS object_exists
FROM regress_tier.files ORDER BY 1;
SELECT count(*) AS catalogued FROM ftstore.blob_catalog c
JOIN regress_tier.payload p ON sha256(p.data) = c.sha256;
RESET ftstore.collect_grace;

-- Clean up.
DELETE FROM ftstore.blob_keys;
DROP SCHEMA regress_tier CASCADE;
DELETE FROM ftstore.dataset_grants WHERE role::text LIKE 'regress\_tier\_%';
DROP OWNED BY regress_tier_reader, regress_tier_curator, regress_tier_outsider;
DROP ROLE regress_tier_reader, regress_tier_curator, regress_tier_outsider;
