-- Row-level security, grants, restricted data and the audit trail, attacked
-- from every role.  The expectations are the design of docs/security.md,
-- written out by hand below (regress_sec.expect), not copied from output:
-- the matrix prints only the cells where the outcome differs, so its
-- expected output is an empty result and a count of the cells checked.
--
-- Datasets made here (the other tests' datasets are never granted, so no
-- role below sees them):
--   sec_a       created by the admin: 4 samples, one restricted, and 1 reject
--   sec_b       2 samples; the curator may read them
--   sec_hidden  2 samples, granted to nobody
--   sec_r       restricted dataset: 1 sample, 1 reject
-- Grants: reader read sec_a, sec_r (no clearance); curator write sec_a,
-- read sec_b, read and clearance sec_r; admin admin sec_a (as creator).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ftstore;
DROP SCHEMA IF EXISTS regress_sec CASCADE;
DROP ROLE IF EXISTS regress_sec_reader, regress_sec_curator, regress_sec_admin,
	regress_sec_auditor, regress_sec_nogrant, regress_sec_outsider,
	regress_sec_owner;
RESET client_min_messages;

-- The roles: twice, as it must be repeatable.
SELECT ftstore.create_roles();
SELECT ftstore.create_roles();
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'ftstore\_%' ORDER BY 1;

CREATE ROLE regress_sec_reader LOGIN IN ROLE ftstore_reader;
CREATE ROLE regress_sec_curator LOGIN IN ROLE ftstore_curator;
CREATE ROLE regress_sec_admin LOGIN IN ROLE ftstore_admin;
CREATE ROLE regress_sec_auditor LOGIN IN ROLE ftstore_auditor;
CREATE ROLE regress_sec_nogrant LOGIN IN ROLE ftstore_reader;
CREATE ROLE regress_sec_outsider LOGIN;

-- A scratch schema every role may use, for the attacks.
CREATE SCHEMA regress_sec;
GRANT USAGE, CREATE ON SCHEMA regress_sec TO PUBLIC;

-- The data.  s4 of sec_a has the text of s3 and is restricted.
SET ROLE regress_sec_admin;
SELECT ftstore.create_dataset('sec_a') > 0 AS created;
SELECT * FROM ftstore.import_data('sec_a', 'a.jsonl',
E'{"instruction": "add 1 and 1", "output": "2"}\n'
 '{"instruction": "add 1 and 1", "output": "2"}\n'
 '{"instruction": "name a colour", "output": "blue"}\n'
 '{"instruction": "name a colour", "output": "blue"}\n'
 'not json\n');
SELECT ftstore.grant('sec_a', 'regress_sec_reader', 'read');
SELECT ftstore.grant('sec_a', 'regress_sec_curator', 'write');
SELECT ftstore.grant('sec_a', 'regress_sec_curator', 'write') AS granted_again;
RESET ROLE;
UPDATE ftstore.samples SET restricted = true, source = 'SECRET-A4'
WHERE dataset_id = ftstore.dataset_id('sec_a') AND record = 4;

SELECT * FROM ftstore.import_data('sec_b', 'b.jsonl',
E'{"instruction": "add 1 and 1", "output": "2"}\n'
 '{"instruction": "say hi", "output": "hi"}\n');
SELECT * FROM ftstore.import_data('sec_hidden', 'HIDDEN-source.jsonl',
E'{"instruction": "HIDDEN-1", "output": "HIDDEN-1"}\n'
 '{"instruction": "add 1 and 1", "output": "2"}\n');
SELECT * FROM ftstore.import_data('sec_r', 'r.jsonl',
E'{"instruction": "SECRET-R1", "output": "x"}\n'
 '{"instruction": "SECRET-R2"\n');
UPDATE ftstore.datasets SET restricted = true WHERE name = 'sec_r';
SELECT ftstore.grant('sec_b', 'regress_sec_curator', 'read');
SELECT ftstore.grant('sec_r', 'regress_sec_curator', 'read');
SELECT ftstore.grant('sec_r', 'regress_sec_curator', 'clearance');
SELECT ftstore.grant('sec_r', 'regress_sec_reader', 'read');

-- ---------------------------------------------------------------------------
-- The matrix: every role against every table and view.
-- ---------------------------------------------------------------------------

-- Runs a statement and undoes it: 'ok N' (rows returned or changed) or the
-- SQLSTATE it failed with.
CREATE FUNCTION regress_sec.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	n		bigint;
	state	text;
BEGIN
	BEGIN
		EXECUTE stmt;
		GET DIAGNOSTICS n = ROW_COUNT;
		RAISE EXCEPTION USING ERRCODE = 'P0999', MESSAGE = n::text;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
		IF state = 'P0999' THEN
			GET STACKED DIAGNOSTICS state = MESSAGE_TEXT;
			RETURN 'ok ' || state;
		END IF;
		RETURN state;
	END;
END;
$$;

CREATE TABLE regress_sec.stmts (obj text, op text, stmt text);
GRANT SELECT ON regress_sec.stmts TO PUBLIC;
INSERT INTO regress_sec.stmts
SELECT o.obj, x.op, format(x.stmt, o.obj, a.id)
FROM (VALUES ('datasets'), ('samples'), ('rejects'), ('imports'),
			 ('dataset_grants'), ('audit_log'), ('samples_bi'), ('rejects_bi'),
			 ('imports_bi'), ('duplicate_groups'), ('dataset_stats'),
			 ('samples_facets_bi'), ('blob_catalog'), ('blob_hot'),
			 ('blob_claims'), ('blob_refs'), ('blob_keys'),
			 ('duplicates')) o (obj),
	 (SELECT id FROM ftstore.datasets WHERE name = 'sec_a') a,
	 (VALUES ('select', 'SELECT * FROM ftstore.%1$s'),
			 ('truncate', 'TRUNCATE ftstore.%1$s')) x (op, stmt)
UNION ALL
SELECT t.obj, t.op, format(t.stmt, a.id)
FROM (SELECT id FROM ftstore.datasets WHERE name = 'sec_a') a,
	 (VALUES
	  ('datasets', 'insert', 'INSERT INTO ftstore.datasets (name) VALUES (''sec_new'')'),
	  ('datasets', 'update', 'UPDATE ftstore.datasets SET description = ''x'' WHERE name LIKE ''sec\_%%'''),
	  ('datasets', 'delete', 'DELETE FROM ftstore.datasets WHERE name LIKE ''sec\_%%'''),
	  ('samples', 'insert', 'INSERT INTO ftstore.samples (dataset_id, sample, source, record, line) VALUES (%1$s, ''{"instruction": "m", "output": "m"}'', ''m'', 1, 1)'),
	  ('samples', 'update', 'UPDATE ftstore.samples SET labels = ''{"m": 1}'' WHERE dataset_id = %1$s'),
	  ('samples', 'delete', 'DELETE FROM ftstore.samples WHERE dataset_id = %1$s'),
	  ('rejects', 'insert', 'INSERT INTO ftstore.rejects (dataset_id, source, record, line, raw, error_code, message) VALUES (%1$s, ''m'', 1, 1, ''x'', ''22P02'', ''m'')'),
	  ('rejects', 'update', 'UPDATE ftstore.rejects SET message = ''m'' WHERE dataset_id = %1$s'),
	  ('rejects', 'delete', 'DELETE FROM ftstore.rejects WHERE dataset_id = %1$s'),
	  ('imports', 'insert', 'INSERT INTO ftstore.imports (dataset_id, source, format, records_read, imported, rejected, skipped, started_at) VALUES (%1$s, ''m'', ''jsonl'', 0, 0, 0, 0, now())'),
	  ('imports', 'update', 'UPDATE ftstore.imports SET source = ''m'' WHERE dataset_id = %1$s'),
	  ('imports', 'delete', 'DELETE FROM ftstore.imports WHERE dataset_id = %1$s'),
	  ('dataset_grants', 'insert', 'INSERT INTO ftstore.dataset_grants (dataset_id, role, privilege, granted_by) VALUES (%1$s, ''regress_sec_nogrant'', ''read'', ''x'')'),
	  ('dataset_grants', 'update', 'UPDATE ftstore.dataset_grants SET privilege = ''admin'''),
	  ('dataset_grants', 'delete', 'DELETE FROM ftstore.dataset_grants'),
	  ('audit_log', 'insert', 'INSERT INTO ftstore.audit_log (actor, action) VALUES (''x'', ''forged'')'),
	  ('audit_log', 'update', 'UPDATE ftstore.audit_log SET actor = ''x'''),
	  ('audit_log', 'delete', 'DELETE FROM ftstore.audit_log'),
	  ('blob_catalog', 'insert', 'INSERT INTO ftstore.blob_catalog (sha256, bytes, media_type) VALUES (sha256(''m''), 1, ''text/plain'')'),
	  ('blob_catalog', 'update', 'UPDATE ftstore.blob_catalog SET tier = ''cold'''),
	  ('blob_catalog', 'delete', 'DELETE FROM ftstore.blob_catalog'),
	  ('blob_hot', 'insert', 'INSERT INTO ftstore.blob_hot (sha256, data) VALUES (sha256(''m''), ''m'')'),
	  ('blob_hot', 'update', 'UPDATE ftstore.blob_hot SET data = ''m'''),
	  ('blob_hot', 'delete', 'DELETE FROM ftstore.blob_hot'),
	  ('blob_claims', 'insert', 'INSERT INTO ftstore.blob_claims (dataset_id, sha256) VALUES (%1$s, sha256(''m''))'),
	  ('blob_claims', 'update', 'UPDATE ftstore.blob_claims SET dataset_id = %1$s'),
	  ('blob_claims', 'delete', 'DELETE FROM ftstore.blob_claims'),
	  ('blob_refs', 'insert', 'INSERT INTO ftstore.blob_refs (sample_id, ordinal, dataset_id, sha256) VALUES (1, 1, %1$s, sha256(''m''))'),
	  ('blob_refs', 'update', 'UPDATE ftstore.blob_refs SET ordinal = 2'),
	  ('blob_refs', 'delete', 'DELETE FROM ftstore.blob_refs'),
	  ('blob_keys', 'insert', 'INSERT INTO ftstore.blob_keys (key) VALUES (sha256(''m''))'),
	  ('blob_keys', 'update', 'UPDATE ftstore.blob_keys SET retired = true'),
	  ('blob_keys', 'delete', 'DELETE FROM ftstore.blob_keys'),
	  ('duplicates', 'insert', 'INSERT INTO ftstore.duplicates (dataset_id, sample_id, restricted, duplicate_of) VALUES (%1$s, 1, false, 2)'),
	  ('duplicates', 'update', 'UPDATE ftstore.duplicates SET duplicate_of = 1'),
	  ('duplicates', 'delete', 'DELETE FROM ftstore.duplicates')
	 ) t (obj, op, stmt);

-- What each role may do, from the design.  'ok N' gives the rows it sees
-- or changes; the audit log and the statistics are 'ok' with any count,
-- since the other tests write them too.
CREATE TABLE regress_sec.expect (who text, obj text, sel text, ins text,
								 upd text, del text, trunc text);
GRANT SELECT ON regress_sec.expect TO PUBLIC;
INSERT INTO regress_sec.expect VALUES
-- reader: sec_a (3 of 4 samples: s4 is restricted) and sec_r (restricted: nothing)
('reader',   'datasets',        'ok 2', '42501', '42501', '42501', '42501'),
('reader',   'samples',         'ok 3', '42501', '42501', '42501', '42501'),
('reader',   'rejects',         'ok 1', '42501', '42501', '42501', '42501'),
('reader',   'imports',         'ok 1', '42501', '42501', '42501', '42501'),
('reader',   'dataset_grants',  'ok 2', '42501', '42501', '42501', '42501'),
('reader',   'audit_log',       '42501', '42501', '42501', '42501', '42501'),
('reader',   'samples_bi',      'ok 3', NULL, NULL, NULL, '42809'),
('reader',   'rejects_bi',      'ok 1', NULL, NULL, NULL, '42809'),
('reader',   'imports_bi',      'ok 1', NULL, NULL, NULL, '42809'),
('reader',   'duplicate_groups', 'ok 1', NULL, NULL, NULL, '42809'),
('reader',   'samples_facets_bi', 'ok 3', NULL, NULL, NULL, '42809'),
('reader',   'dataset_stats',   '42501', NULL, NULL, NULL, '42809'),
-- the cold tier: references are read through the samples' policies;
-- the other tables only through the tier's functions
('reader',   'blob_catalog',   '42501', '42501', '42501', '42501', '42501'),
('reader',   'blob_hot',       '42501', '42501', '42501', '42501', '42501'),
('reader',   'blob_claims',    '42501', '42501', '42501', '42501', '42501'),
('reader',   'blob_keys',      '42501', '42501', '42501', '42501', '42501'),
('reader',   'blob_refs',       'ok 0', '42501', '42501', '42501', '42501'),
-- the marks: seen with their samples, written by dedup_exact only
('reader',   'duplicates',     'ok 0', '42501', '42501', '42501', '42501'),
-- curator: writes sec_a (3 visible), reads sec_b (2) and sec_r (cleared: 1)
('curator',  'datasets',        'ok 3', '42501', '42501', '42501', '42501'),
('curator',  'samples',         'ok 6', 'ok 1', 'ok 3', 'ok 3', '42501'),
('curator',  'rejects',         'ok 2', 'ok 1', '42501', 'ok 1', '42501'),
('curator',  'imports',         'ok 3', 'ok 1', '42501', '42501', '42501'),
('curator',  'dataset_grants',  'ok 4', '42501', '42501', '42501', '42501'),
('curator',  'audit_log',       '42501', '42501', '42501', '42501', '42501'),
('curator',  'samples_bi',      'ok 6', NULL, NULL, NULL, '42809'),
('curator',  'rejects_bi',      'ok 2', NULL, NULL, NULL, '42809'),
('curator',  'imports_bi',      'ok 3', NULL, NULL, NULL, '42809'),
('curator',  'duplicate_groups', 'ok 1', NULL, NULL, NULL, '42809'),
('curator',  'samples_facets_bi', 'ok 6', NULL, NULL, NULL, '42809'),
('curator',  'dataset_stats',   '42501', NULL, NULL, NULL, '42809'),
-- the cold tier: references are read through the samples' policies;
-- the other tables only through the tier's functions
('curator',  'blob_catalog',   '42501', '42501', '42501', '42501', '42501'),
('curator',  'blob_hot',       '42501', '42501', '42501', '42501', '42501'),
('curator',  'blob_claims',    '42501', '42501', '42501', '42501', '42501'),
('curator',  'blob_keys',      '42501', '42501', '42501', '42501', '42501'),
('curator',  'blob_refs',       'ok 0', '42501', '42501', '42501', '42501'),
-- the marks: seen with their samples, written by dedup_exact only
('curator',  'duplicates',     'ok 0', '42501', '42501', '42501', '42501'),
-- admin: administers sec_a only, without clearance
('admin',    'datasets',        'ok 1', '42501', 'ok 1', 'ok 1', '42501'),
('admin',    'samples',         'ok 3', 'ok 1', 'ok 3', 'ok 3', '42501'),
('admin',    'rejects',         'ok 1', 'ok 1', '42501', 'ok 1', '42501'),
('admin',    'imports',         'ok 1', 'ok 1', '42501', '42501', '42501'),
('admin',    'dataset_grants',  'ok 1', '42501', '42501', '42501', '42501'),
('admin',    'audit_log',       '42501', '42501', '42501', '42501', '42501'),
('admin',    'samples_bi',      'ok 3', NULL, NULL, NULL, '42809'),
('admin',    'rejects_bi',      'ok 1', NULL, NULL, NULL, '42809'),
('admin',    'imports_bi',      'ok 1', NULL, NULL, NULL, '42809'),
('admin',    'duplicate_groups', 'ok 1', NULL, NULL, NULL, '42809'),
('admin',    'samples_facets_bi', 'ok 3', NULL, NULL, NULL, '42809'),
('admin',    'dataset_stats',   '42501', NULL, NULL, NULL, '42809'),
-- the cold tier: references are read through the samples' policies;
-- the other tables only through the tier's functions
('admin',    'blob_catalog',   '42501', '42501', '42501', '42501', '42501'),
('admin',    'blob_hot',       '42501', '42501', '42501', '42501', '42501'),
('admin',    'blob_claims',    '42501', '42501', '42501', '42501', '42501'),
('admin',    'blob_keys',      '42501', '42501', '42501', '42501', '42501'),
('admin',    'blob_refs',       'ok 0', '42501', '42501', '42501', '42501'),
-- the marks: seen with their samples, written by dedup_exact only
('admin',    'duplicates',     'ok 0', '42501', '42501', '42501', '42501'),
-- auditor: the log and the statistics only
('auditor',  'datasets',        '42501', '42501', '42501', '42501', '42501'),
('auditor',  'samples',         '42501', '42501', '42501', '42501', '42501'),
('auditor',  'rejects',         '42501', '42501', '42501', '42501', '42501'),
('auditor',  'imports',         '42501', '42501', '42501', '42501', '42501'),
('auditor',  'dataset_grants',  '42501', '42501', '42501', '42501', '42501'),
('auditor',  'audit_log',       'ok', '42501', '42501', '42501', '42501'),
('auditor',  'samples_bi',      '42501', NULL, NULL, NULL, '42809'),
('auditor',  'rejects_bi',      '42501', NULL, NULL, NULL, '42809'),
('auditor',  'imports_bi',      '42501', NULL, NULL, NULL, '42809'),
('auditor',  'duplicate_groups', '42501', NULL, NULL, NULL, '42809'),
('auditor',  'samples_facets_bi', '42501', NULL, NULL, NULL, '42809'),
('auditor',  'dataset_stats',   'ok', NULL, NULL, NULL, '42809'),
-- the cold tier: references are read through the samples' policies;
-- the other tables only through the tier's functions
('auditor',  'blob_catalog',   '42501', '42501', '42501', '42501', '42501'),
('auditor',  'blob_hot',       '42501', '42501', '42501', '42501', '42501'),
('auditor',  'blob_claims',    '42501', '42501', '42501', '42501', '42501'),
('auditor',  'blob_keys',      '42501', '42501', '42501', '42501', '42501'),
('auditor',  'blob_refs',       '42501', '42501', '42501', '42501', '42501'),
-- the marks: seen with their samples, written by dedup_exact only
('auditor',  'duplicates',     '42501', '42501', '42501', '42501', '42501'),
-- nogrant: a reader without a dataset grant sees nothing
('nogrant',  'datasets',        'ok 0', '42501', '42501', '42501', '42501'),
('nogrant',  'samples',         'ok 0', '42501', '42501', '42501', '42501'),
('nogrant',  'rejects',         'ok 0', '42501', '42501', '42501', '42501'),
('nogrant',  'imports',         'ok 0', '42501', '42501', '42501', '42501'),
('nogrant',  'dataset_grants',  'ok 0', '42501', '42501', '42501', '42501'),
('nogrant',  'audit_log',       '42501', '42501', '42501', '42501', '42501'),
('nogrant',  'samples_bi',      'ok 0', NULL, NULL, NULL, '42809'),
('nogrant',  'rejects_bi',      'ok 0', NULL, NULL, NULL, '42809'),
('nogrant',  'imports_bi',      'ok 0', NULL, NULL, NULL, '42809'),
('nogrant',  'duplicate_groups', 'ok 0', NULL, NULL, NULL, '42809'),
('nogrant',  'samples_facets_bi', 'ok 0', NULL, NULL, NULL, '42809'),
('nogrant',  'dataset_stats',   '42501', NULL, NULL, NULL, '42809'),
-- the cold tier: references are read through the samples' policies;
-- the other tables only through the tier's functions
('nogrant',  'blob_catalog',   '42501', '42501', '42501', '42501', '42501'),
('nogrant',  'blob_hot',       '42501', '42501', '42501', '42501', '42501'),
('nogrant',  'blob_claims',    '42501', '42501', '42501', '42501', '42501'),
('nogrant',  'blob_keys',      '42501', '42501', '42501', '42501', '42501'),
('nogrant',  'blob_refs',       'ok 0', '42501', '42501', '42501', '42501'),
-- the marks: seen with their samples, written by dedup_exact only
('nogrant',  'duplicates',     'ok 0', '42501', '42501', '42501', '42501');
-- outsider: no ftstore role, not even the schema
INSERT INTO regress_sec.expect
SELECT 'outsider', obj, '42501', '42501', '42501', '42501', '42501'
FROM regress_sec.expect WHERE who = 'reader';
UPDATE regress_sec.expect SET ins = NULL, upd = NULL, del = NULL
WHERE who = 'outsider' AND obj IN ('samples_bi', 'rejects_bi', 'imports_bi',
								   'duplicate_groups', 'dataset_stats',
								   'samples_facets_bi');

-- Every table and view of the schema is in the matrix, for every role: a
-- relation added later fails here until its expected outcomes are written.
SELECT c.relname AS not_in_matrix
FROM pg_class c
WHERE c.relnamespace = 'ftstore'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND (SELECT count(DISTINCT e.who) FROM regress_sec.expect e
	   WHERE e.obj = c.relname) <> 6
ORDER BY 1;

CREATE TABLE regress_sec.got (who text, obj text, op text, outcome text);
GRANT INSERT ON regress_sec.got TO PUBLIC;

CREATE FUNCTION regress_sec.run_matrix(who text) RETURNS void
LANGUAGE sql AS $$
INSERT INTO regress_sec.got
SELECT who, s.obj, s.op, regress_sec.try(s.stmt) FROM regress_sec.stmts s
$$;

SET ROLE regress_sec_reader;   SELECT regress_sec.run_matrix('reader');
SET ROLE regress_sec_curator;  SELECT regress_sec.run_matrix('curator');
SET ROLE regress_sec_admin;    SELECT regress_sec.run_matrix('admin');
SET ROLE regress_sec_auditor;  SELECT regress_sec.run_matrix('auditor');
SET ROLE regress_sec_nogrant;  SELECT regress_sec.run_matrix('nogrant');
SET ROLE regress_sec_outsider; SELECT regress_sec.run_matrix('outsider');
RESET ROLE;

-- Cells that differ from the design: none.
WITH want AS (
	SELECT e.who, e.obj, x.op, x.outcome
	FROM regress_sec.expect e,
		 LATERAL (VALUES ('select', e.sel), ('insert', e.ins), ('update', e.upd),
						 ('delete', e.del), ('truncate', e.trunc)) x (op, outcome)
	WHERE x.outcome IS NOT NULL
)
SELECT w.who, w.obj, w.op, w.outcome AS expected, g.outcome AS got
FROM want w
LEFT JOIN regress_sec.got g USING (who, obj, op)
WHERE g.outcome IS NULL
   OR NOT (g.outcome = w.outcome OR (w.outcome = 'ok' AND g.outcome LIKE 'ok %'))
ORDER BY 1, 2, 3;
SELECT count(*) AS cells_checked FROM regress_sec.got;

-- ---------------------------------------------------------------------------
-- The functions, role by role.
-- ---------------------------------------------------------------------------

-- fn names the function each call exercises, so that the check after the
-- calls can tell which functions no call covers.
CREATE TABLE regress_sec.calls (ord int, fn text, stmt text);
GRANT SELECT ON regress_sec.calls TO PUBLIC;
INSERT INTO regress_sec.calls VALUES
(1, 'ftstore.import_data(text,text,text,text,jsonb)', $$SELECT * FROM ftstore.import_data('sec_a', 'f.jsonl', '{"instruction": "f", "output": "f"}')$$),
(2, NULL, $$SELECT * FROM ftstore.import_data('sec_b', 'f.jsonl', '{"instruction": "f", "output": "f"}')$$),
(3, NULL, $$SELECT * FROM ftstore.import_data('sec_new', 'f.jsonl', '{"instruction": "f", "output": "f"}')$$),
(4, 'ftstore.import_file(text,text,text,jsonb)', $$SELECT * FROM ftstore.import_file('sec_a', '/etc/hostname')$$),
(5, 'ftstore.export(text,text,boolean)', $$SELECT * FROM ftstore.export('sec_a')$$),
(6, NULL, $$SELECT * FROM ftstore.export('sec_hidden')$$),
(7, 'ftstore.export_audited(text,text,boolean)', $$SELECT * FROM ftstore.export_audited('sec_a')$$),
(8, 'ftstore.export_file(text,text,text,text,boolean)', $$SELECT ftstore.export_file('sec_a', '/tmp/regress_sec_x.jsonl')$$),
(9, 'ftstore.dedup_exact(text)', $$SELECT ftstore.dedup_exact('sec_a')$$),
(10, 'ftstore.report(text)', $$SELECT * FROM ftstore.report('sec_a')$$),
(11, 'ftstore.dataset_id(text,boolean)', $$SELECT ftstore.dataset_id('sec_hidden')$$),
(12, 'ftstore.create_dataset(text,text,boolean)', $$SELECT ftstore.create_dataset('sec_new')$$),
(13, 'ftstore."grant"(text,name,text)', $$SELECT ftstore.grant('sec_a', 'regress_sec_nogrant', 'read')$$),
(14, NULL, $$SELECT ftstore.grant('sec_b', 'regress_sec_nogrant', 'read')$$),
(15, NULL, $$SELECT ftstore.grant('sec_nope', 'regress_sec_nogrant', 'read')$$),
(16, 'ftstore.revoke(text,name,text)', $$SELECT ftstore.revoke('sec_a', 'regress_sec_reader', 'read')$$),
(17, 'ftstore.grants(text)', $$SELECT * FROM ftstore.grants('sec_a')$$),
(18, 'ftstore.create_roles()', $$SELECT ftstore.create_roles()$$),
(19, 'ftstore.read_records(text)', $$SELECT * FROM ftstore.read_records('/etc/hostname')$$),
(20, 'ftstore.log_export(text,text,bigint)', $$SELECT ftstore.log_export('sec_hidden', 'openai', 0)$$),
(21, 'ftstore.can_access(integer,text)', $$SELECT ftstore.can_access(1, 'read')$$),
(22, 'ftstore.forget_dropped_roles()', $$SELECT ftstore.forget_dropped_roles()$$),
(23, 'ftstore.label(text,jsonb,jsonb)', $$SELECT ftstore.label('sec_a', NULL, '{"m": 1}')$$),
(24, 'ftstore.import_data(text,text,bytea,text,jsonb)', $$SELECT * FROM ftstore.import_data('sec_a', 'g.jsonl', convert_to('{"instruction": "g", "output": "g"}', 'UTF8'))$$),
-- One row per visible sample of sec_a: the format facet counts each once.
(25, 'ftstore.facet_summary(text)', $$SELECT * FROM ftstore.facet_summary('sec_a') f, generate_series(1, f.samples::integer) WHERE f.facet = 'format'$$),
(26, 'ftstore.unlabel(text,jsonb,text[])', $$SELECT ftstore.unlabel('sec_a', NULL, '{m}')$$),
(27, 'ftstore.label_from_dataset_info(text,jsonb,text,jsonb)', $$SELECT ftstore.label_from_dataset_info('sec_a', '{"e": {"file_name": "e.json"}}', 'e')$$),
(28, 'ftstore.current_actor()', $$SELECT ftstore.current_actor()$$),
(29, 'ftstore.granted_datasets(text)', $$SELECT ftstore.granted_datasets('read')$$),
(30, 'ftstore.readable_datasets()', $$SELECT ftstore.readable_datasets()$$),
(31, 'ftstore.writable_datasets()', $$SELECT ftstore.writable_datasets()$$),
(32, 'ftstore.administers(name,integer)', $$SELECT ftstore.administers('postgres', 1)$$),
-- Trigger functions: refused before PostgreSQL would say they are ones.
(33, 'ftstore.samples_restriction_changed()', $$SELECT ftstore.samples_restriction_changed()$$),
(34, 'ftstore.audit_rows()', $$SELECT ftstore.audit_rows()$$),
(35, 'ftstore.audit_truncate()', $$SELECT ftstore.audit_truncate()$$),
(36, 'ftstore.audit_import()', $$SELECT ftstore.audit_import()$$),
(37, 'ftstore.audit_dataset()', $$SELECT ftstore.audit_dataset()$$),
(38, 'ftstore.audit_grant()', $$SELECT ftstore.audit_grant()$$),
(39, 'ftstore.audit_log_refuse()', $$SELECT ftstore.audit_log_refuse()$$),
-- The cold tier.  The sample literal has no media: what a reader may ask
-- of any sample, and nothing that names a blob.
(40, 'ftstore.blobs(ftstore.ftsample)', $$SELECT * FROM ftstore.blobs('{"messages": [{"role": "user", "content": "x"}]}')$$),
(41, 'ftstore.blob(ftstore.ftsample,integer)', $$SELECT ftstore.blob('{"messages": [{"role": "user", "content": "x"}]}', 1)$$),
(42, 'ftstore.store_blob(text,bytea,text)', $$SELECT ftstore.store_blob('sec_a', '\x00', 'application/octet-stream')$$),
(43, NULL, $$SELECT ftstore.store_blob('sec_b', '\x00', 'application/octet-stream')$$),
(44, 'ftstore.offload(text)', $$SELECT ftstore.offload('sec_a')$$),
(45, 'ftstore.offload_policy()', $$SELECT ftstore.offload_policy()$$),
(46, 'ftstore.start_offload_worker()', $$SELECT ftstore.start_offload_worker()$$),
(47, 'ftstore.rekey_blobs(integer)', $$SELECT ftstore.rekey_blobs(1)$$),
(48, 'ftstore.collect_objects()', $$SELECT ftstore.collect_objects()$$),
(49, 'ftstore.collect()', $$SELECT ftstore.collect()$$),
(50, 'ftstore.blob_refs_sync()', $$SELECT ftstore.blob_refs_sync()$$),
(51, 'ftstore.blob_refs_forget()', $$SELECT ftstore.blob_refs_forget()$$),
-- The object stores' administration: the superuser's alone.
(52, 'ftstore.object_put(text,text,bytea)', $$SELECT ftstore.object_put('file:///tmp/regress_sec_store', 'k', '\x00')$$),
(53, 'ftstore.object_get(text,text)', $$SELECT ftstore.object_get('file:///tmp/regress_sec_store', 'k')$$),
(54, 'ftstore.object_head(text,text)', $$SELECT ftstore.object_head('file:///tmp/regress_sec_store', 'k')$$),
(55, 'ftstore.object_delete(text,text)', $$SELECT ftstore.object_delete('file:///tmp/regress_sec_store', 'k')$$),
(56, 'ftstore.object_list(text,text)', $$SELECT * FROM ftstore.object_list('file:///tmp/regress_sec_store', '')$$),
(57, 'ftstore.s3_sign_request(text,text,jsonb,text,text,text)', $$SELECT ftstore.s3_sign_request('GET', 'http://127.0.0.1:1/b/k', '{}', 'UNSIGNED-PAYLOAD', '20250101T000000Z', 'us-east-1')$$),
(58, 'ftstore.audit_log_number()', $$SELECT ftstore.audit_log_number()$$),
-- The duplicate marks: a trigger, and the check dedup_exact makes as the
-- caller.
(59, 'ftstore.samples_forget_marks()', $$SELECT ftstore.samples_forget_marks()$$),
(60, 'ftstore.actor_holds(name,integer,text)', $$SELECT ftstore.actor_holds('postgres', 1, 'write')$$),
-- The bodies behind the entry points that name their caller (caller.c):
-- no role may call them and name another actor.
(61, 'ftstore.dedup_exact_as(text,name)', $$SELECT ftstore.dedup_exact_as('sec_a', 'postgres')$$),
(62, 'ftstore.grant_as(text,name,text,name)', $$SELECT ftstore.grant_as('sec_b', 'regress_sec_nogrant', 'read', 'postgres')$$),
(63, 'ftstore.revoke_as(text,name,text,name)', $$SELECT ftstore.revoke_as('sec_a', 'regress_sec_reader', 'read', 'postgres')$$),
(64, 'ftstore.grants_as(text,name)', $$SELECT * FROM ftstore.grants_as('sec_b', 'postgres')$$),
(65, 'ftstore.create_dataset_as(text,text,boolean,name)', $$SELECT ftstore.create_dataset_as('sec_forged', NULL, false, 'postgres')$$),
(66, 'ftstore.log_export_as(text,text,bigint,name)', $$SELECT ftstore.log_export_as('sec_b', 'openai', 1, 'postgres')$$),
-- The audit triggers' bodies, behind their entry points.
(67, 'ftstore.audit_rows_as()', $$SELECT ftstore.audit_rows_as()$$),
(68, 'ftstore.audit_truncate_as()', $$SELECT ftstore.audit_truncate_as()$$),
(69, 'ftstore.audit_import_as()', $$SELECT ftstore.audit_import_as()$$),
(70, 'ftstore.audit_dataset_as()', $$SELECT ftstore.audit_dataset_as()$$),
(71, 'ftstore.audit_grant_as()', $$SELECT ftstore.audit_grant_as()$$);

-- Every function of the extension that is not immutable (so may read or
-- write stored data), and every SECURITY DEFINER one, has a call above.
SELECT p.oid::regprocedure AS not_called
FROM pg_proc p
JOIN pg_depend dep ON dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid
	AND dep.deptype = 'e'
JOIN pg_extension e ON e.oid = dep.refobjid AND e.extname = 'ftstore'
WHERE (p.provolatile <> 'i' OR p.prosecdef)
  AND p.oid::regprocedure::text NOT IN (SELECT fn FROM regress_sec.calls
										WHERE fn IS NOT NULL)
ORDER BY 1::text;

-- Rows returned, or the SQLSTATE.  A dataset the caller may not see gives
-- 42704, as one that does not exist does (11, 6); a dataset the caller may
-- not administer gives 42501, as one that does not exist does (14, 15).
-- The auditor may not read the grants, so it cannot ask which datasets it
-- holds (21, 29-31).  facet_summary looks the dataset up only for the rows
-- it sees, so for a role that sees none it is empty rather than an error
-- (25): either way it says nothing of sec_a.
CREATE TABLE regress_sec.call_expect (ord int, reader text, curator text,
									  admin text, auditor text, nogrant text,
									  outsider text);
INSERT INTO regress_sec.call_expect VALUES
(1,  '42501', 'ok 1', 'ok 1', '42501', '42501', '42501'),
(2,  '42501', '42501', '42501', '42501', '42501', '42501'),
(3,  '42501', '42501', '42501', '42501', '42501', '42501'),
(4,  '42501', '42501', '42501', '42501', '42501', '42501'),
(5,  'ok 3', 'ok 3', 'ok 3', '42501', '42704', '42501'),
(6,  '42704', '42704', '42704', '42501', '42704', '42501'),
(7,  'ok 3', 'ok 3', 'ok 3', '42501', '42704', '42501'),
(8,  '42501', '42501', '42501', '42501', '42501', '42501'),
(9,  '42501', 'ok 1', 'ok 1', '42501', '42501', '42501'),
(10, 'ok 10', 'ok 10', 'ok 10', '42501', '42704', '42501'),
(11, '42704', '42704', '42704', '42501', '42704', '42501'),
(12, '42501', '42501', 'ok 1', '42501', '42501', '42501'),
(13, '42501', '42501', 'ok 1', '42501', '42501', '42501'),
(14, '42501', '42501', '42501', '42501', '42501', '42501'),
(15, '42501', '42501', '42501', '42501', '42501', '42501'),
(16, '42501', '42501', 'ok 1', '42501', '42501', '42501'),
(17, '42501', '42501', 'ok 3', '42501', '42501', '42501'),
(18, '42501', '42501', '42501', '42501', '42501', '42501'),
(19, '42501', '42501', '42501', '42501', '42501', '42501'),
(20, '42501', '42501', '42501', '42501', '42501', '42501'),	-- no export of what one cannot read
(21, 'ok 1', 'ok 1', 'ok 1', '42501', 'ok 1', '42501'),
(22, '42501', '42501', 'ok 1', '42501', '42501', '42501'),
(23, '42501', 'ok 1', 'ok 1', '42501', '42501', '42501'),
(24, '42501', 'ok 1', 'ok 1', '42501', '42501', '42501'),
(25, 'ok 3', 'ok 3', 'ok 3', '42501', 'ok 0', '42501'),
(26, '42501', 'ok 1', 'ok 1', '42501', '42501', '42501'),
(27, '42501', 'ok 1', 'ok 1', '42501', '42501', '42501'),
(28, 'ok 1', 'ok 1', 'ok 1', 'ok 1', 'ok 1', '42501'),
(29, 'ok 1', 'ok 1', 'ok 1', '42501', 'ok 1', '42501'),
(30, 'ok 1', 'ok 1', 'ok 1', '42501', 'ok 1', '42501'),
(31, 'ok 1', 'ok 1', 'ok 1', '42501', 'ok 1', '42501');
-- No role may run the internal ones.
INSERT INTO regress_sec.call_expect
SELECT g, '42501', '42501', '42501', '42501', '42501', '42501'
FROM generate_series(32, 39) g;
-- The cold tier: readers list and fetch the blobs of samples (none here,
-- so fetching blob 1 is invalid_parameter_value, past the privilege check);
-- curators store blobs in datasets they write, admins offload theirs; the
-- collector, the policy, the worker and key rotation are the superuser's.
INSERT INTO regress_sec.call_expect VALUES
(40, 'ok 0', 'ok 0', 'ok 0', '42501', 'ok 0', '42501'),
(41, '22023', '22023', '22023', '42501', '22023', '42501'),
(42, '42501', 'ok 1', 'ok 1', '42501', '42501', '42501'),
(43, '42501', '42501', '42501', '42501', '42501', '42501'),
(44, '42501', '42501', 'ok 1', '42501', '42501', '42501');
INSERT INTO regress_sec.call_expect
SELECT g, '42501', '42501', '42501', '42501', '42501', '42501'
FROM generate_series(45, 57) g;
INSERT INTO regress_sec.call_expect
SELECT g, '42501', '42501', '42501', '42501', '42501', '42501'
FROM generate_series(59, 71) g;

CREATE TABLE regress_sec.call_got (who text, ord int, outcome text);
GRANT INSERT ON regress_sec.call_got TO PUBLIC;
CREATE FUNCTION regress_sec.run_calls(who text) RETURNS void
LANGUAGE sql AS $$
INSERT INTO regress_sec.call_got
SELECT who, c.ord, regress_sec.try(c.stmt) FROM regress_sec.calls c
$$;

SET client_min_messages = error;
SET ROLE regress_sec_reader;   SELECT regress_sec.run_calls('reader');
SET ROLE regress_sec_curator;  SELECT regress_sec.run_calls('curator');
SET ROLE regress_sec_admin;    SELECT regress_sec.run_calls('admin');
SET ROLE regress_sec_auditor;  SELECT regress_sec.run_calls('auditor');
SET ROLE regress_sec_nogrant;  SELECT regress_sec.run_calls('nogrant');
SET ROLE regress_sec_outsider; SELECT regress_sec.run_calls('outsider');
RESET ROLE;
RESET client_min_messages;

SELECT c.ord, x.who, x.want AS expected, g.outcome AS got, c.stmt
FROM regress_sec.call_expect e
JOIN regress_sec.calls c USING (ord)
CROSS JOIN LATERAL (VALUES ('reader', e.reader), ('curator', e.curator),
					('admin', e.admin), ('auditor', e.auditor),
					('nogrant', e.nogrant), ('outsider', e.outsider)) x (who, want)
LEFT JOIN regress_sec.call_got g ON g.who = x.who AND g.ord = c.ord
WHERE g.outcome IS DISTINCT FROM x.want
ORDER BY 1, 2;
SELECT count(*) AS calls_checked FROM regress_sec.call_got;

-- Nothing the matrix did stayed.
SELECT name, (SELECT count(*) FROM ftstore.samples s WHERE s.dataset_id = d.id) AS samples,
	   (SELECT count(*) FROM ftstore.rejects r WHERE r.dataset_id = d.id) AS rejects
FROM ftstore.datasets d WHERE name LIKE 'sec\_%' ORDER BY name;

-- ---------------------------------------------------------------------------
-- COPY: TO sees what SELECT sees; FROM is refused under row-level
-- security (imports go through import_data), and without INSERT first.
-- ---------------------------------------------------------------------------

SET ROLE regress_sec_reader;
COPY ftstore.samples (source, record, restricted) TO STDOUT;
COPY (SELECT source, record FROM ftstore.samples_bi ORDER BY record) TO STDOUT;
COPY ftstore.rejects (source, record) TO STDOUT;
COPY ftstore.samples (dataset_id, sample, source, record, line) FROM STDIN;
\.
SET ROLE regress_sec_curator;
COPY ftstore.samples (dataset_id, sample, source, record, line) FROM STDIN;
\.
SET ROLE regress_sec_auditor;
COPY ftstore.samples TO STDOUT;
COPY ftstore.audit_log FROM STDIN;
\.
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Fetching by id or by hash: a hidden row is not there.
-- ---------------------------------------------------------------------------

SELECT s.id AS hidden_id, encode(s.fingerprint, 'hex') AS hidden_fp
FROM ftstore.samples s JOIN ftstore.datasets d ON d.id = s.dataset_id
WHERE d.name = 'sec_hidden' AND s.record = 1 \gset
SELECT s.id AS restricted_id FROM ftstore.samples s
WHERE s.source = 'SECRET-A4' \gset
SELECT id AS hidden_ds FROM ftstore.datasets WHERE name = 'sec_hidden' \gset

SET ROLE regress_sec_reader;
SELECT count(*) FROM ftstore.samples WHERE id = :hidden_id;
SELECT count(*) FROM ftstore.samples WHERE id = :restricted_id;
SELECT count(*) FROM ftstore.samples_bi WHERE id IN (:hidden_id, :restricted_id);
SELECT count(*) FROM ftstore.samples WHERE fingerprint = decode(:'hidden_fp', 'hex');
SELECT count(*) FROM ftstore.samples WHERE dataset_id = :hidden_ds;
SELECT count(*) FROM ftstore.datasets WHERE id = :hidden_ds;
-- The same error as for a dataset that does not exist.
SELECT ftstore.dataset_id('sec_hidden');
SELECT ftstore.dataset_id('sec_nope');
SELECT ftstore.can_access(:hidden_ds, 'read') AS hidden_readable;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Views: the BI views run as the caller; a view the caller makes runs
-- as the caller too, so it sees no more.
-- ---------------------------------------------------------------------------

SELECT c.relname, c.reloptions
FROM pg_class c JOIN pg_depend dep ON dep.objid = c.oid AND dep.deptype = 'e'
JOIN pg_extension e ON e.oid = dep.refobjid AND e.extname = 'ftstore'
WHERE c.relkind = 'v'
ORDER BY 1;

SET ROLE regress_sec_reader;
CREATE VIEW regress_sec.my_view AS SELECT * FROM ftstore.samples;
CREATE VIEW regress_sec.my_barrier WITH (security_barrier) AS
	SELECT * FROM ftstore.samples;
SELECT count(*) FROM regress_sec.my_view;
SELECT count(*) FROM regress_sec.my_barrier;
CREATE FUNCTION regress_sec.my_definer() RETURNS bigint
LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM ftstore.samples';
SELECT regress_sec.my_definer();
RESET ROLE;
-- Once the superuser owns them, the view runs as its owner and so
-- bypasses every policy: why the BI views must be security_invoker.
ALTER VIEW regress_sec.my_view OWNER TO postgres;
GRANT SELECT ON regress_sec.my_view TO regress_sec_reader;
SET ROLE regress_sec_reader;
SELECT count(*) > 3 AS owner_view_bypasses FROM regress_sec.my_view;
RESET ROLE;
DROP VIEW regress_sec.my_view;

-- ---------------------------------------------------------------------------
-- Shadowing through search_path: the caller's own pg_has_role,
-- current_setting and = come first, and change nothing, since policies
-- and functions name what they call by OID or with a pinned search_path.
-- ---------------------------------------------------------------------------

SET ROLE regress_sec_admin;
CREATE FUNCTION regress_sec.pg_has_role(name, oid, text) RETURNS boolean
LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_sec.pg_has_role(name, regrole, text) RETURNS boolean
LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_sec.current_setting(text) RETURNS text
LANGUAGE sql AS 'SELECT ''postgres''::text';
CREATE FUNCTION regress_sec.anyeq(integer, integer[]) RETURNS boolean
LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_sec.alwayseq(integer, integer) RETURNS boolean
LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_sec.= (LEFTARG = integer, RIGHTARG = integer,
							   FUNCTION = regress_sec.alwayseq);
CREATE FUNCTION regress_sec.array_agg(integer) RETURNS integer[]
LANGUAGE sql AS 'SELECT ARRAY[1,2,3,4,5,6,7,8,9,10]';
SET search_path = regress_sec, pg_catalog, ftstore;
SELECT pg_has_role('nobody', 'postgres'::regrole, 'x') AS shadow_in_effect,
	   current_setting('role') AS shadow_role;
SELECT count(*) FROM ftstore.samples;
SELECT count(*) FROM ftstore.samples WHERE dataset_id = 1;
SELECT ftstore.granted_datasets('admin') = ARRAY[ftstore.dataset_id('sec_a')] AS own_grants_only;
SELECT ftstore.grant('sec_b', 'regress_sec_nogrant', 'read');
SELECT ftstore.current_actor();
RESET search_path;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- A function that is not leakproof runs after the policy: it never sees a
-- hidden row, even when it raises an error with what it saw.
-- ---------------------------------------------------------------------------

SET ROLE regress_sec_reader;
CREATE FUNCTION regress_sec.leak(text) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	IF $1 LIKE '%SECRET%' OR $1 LIKE '%HIDDEN%' THEN
		RAISE EXCEPTION 'leaked: %', $1;
	END IF;
	RETURN true;
END;
$$;
SELECT count(*) FROM ftstore.samples WHERE regress_sec.leak(sample::text || source);
SELECT count(*) FROM ftstore.samples_bi WHERE regress_sec.leak(sample::text || source);
SELECT count(*) FROM ftstore.rejects WHERE regress_sec.leak(raw);
SELECT count(*) FROM ftstore.samples
WHERE id = :hidden_id AND regress_sec.leak(sample::text);
SELECT count(*) FROM ftstore.duplicate_groups
WHERE regress_sec.leak(dataset || fingerprint);
RESET ROLE;

-- ---------------------------------------------------------------------------
-- EXPLAIN and planner statistics.  pg_stats shows nothing of a table
-- whose policies apply to the caller; the planner does not hand the
-- statistics' values to the caller's own operator (CVE-2025-8713); EXPLAIN
-- output holds no hidden value.
-- ---------------------------------------------------------------------------

ANALYZE ftstore.samples, ftstore.rejects, ftstore.datasets;
SELECT count(*) > 0 AS superuser_sees_stats FROM pg_stats
WHERE schemaname = 'ftstore' AND tablename = 'samples';
SET ROLE regress_sec_reader;
SELECT tablename, count(*) FROM pg_stats
WHERE schemaname = 'ftstore' GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM pg_statistic;
CREATE FUNCTION regress_sec.peek(text, text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	IF $1 LIKE '%SECRET%' OR $1 LIKE '%HIDDEN%' THEN
		RAISE EXCEPTION 'leaked from statistics: %', $1;
	END IF;
	RETURN $1 = $2;
END;
$$;
CREATE OPERATOR regress_sec.=== (LEFTARG = text, RIGHTARG = text,
								 FUNCTION = regress_sec.peek,
								 RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE FUNCTION regress_sec.explain_leaks(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	line	text;
	found	text := 'clean';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q
	LOOP
		IF line LIKE '%SECRET%' OR line LIKE '%HIDDEN%' THEN
			found := line;
		END IF;
	END LOOP;
	RETURN found;
END;
$$;
SELECT regress_sec.explain_leaks(
	'SELECT * FROM ftstore.samples WHERE source OPERATOR(regress_sec.===) ''x''');
RESET ROLE;
-- Row estimates: the hidden and restricted rows' values, which the reader
-- guesses with leakproof operators, are estimated as values nobody holds.
-- 300 hidden rows share one source and one text, so that they would be
-- the column's most common values if statistics were kept.
INSERT INTO ftstore.samples (dataset_id, sample, source, record, line)
SELECT ftstore.dataset_id('sec_hidden'),
	   '{"instruction": "HIDDEN-common", "output": "x"}', 'HIDDEN-common', g, g
FROM generate_series(100, 399) g;
ANALYZE ftstore.samples, ftstore.rejects, ftstore.datasets;
SELECT encode(fingerprint, 'hex') AS common_fp FROM ftstore.samples
WHERE source = 'HIDDEN-common' LIMIT 1 \gset
CREATE FUNCTION regress_sec.estimate_of(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	line	text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN ' || q
	LOOP
		IF line ~ 'Scan' THEN
			RETURN substring(line FROM 'rows=[0-9]+');
		END IF;
	END LOOP;
	RETURN NULL;
END;
$$;
SET ROLE regress_sec_reader;
SELECT x.guess,
	   regress_sec.estimate_of(format(x.q, x.hidden))
	   = regress_sec.estimate_of(format(x.q, x.nobody)) AS estimate_blind
FROM (VALUES
	(1, 'source =', 'SELECT 1 FROM ftstore.samples WHERE source = %L', 'HIDDEN-common', 'nobody'),
	(2, 'source <', 'SELECT 1 FROM ftstore.samples WHERE source < %L', 'HIDDEN-d', 'A'),
	(3, 'sample =', 'SELECT 1 FROM ftstore.samples WHERE sample OPERATOR(ftstore.=) %L::ftstore.ftsample',
	 '{"instruction": "HIDDEN-common", "output": "x"}', '{"instruction": "nobody", "output": "x"}'),
	(4, 'fingerprint =', 'SELECT 1 FROM ftstore.samples WHERE fingerprint = decode(%L, ''hex'')',
	 :'common_fp', '00'),
	(5, 'dataset name <', 'SELECT 1 FROM ftstore.datasets WHERE name < %L', 'sec_i', 'a'),
	(6, 'reject raw =', 'SELECT 1 FROM ftstore.rejects WHERE raw = %L', 'not json', 'nobody'))
	x (ord, guess, q, hidden, nobody)
ORDER BY x.ord;
RESET ROLE;
DELETE FROM ftstore.samples WHERE source = 'HIDDEN-common';
SET ROLE regress_sec_reader;
SELECT regress_sec.explain_leaks('SELECT * FROM ftstore.samples_bi');
SELECT regress_sec.explain_leaks('SELECT * FROM ftstore.rejects WHERE raw LIKE ''%''');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- The owner path: FORCE holds the tables' owner to the policies too.
-- ---------------------------------------------------------------------------

CREATE ROLE regress_sec_owner;
BEGIN;
ALTER TABLE ftstore.samples OWNER TO regress_sec_owner;
GRANT USAGE ON SCHEMA ftstore TO regress_sec_owner;
GRANT SELECT ON ftstore.datasets, ftstore.dataset_grants TO regress_sec_owner;
SET LOCAL ROLE regress_sec_owner;
SELECT count(*) AS owner_sees FROM ftstore.samples;
RESET ROLE;
ALTER TABLE ftstore.samples NO FORCE ROW LEVEL SECURITY;
SET LOCAL ROLE regress_sec_owner;
SELECT count(*) > 0 AS owner_sees_without_force FROM ftstore.samples;
ROLLBACK;
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
WHERE relnamespace = 'ftstore'::regnamespace AND relkind = 'r' ORDER BY 1;

-- ---------------------------------------------------------------------------
-- SET ROLE mid-session and cached plans: the policy of the role executing
-- is the one applied.
-- ---------------------------------------------------------------------------

SET plan_cache_mode = force_generic_plan;
PREPARE visible AS SELECT count(*) FROM ftstore.samples;
PREPARE by_id(bigint) AS SELECT count(*) FROM ftstore.samples WHERE id = $1;
SET ROLE regress_sec_curator;
EXECUTE visible;
EXECUTE visible;
SELECT s.id AS b_id FROM ftstore.samples s JOIN ftstore.datasets d ON d.id = s.dataset_id
WHERE d.name = 'sec_b' AND s.record = 2 \gset
EXECUTE by_id(:b_id);
SET ROLE regress_sec_reader;
EXECUTE visible;
EXECUTE by_id(:b_id);
SET ROLE regress_sec_nogrant;
EXECUTE visible;
SET ROLE regress_sec_curator;
EXECUTE visible;
-- A grant taken away applies at once, to the cached plan too.
RESET ROLE;
SELECT ftstore.revoke('sec_b', 'regress_sec_curator', 'read');
SET ROLE regress_sec_curator;
EXECUTE visible;
RESET ROLE;
SELECT ftstore.grant('sec_b', 'regress_sec_curator', 'read');
RESET plan_cache_mode;
DEALLOCATE visible;
DEALLOCATE by_id;

-- The samples with their marks, as the caller sees both.
CREATE VIEW regress_sec.marked WITH (security_invoker = true) AS
SELECT s.*,
	   CASE WHEN m.sample_id IS NULL THEN 'active' ELSE 'duplicate' END AS status,
	   m.duplicate_of
FROM ftstore.samples s
LEFT JOIN ftstore.duplicates m ON m.dataset_id = s.dataset_id AND m.sample_id = s.id;
GRANT SELECT ON regress_sec.marked TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Restricted content and deduplication.  s3 and s4 of sec_a are the same
-- text; s4 is restricted, so for the uncleared the pair is no group.
-- ---------------------------------------------------------------------------

SET ROLE regress_sec_reader;
SELECT dataset, size FROM ftstore.duplicate_groups ORDER BY dataset, size;
RESET ROLE;
SELECT dataset, size FROM ftstore.duplicate_groups WHERE dataset LIKE 'sec\_%'
ORDER BY dataset, size;
-- Clearance on sec_a shows s4.
SELECT ftstore.grant('sec_a', 'regress_sec_reader', 'clearance');
SET ROLE regress_sec_reader;
SELECT source, record, restricted FROM ftstore.samples ORDER BY record;
RESET ROLE;
SELECT ftstore.revoke('sec_a', 'regress_sec_reader', 'clearance');
-- Only a cleared role can mark a sample restricted: the row it writes must
-- stay visible to it.
SET ROLE regress_sec_curator;
UPDATE ftstore.samples SET restricted = true WHERE source = 'a.jsonl' AND record = 3;
SELECT ftstore.dedup_exact('sec_a');
SELECT record, status FROM regress_sec.marked ORDER BY dataset_id, record;
-- A dataset the curator may only read: refused, and nothing is changed.
SELECT ftstore.dedup_exact('sec_b');
RESET ROLE;
SELECT count(*) AS sec_b_marked FROM ftstore.duplicates
WHERE dataset_id = ftstore.dataset_id('sec_b');

-- ---------------------------------------------------------------------------
-- The audit trail: who, as whom, what; and nobody rewrites it.
-- ---------------------------------------------------------------------------

SET SESSION AUTHORIZATION regress_sec_admin;
SELECT ftstore.grant('sec_a', 'regress_sec_nogrant', 'read');
SELECT ftstore.revoke('sec_a', 'regress_sec_nogrant', 'read');
UPDATE ftstore.datasets SET restricted = true WHERE name = 'sec_a';
UPDATE ftstore.datasets SET restricted = false WHERE name = 'sec_a';
SELECT count(*) FROM ftstore.export_audited('sec_a');
RESET SESSION AUTHORIZATION;

SET ROLE regress_sec_auditor;
SELECT actor, login, action, dataset, detail - 'first_id' - 'last_id' AS detail
FROM ftstore.audit_log WHERE dataset LIKE 'sec\_%' ORDER BY id;
SELECT dataset, restricted, samples, duplicates, restricted_samples, rejects, imports
FROM ftstore.dataset_stats WHERE dataset LIKE 'sec\_%' ORDER BY dataset;
UPDATE ftstore.audit_log SET actor = 'x';
RESET ROLE;
-- Not even the owner.
UPDATE ftstore.audit_log SET actor = 'x';
DELETE FROM ftstore.audit_log;
TRUNCATE ftstore.audit_log;

-- ---------------------------------------------------------------------------
-- Labels under the policies: ftstore.@> is leakproof, so the planner may
-- search the labels index with it for a reader; core @> is not, so for a
-- reader it is applied after the policy, row by row.  sec_l holds 5,000
-- samples; records 1000, 2000, ..., 5000 are labelled split=test; 4001 to
-- 5000 are restricted, and those but 5000 labelled only=restricted; the
-- hidden dataset's record 1 is labelled split=test too: the reader must
-- find 1000 to 4000, by the index as by a sequential scan.
-- ---------------------------------------------------------------------------

SELECT ftstore.create_dataset('sec_l') > 0 AS created;
INSERT INTO ftstore.samples (dataset_id, sample, source, record, line,
							 labels, restricted)
SELECT ftstore.dataset_id('sec_l'),
	   format('{"instruction": "l %s", "output": "l"}', g)::ftstore.ftsample,
	   'l.jsonl', g, g,
	   CASE WHEN g % 1000 = 0 THEN '{"split": "test", "k": {"n": 1}}'
			WHEN g > 4000 THEN '{"only": "restricted"}'
			ELSE '{}' END::jsonb,
	   g > 4000
FROM generate_series(1, 5000) g;
UPDATE ftstore.samples s SET labels = '{"split": "test", "k": {"n": 1}}'
WHERE s.dataset_id = ftstore.dataset_id('sec_hidden') AND s.record = 1;
SELECT ftstore.grant('sec_l', 'regress_sec_reader', 'read');
ANALYZE ftstore.samples;

-- The scans a plan makes, one line.
CREATE FUNCTION regress_sec.plan_of(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	line	text;
	scans	text[] := '{}';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q
	LOOP
		IF line ~ 'Scan' THEN
			scans := scans || regexp_replace(line, '^[ >-]*', '');
		END IF;
	END LOOP;
	RETURN array_to_string(scans, ' / ');
END;
$$;
SET ROLE regress_sec_reader;
SELECT regress_sec.plan_of($$SELECT record FROM ftstore.samples
	WHERE labels OPERATOR(ftstore.@>) '{"split": "test"}'$$) AS leakproof_plan;
SELECT regress_sec.plan_of($$SELECT record FROM ftstore.samples
	WHERE labels @> '{"split": "test"}'$$) AS core_plan;
SELECT array_agg(record ORDER BY record) AS by_index
FROM ftstore.samples WHERE labels OPERATOR(ftstore.@>) '{"split": "test"}';
SELECT array_agg(record ORDER BY record) AS by_index_nested
FROM ftstore.samples WHERE labels OPERATOR(ftstore.@>) '{"k": {"n": 1}}';
SELECT count(*) AS by_index_none
FROM ftstore.samples WHERE labels OPERATOR(ftstore.@>) '{"split": "train"}';
-- A leaky function beside it still runs after the policy: the index
-- finds the hidden and the restricted rows, the policy drops them first.
SELECT count(*) AS leak_beside_index FROM ftstore.samples
WHERE labels OPERATOR(ftstore.@>) '{"split": "test"}'
  AND regress_sec.leak(sample::text || source);
-- The estimate says nothing of the hidden rows' labels: a label that only
-- hidden rows carry (999 restricted ones, a most common value of the
-- column's statistics) is estimated as one nobody carries.
CREATE FUNCTION regress_sec.estimate(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	line	text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN ' || q
	LOOP
		IF line ~ 'Scan' THEN
			RETURN substring(line FROM 'rows=[0-9]+');
		END IF;
	END LOOP;
	RETURN NULL;
END;
$$;
RESET ROLE;
UPDATE ftstore.samples s SET labels = '{"only": "hidden"}'
WHERE s.dataset_id = ftstore.dataset_id('sec_hidden') AND s.record = 2;
ANALYZE ftstore.samples;
SET ROLE regress_sec_reader;
SELECT regress_sec.estimate($$SELECT * FROM ftstore.samples
	WHERE labels OPERATOR(ftstore.@>) '{"only": "hidden"}'$$)
	= regress_sec.estimate($$SELECT * FROM ftstore.samples
	WHERE labels OPERATOR(ftstore.@>) '{"only": "nobody"}'$$) AS hidden_label_estimate_blind,
	   regress_sec.estimate($$SELECT * FROM ftstore.samples
	WHERE labels OPERATOR(ftstore.@>) '{"only": "restricted"}'$$)
	= regress_sec.estimate($$SELECT * FROM ftstore.samples
	WHERE labels OPERATOR(ftstore.@>) '{"only": "nobody"}'$$) AS restricted_label_estimate_blind;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT regress_sec.plan_of($$SELECT record FROM ftstore.samples
	WHERE labels OPERATOR(ftstore.@>) '{"split": "test"}'$$) AS seqscan_plan;
SELECT array_agg(record ORDER BY record) AS by_seqscan
FROM ftstore.samples WHERE labels OPERATOR(ftstore.@>) '{"split": "test"}';
SELECT count(*) AS by_seqscan_restricted_label
FROM ftstore.samples WHERE labels OPERATOR(ftstore.@>) '{"only": "restricted"}';
SELECT array_agg(record ORDER BY record) AS by_seqscan_nested
FROM ftstore.samples WHERE labels OPERATOR(ftstore.@>) '{"k": {"n": 1}}';
SELECT array_agg(record ORDER BY record) AS by_core
FROM ftstore.samples WHERE labels @> '{"split": "test"}';
RESET enable_indexscan;
RESET enable_bitmapscan;
RESET ROLE;
-- The superuser, to whom no policy applies, finds all six.
SELECT count(*) AS superuser_finds FROM ftstore.samples
WHERE labels OPERATOR(ftstore.@>) '{"split": "test"}';
SELECT p.proleakproof AS labels_contain_leakproof, p.prosrc
FROM pg_proc p WHERE p.oid = 'ftstore.labels_contain(jsonb, jsonb)'::regprocedure;

-- The bounds that make it leakproof: a value 33 levels down, and labels
-- over 1 MB, are refused (terse: the error's detail would print the row).
\set VERBOSITY terse
UPDATE ftstore.samples SET labels = (repeat('{"a": ', 32) || '1' || repeat('}', 32))::jsonb
WHERE source = 'SECRET-A4';
UPDATE ftstore.samples SET labels = (repeat('{"a": ', 32) || '[1]' || repeat('}', 32))::jsonb
WHERE source = 'SECRET-A4';
UPDATE ftstore.samples SET labels = jsonb_build_object('big', repeat('x', 1048500))
WHERE source = 'SECRET-A4';
UPDATE ftstore.samples SET labels = jsonb_build_object('big', repeat('x', 1048576))
WHERE source = 'SECRET-A4';
\set VERBOSITY default
UPDATE ftstore.samples SET labels = '{}' WHERE source = 'SECRET-A4';
UPDATE ftstore.samples s SET labels = '{}'
WHERE s.dataset_id = ftstore.dataset_id('sec_hidden') AND s.record IN (1, 2);
DELETE FROM ftstore.datasets WHERE name = 'sec_l';

-- ---------------------------------------------------------------------------
-- Deduplication by a cleared role: restricted and unrestricted samples are
-- ranked apart, so no visible sample points at a hidden one, and
-- restricting a kept sample later points its visible duplicates at the
-- next visible member.  sec_d: d1, d2, d3 the same text, d4 another.
-- ---------------------------------------------------------------------------

SELECT count(*) FROM ftstore.import_data('sec_d', 'd.jsonl',
E'{"instruction": "same", "output": "same"}\n'
 '{"instruction": "same", "output": "same"}\n'
 '{"instruction": "same", "output": "same"}\n'
 '{"instruction": "other", "output": "other"}\n');
SELECT ftstore.grant('sec_d', 'regress_sec_curator', 'write');
SELECT ftstore.grant('sec_d', 'regress_sec_curator', 'clearance');
SELECT ftstore.grant('sec_d', 'regress_sec_reader', 'read');
SELECT ftstore.grant('sec_a', 'regress_sec_curator', 'clearance');
-- In sec_a the restricted s4 has s3's text.
SET ROLE regress_sec_curator;
SELECT ftstore.dedup_exact('sec_a') AS sec_a_marked;
SELECT record, restricted, status, duplicate_of IS NULL AS kept
FROM regress_sec.marked s WHERE s.dataset_id = ftstore.dataset_id('sec_a')
ORDER BY record;
SELECT ftstore.dedup_exact('sec_d') AS sec_d_marked;
RESET ROLE;
SELECT s.record, s.status, t.record AS duplicate_of_record
FROM regress_sec.marked s LEFT JOIN ftstore.samples t ON t.id = s.duplicate_of
WHERE s.dataset_id = ftstore.dataset_id('sec_d') ORDER BY s.record;
-- The curator restricts d1, the kept one: d2 is kept now, d3 points at it.
SET ROLE regress_sec_curator;
UPDATE ftstore.samples SET restricted = true
WHERE dataset_id = ftstore.dataset_id('sec_d') AND record = 1;
RESET ROLE;
SELECT s.record, s.restricted, s.status, t.record AS duplicate_of_record
FROM regress_sec.marked s LEFT JOIN ftstore.samples t ON t.id = s.duplicate_of
WHERE s.dataset_id = ftstore.dataset_id('sec_d') ORDER BY s.record;
-- What the uncleared reader sees: no pointer to a row it cannot read.
SET ROLE regress_sec_reader;
SELECT s.record, s.status, s.duplicate_of IS NULL
		OR EXISTS (SELECT 1 FROM ftstore.samples t WHERE t.id = s.duplicate_of)
		AS points_at_visible
FROM regress_sec.marked s WHERE s.dataset_id = ftstore.dataset_id('sec_d')
ORDER BY s.record;
SELECT dataset, size FROM ftstore.duplicate_groups WHERE dataset = 'sec_d';
RESET ROLE;
-- Running dedup_exact again keeps that ranking: d3 is the one marked.
SET ROLE regress_sec_curator;
SELECT ftstore.dedup_exact('sec_d') AS sec_d_marked_again;
RESET ROLE;
-- Over the whole store: no unrestricted sample points at a restricted one.
SELECT count(*) AS visible_pointing_at_hidden
FROM regress_sec.marked s JOIN ftstore.samples t ON t.id = s.duplicate_of
WHERE NOT s.restricted AND t.restricted;
-- The marks are seen exactly with their samples.  d5 and d6, restricted,
-- have d1's text: ranked with d1 (restricted too), they point at it.
INSERT INTO ftstore.samples (dataset_id, sample, source, record, line, restricted)
SELECT ftstore.dataset_id('sec_d'), '{"instruction": "same", "output": "same"}',
	   'd.jsonl', r, r, true
FROM generate_series(5, 6) r;
SET ROLE regress_sec_curator;
SELECT ftstore.dedup_exact('sec_d') AS sec_d_marked_cleared;
RESET ROLE;
SELECT s.record, s.restricted, t.record AS duplicate_of_record
FROM ftstore.duplicates m
JOIN ftstore.samples s ON s.id = m.sample_id
JOIN ftstore.samples t ON t.id = m.duplicate_of
WHERE m.dataset_id = ftstore.dataset_id('sec_d') ORDER BY s.record;
-- The uncleared reader sees d3's mark only, in the table and the views.
SET ROLE regress_sec_reader;
SELECT count(*) AS reader_sees_marks FROM ftstore.duplicates
WHERE dataset_id = ftstore.dataset_id('sec_d');
SELECT record, status FROM ftstore.samples_bi WHERE dataset = 'sec_d'
ORDER BY record;
RESET ROLE;
-- d5 made visible: its mark pointed at a hidden sample, so it goes; d6
-- deleted: its mark goes with it.
UPDATE ftstore.samples SET restricted = false
WHERE dataset_id = ftstore.dataset_id('sec_d') AND record = 5;
DELETE FROM ftstore.samples
WHERE dataset_id = ftstore.dataset_id('sec_d') AND record = 6;
SELECT s.record, m.restricted, t.record AS duplicate_of_record
FROM ftstore.duplicates m
JOIN ftstore.samples s ON s.id = m.sample_id
JOIN ftstore.samples t ON t.id = m.duplicate_of
WHERE m.dataset_id = ftstore.dataset_id('sec_d') ORDER BY s.record;
SELECT count(*) AS marks_without_sample
FROM ftstore.duplicates m
WHERE NOT EXISTS (SELECT 1 FROM ftstore.samples s WHERE s.id = m.sample_id);
-- Ranked again, d5 joins the visible class after d2.
SET ROLE regress_sec_curator;
SELECT ftstore.dedup_exact('sec_d') AS sec_d_marked_last;
RESET ROLE;
SELECT s.record, t.record AS duplicate_of_record
FROM ftstore.duplicates m
JOIN ftstore.samples s ON s.id = m.sample_id
JOIN ftstore.samples t ON t.id = m.duplicate_of
WHERE m.dataset_id = ftstore.dataset_id('sec_d') ORDER BY s.record;
SELECT ftstore.revoke('sec_a', 'regress_sec_curator', 'clearance');

-- ---------------------------------------------------------------------------
-- Hardening, over the catalog.
-- ---------------------------------------------------------------------------

-- Every SECURITY DEFINER function pins search_path, pg_catalog first and
-- pg_temp last, and is not executable by PUBLIC: no offender.
SELECT p.oid::regprocedure AS offender, p.proconfig
FROM pg_proc p
JOIN pg_depend dep ON dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid
	AND dep.deptype = 'e'
JOIN pg_extension e ON e.oid = dep.refobjid AND e.extname = 'ftstore'
WHERE p.prosecdef
  AND (NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
				   WHERE c ~ '^search_path=pg_catalog(, [a-z_]+)*, pg_temp$')
	   OR has_function_privilege('public', p.oid, 'EXECUTE'));
SELECT count(*) > 5 AS definer_functions_checked
FROM pg_proc p
JOIN pg_depend dep ON dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid
	AND dep.deptype = 'e'
JOIN pg_extension e ON e.oid = dep.refobjid AND e.extname = 'ftstore'
WHERE p.prosecdef;

-- The functions PUBLIC may run that are not immutable: only those that
-- answer about the caller's own grants.
SELECT p.oid::regprocedure AS public_function, p.provolatile
FROM pg_proc p
JOIN pg_depend dep ON dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid
	AND dep.deptype = 'e'
JOIN pg_extension e ON e.oid = dep.refobjid AND e.extname = 'ftstore'
WHERE has_function_privilege('public', p.oid, 'EXECUTE')
  AND p.provolatile <> 'i'
ORDER BY 1::text;

-- Nothing PUBLIC may touch among the tables and views.
SELECT c.relname, c.relacl
FROM pg_class c
WHERE c.relnamespace = 'ftstore'::regnamespace AND c.relkind IN ('r', 'v', 'm')
  AND (has_table_privilege('public', c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE'));

-- Every table but the audit log (which no role but the auditor reads) has
-- its policies enabled and forced, whatever it holds: a table added later
-- (blob references, say) fails here until it has them.
SELECT c.relname AS unprotected
FROM pg_class c
WHERE c.relnamespace = 'ftstore'::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname <> 'audit_log'
  AND NOT (c.relrowsecurity AND c.relforcerowsecurity);
-- And a policy for each command its roles hold a privilege for.
SELECT c.relname, x.cmd AS command_without_policy
FROM pg_class c,
	 LATERAL (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE')) x (cmd)
WHERE c.relnamespace = 'ftstore'::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname <> 'audit_log'
  AND EXISTS (SELECT 1
			  FROM unnest('{ftstore_reader,ftstore_curator,ftstore_admin,ftstore_auditor}'::name[]) r
			  WHERE CASE WHEN x.cmd = 'DELETE'
						 THEN has_table_privilege(r, c.oid, x.cmd)
						 ELSE has_any_column_privilege(r, c.oid, x.cmd) END)
  AND NOT EXISTS (SELECT 1 FROM pg_policies p
				  WHERE p.schemaname = 'ftstore' AND p.tablename = c.relname
					AND p.cmd IN (x.cmd, 'ALL'))
ORDER BY 1, 2;
-- Policies say both who may see (USING) and what may be written (WITH
-- CHECK) wherever the command has both.
SELECT tablename, policyname FROM pg_policies
WHERE schemaname = 'ftstore'
  AND ((cmd IN ('SELECT', 'DELETE', 'UPDATE', 'ALL') AND qual IS NULL)
	   OR (cmd IN ('INSERT', 'UPDATE', 'ALL') AND with_check IS NULL))
ORDER BY 1, 2;
-- No column that holds content keeps statistics of values: every column
-- of a table under row-level security but keys, counts, flags and times.
SELECT c.relname, a.attname AS column_with_statistics
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relnamespace = 'ftstore'::regnamespace AND c.relkind = 'r'
  AND c.relrowsecurity AND a.attnum > 0 AND NOT a.attisdropped
  AND a.atttypid NOT IN ('integer'::regtype, 'bigint'::regtype,
						 'boolean'::regtype, 'timestamptz'::regtype,
						 'regrole'::regtype, 'name'::regtype)
  AND NOT (c.relname = 'rejects' AND a.attname = 'error_code')
  AND NOT (c.relname = 'imports' AND a.attname = 'format')
  AND NOT (c.relname = 'dataset_grants' AND a.attname = 'privilege')
  AND a.attstattarget <> 0
ORDER BY 1, 2;
-- Every view but the auditor's statistics runs as its caller.
SELECT c.relname AS definer_view
FROM pg_class c
WHERE c.relnamespace = 'ftstore'::regnamespace AND c.relkind = 'v'
  AND c.relname <> 'dataset_stats'
  AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false);

-- ---------------------------------------------------------------------------
-- Clean up the cluster-wide roles made here.
-- ---------------------------------------------------------------------------

DROP SCHEMA regress_sec CASCADE;
DELETE FROM ftstore.dataset_grants
WHERE role::text LIKE 'regress\_sec\_%';
DROP OWNED BY regress_sec_reader, regress_sec_curator, regress_sec_admin,
	regress_sec_auditor, regress_sec_nogrant, regress_sec_outsider,
	regress_sec_owner;
DROP ROLE regress_sec_reader, regress_sec_curator, regress_sec_admin,
	regress_sec_auditor, regress_sec_nogrant, regress_sec_outsider,
	regress_sec_owner;
