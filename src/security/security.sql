
-- Who may read, curate and administer each dataset, enforced by PostgreSQL:
-- group roles for the kind of work (table and function privileges),
-- per-dataset grants for which datasets (row-level security), clearance
-- for restricted content, and an append-only audit trail.  docs/security.md
-- explains the model.
--
-- This fragment comes last in the install script: it alters the tables,
-- views and functions of every other capability.  It creates no role, as
-- roles belong to the cluster and CREATE EXTENSION must work without them:
-- ftstore.create_roles() makes them and hands out their privileges.
--
-- Every policy runs as the querying role, so every invoker-rights function
-- (import_data, export, dedup_exact, report) and every security_invoker
-- view obeys it without knowing about it.  Superusers and BYPASSRLS roles
-- are not subject to any of it.

-- Restricted content (personal data, say): a restricted dataset hides all
-- of its samples and rejects, a restricted sample hides itself, from every
-- role without clearance on the dataset.
ALTER TABLE ftstore.datasets
	ADD COLUMN restricted boolean NOT NULL DEFAULT false;
-- samples.restricted is made with the table (src/store/store.sql), beside
-- dataset_id and in the unique key's index, where the policies read it
-- cheaply.

COMMENT ON COLUMN ftstore.datasets.restricted IS
	'only roles with clearance on the dataset see its samples and rejects';
COMMENT ON COLUMN ftstore.samples.restricted IS
	'only roles with clearance on the dataset see this sample';

-- The per-dataset grants.  role is stored as regrole: an OID, so that a
-- renamed role keeps its grants, dumped and restored by name.  DROP ROLE
-- does not see these rows; forget_dropped_roles() removes them.
--   read       see the dataset's samples, rejects and imports
--   write      also import, label, deduplicate and delete (implies read)
--   admin      also grant and revoke, rename, restrict, delete the dataset
--              (implies write)
--   clearance  see the restricted content the other privileges cover
CREATE TABLE ftstore.dataset_grants (
	dataset_id	integer NOT NULL REFERENCES ftstore.datasets (id) ON DELETE CASCADE,
	role		regrole NOT NULL,
	privilege	text NOT NULL
				CHECK (privilege IN ('read', 'write', 'admin', 'clearance')),
	granted_by	name NOT NULL,
	granted_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (dataset_id, role, privilege)
);

COMMENT ON TABLE ftstore.dataset_grants IS
	'which role holds which privilege (read, write, admin, clearance) on which dataset';

-- Who did what, when.  actor is the role the work was done as (after SET
-- ROLE), login the authenticated session user.  detail never holds sample
-- content: ids, counts, sources, privileges.
CREATE TABLE ftstore.audit_log (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor		name NOT NULL,
	login		name NOT NULL DEFAULT session_user,
	action		text NOT NULL,
	dataset_id	integer,	-- no foreign key: the log outlives datasets
	dataset		text,
	detail		jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_dataset_idx ON ftstore.audit_log (dataset_id, at);

COMMENT ON TABLE ftstore.audit_log IS
	'append-only trail of imports, changes, exports, grants and revokes';

-- Both are the installation's own data, so pg_dump must keep them, and
-- the trail's numbering too, or the first entry after a restore would
-- take an id the restored trail holds.
SELECT pg_catalog.pg_extension_config_dump('ftstore.dataset_grants', '');
SELECT pg_catalog.pg_extension_config_dump('ftstore.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ftstore.audit_log', 'id'), '');

-- ---------------------------------------------------------------------------
-- Who is asking.
-- ---------------------------------------------------------------------------

-- The role the caller acts as, also inside a SECURITY DEFINER function,
-- where current_user is the function's owner.  The "role" setting can only
-- name a role the session user is a member of (SET ROLE checks it), so it
-- is as trustworthy as current_user; it is 'none' until SET ROLE is used.
-- Inside the bodies of the entry points below (caller.c) and of the audit
-- triggers, it names the role the entry point found as current_user: the
-- caller, or the role whose statement fired the trigger.  Elsewhere it
-- names the role the session acts as.
CREATE FUNCTION ftstore.current_actor() RETURNS name
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'ft_current_actor';

COMMENT ON FUNCTION ftstore.current_actor() IS
	'the role the work is done for: the caller of the running ftstore entry point, else the role the session acts as';

-- The datasets the current role holds a privilege on, through any role
-- whose privileges it has.  USAGE rather than MEMBER: a NOINHERIT member
-- (PostgREST's authenticator, say) gets a role's datasets only after SET
-- ROLE, as it gets the role's table privileges.  Returned as one array so
-- that a policy can compare dataset_id with it once per row, after a
-- single init plan: ANY ((SELECT ftstore.granted_datasets(...))::integer[]),
-- the cast keeping the parser from reading it as ANY (subquery).  PL/pgSQL
-- rather than SQL so that the plans of the bodies are kept for the
-- session: a SQL function with SET is planned again at every call, which
-- is most of the cost of a policy on a query that fetches one row.
CREATE FUNCTION ftstore.granted_datasets(privilege text) RETURNS integer[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT COALESCE(array_agg(DISTINCT g.dataset_id), '{}'::integer[])
			FROM ftstore.dataset_grants g
			WHERE pg_has_role(current_user, g.role, 'USAGE')
			  AND g.privilege = ANY (
					CASE $1
						WHEN 'read' THEN '{read,write,admin}'::text[]
						WHEN 'write' THEN '{write,admin}'::text[]
						ELSE ARRAY[$1]
					END));
END;
$$;

-- The datasets whose rows the current role may read, or write: the
-- granted ones but the restricted ones it has no clearance on.
CREATE FUNCTION ftstore.readable_datasets() RETURNS integer[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT COALESCE(array_agg(d.id), '{}'::integer[])
			FROM ftstore.datasets d
			WHERE d.id = ANY (ftstore.granted_datasets('read'))
			  AND (NOT d.restricted
				   OR d.id = ANY (ftstore.granted_datasets('clearance'))));
END;
$$;

CREATE FUNCTION ftstore.writable_datasets() RETURNS integer[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT COALESCE(array_agg(d.id), '{}'::integer[])
			FROM ftstore.datasets d
			WHERE d.id = ANY (ftstore.granted_datasets('write'))
			  AND (NOT d.restricted
				   OR d.id = ANY (ftstore.granted_datasets('clearance'))));
END;
$$;

-- One question at a time, for applications and for checks in functions.
-- Not for policies: a per-row call would cost a lookup per row.
CREATE FUNCTION ftstore.can_access(dataset_id integer, privilege text)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
-- Superusers and BYPASSRLS roles see every row whatever the grants say,
-- so that is the truthful answer for them.
SELECT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r
		WHERE r.rolname OPERATOR(pg_catalog.=) current_user)
	OR can_access.dataset_id OPERATOR(pg_catalog.=) ANY (
	CASE can_access.privilege
		WHEN 'read' THEN ftstore.readable_datasets()
		WHEN 'write' THEN ftstore.writable_datasets()
		WHEN 'admin' THEN ftstore.granted_datasets('admin')
		WHEN 'clearance' THEN ftstore.granted_datasets('clearance')
	END)
$$;

COMMENT ON FUNCTION ftstore.granted_datasets(text) IS
	'ids of the datasets the current role holds a privilege on (read includes write and admin)';
COMMENT ON FUNCTION ftstore.readable_datasets() IS
	'ids of the datasets whose rows the current role may read';
COMMENT ON FUNCTION ftstore.writable_datasets() IS
	'ids of the datasets whose rows the current role may write';
COMMENT ON FUNCTION ftstore.can_access(integer, text) IS
	'whether the current role may read, write, administer or see restricted content of a dataset';

-- Whether a role administers a dataset.  Only for the SECURITY DEFINER
-- functions below, which pass the actor explicitly.
CREATE FUNCTION ftstore.administers(actor name, dataset_id integer)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
			   WHERE r.rolname OPERATOR(pg_catalog.=) administers.actor
				 AND r.rolsuper)
	OR EXISTS (SELECT 1 FROM ftstore.dataset_grants g
			   WHERE g.dataset_id OPERATOR(pg_catalog.=) administers.dataset_id
				 AND g.privilege OPERATOR(pg_catalog.=) 'admin'
				 AND pg_catalog.pg_has_role(administers.actor, g.role, 'USAGE'))
$$;
REVOKE EXECUTE ON FUNCTION ftstore.administers(name, integer) FROM PUBLIC;

-- Whether a role may read (holds any grant on), write (write or admin,
-- and clearance too if the dataset is restricted) or see the restricted
-- content of a dataset, as the policies would decide for it.  For the
-- SECURITY DEFINER functions, which pass the actor explicitly.
CREATE FUNCTION ftstore.actor_holds(actor name, dataset_id integer, privilege text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH held AS (
	SELECT g.privilege
	FROM ftstore.dataset_grants g
	WHERE g.dataset_id OPERATOR(pg_catalog.=) actor_holds.dataset_id
	  AND pg_catalog.pg_has_role(actor_holds.actor, g.role, 'USAGE')
)
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
			   WHERE r.rolname OPERATOR(pg_catalog.=) actor_holds.actor
				 AND (r.rolsuper OR r.rolbypassrls))
	OR CASE actor_holds.privilege
		WHEN 'read' THEN EXISTS (SELECT 1 FROM held h
								 WHERE h.privilege OPERATOR(pg_catalog.<>) 'clearance')
		WHEN 'write' THEN EXISTS (SELECT 1 FROM held h
								  WHERE h.privilege OPERATOR(pg_catalog.=) ANY ('{write,admin}'::text[]))
			AND (NOT (SELECT d.restricted FROM ftstore.datasets d
					  WHERE d.id OPERATOR(pg_catalog.=) actor_holds.dataset_id)
				 OR EXISTS (SELECT 1 FROM held h
							WHERE h.privilege OPERATOR(pg_catalog.=) 'clearance'))
		WHEN 'clearance' THEN EXISTS (SELECT 1 FROM held h
									  WHERE h.privilege OPERATOR(pg_catalog.=) 'clearance')
		ELSE false
	END
$$;
REVOKE EXECUTE ON FUNCTION ftstore.actor_holds(name, integer, text) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Row-level security.  Each table gets one policy per command; FORCE so
-- that the tables' owner is held to them too (superusers never are).
-- ---------------------------------------------------------------------------

ALTER TABLE ftstore.samples ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.samples FORCE ROW LEVEL SECURITY;
ALTER TABLE ftstore.rejects ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.rejects FORCE ROW LEVEL SECURITY;
ALTER TABLE ftstore.imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.imports FORCE ROW LEVEL SECURITY;
ALTER TABLE ftstore.datasets ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.datasets FORCE ROW LEVEL SECURITY;
ALTER TABLE ftstore.dataset_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.dataset_grants FORCE ROW LEVEL SECURITY;
ALTER TABLE ftstore.duplicates ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.duplicates FORCE ROW LEVEL SECURITY;

-- No statistics of values for the columns that hold content.  The planner
-- hands a column's statistics to LEAKPROOF operators even for a role that
-- row-level security filters, and =, < and the like on text, bytea and
-- ftsample are LEAKPROOF: the row estimate of EXPLAIN ... WHERE source =
-- 'guess', or source < 'prefix', would tell a reader which values hidden
-- rows hold (the most common values, the histogram's bounds), a hidden
-- sample's exact text, or through the fingerprint that a hidden dataset
-- holds a duplicate of a known text.  The cost: estimates on these
-- columns fall back to PostgreSQL's defaults, which the lookups by
-- (dataset_id, ...) indexes do not need.  Counts (pg_class.reltuples) and
-- the statistics of dataset_id, restricted and the like remain.  ANALYZE
-- leaves what it gathered before a column was set to 0, so an update
-- script that adds a column here must also delete its pg_statistic rows.
ALTER TABLE ftstore.samples
	ALTER COLUMN sample SET STATISTICS 0,
	ALTER COLUMN source SET STATISTICS 0,
	ALTER COLUMN fingerprint SET STATISTICS 0,
	ALTER COLUMN labels SET STATISTICS 0;
ALTER TABLE ftstore.rejects
	ALTER COLUMN source SET STATISTICS 0,
	ALTER COLUMN raw SET STATISTICS 0,
	ALTER COLUMN message SET STATISTICS 0,
	ALTER COLUMN detail SET STATISTICS 0,
	ALTER COLUMN path SET STATISTICS 0;
ALTER TABLE ftstore.imports
	ALTER COLUMN source SET STATISTICS 0;
ALTER TABLE ftstore.datasets
	ALTER COLUMN name SET STATISTICS 0,
	ALTER COLUMN description SET STATISTICS 0;
-- A key, but one whose common values are the kept samples of the largest
-- groups: the estimate of duplicate_of = id would tell a reader that a
-- hidden sample has, say, 300 duplicates.  Nothing looks marks up by it
-- but within a dataset, through the primary key.
ALTER TABLE ftstore.duplicates
	ALTER COLUMN duplicate_of SET STATISTICS 0;

-- A restricted sample needs clearance even in a dataset that is not
-- restricted.  The WITH CHECK of UPDATE means that only a cleared role can
-- mark a sample restricted: the row it writes must stay visible to it.
CREATE POLICY samples_select ON ftstore.samples FOR SELECT
	USING (dataset_id = ANY ((SELECT ftstore.readable_datasets())::integer[])
		   AND (NOT restricted
				OR dataset_id = ANY ((SELECT ftstore.granted_datasets('clearance'))::integer[])));
CREATE POLICY samples_insert ON ftstore.samples FOR INSERT
	WITH CHECK (dataset_id = ANY ((SELECT ftstore.writable_datasets())::integer[])
				AND (NOT restricted
					 OR dataset_id = ANY ((SELECT ftstore.granted_datasets('clearance'))::integer[])));
CREATE POLICY samples_update ON ftstore.samples FOR UPDATE
	USING (dataset_id = ANY ((SELECT ftstore.writable_datasets())::integer[])
		   AND (NOT restricted
				OR dataset_id = ANY ((SELECT ftstore.granted_datasets('clearance'))::integer[])))
	WITH CHECK (dataset_id = ANY ((SELECT ftstore.writable_datasets())::integer[])
				AND (NOT restricted
					 OR dataset_id = ANY ((SELECT ftstore.granted_datasets('clearance'))::integer[])));
CREATE POLICY samples_delete ON ftstore.samples FOR DELETE
	USING (dataset_id = ANY ((SELECT ftstore.writable_datasets())::integer[])
		   AND (NOT restricted
				OR dataset_id = ANY ((SELECT ftstore.granted_datasets('clearance'))::integer[])));

-- A mark is seen exactly when its sample is (the same test, on the copy of
-- the sample's flag).  Only dedup_exact and the triggers above write marks,
-- as the table's owner: no policy lets any other role write them.
CREATE POLICY duplicates_select ON ftstore.duplicates FOR SELECT
	USING (dataset_id = ANY ((SELECT ftstore.readable_datasets())::integer[])
		   AND (NOT restricted
				OR dataset_id = ANY ((SELECT ftstore.granted_datasets('clearance'))::integer[])));

-- A reject holds the raw text of a record, so it is content too.
CREATE POLICY rejects_select ON ftstore.rejects FOR SELECT
	USING (dataset_id = ANY ((SELECT ftstore.readable_datasets())::integer[]));
CREATE POLICY rejects_insert ON ftstore.rejects FOR INSERT
	WITH CHECK (dataset_id = ANY ((SELECT ftstore.writable_datasets())::integer[]));
CREATE POLICY rejects_update ON ftstore.rejects FOR UPDATE
	USING (dataset_id = ANY ((SELECT ftstore.writable_datasets())::integer[]))
	WITH CHECK (dataset_id = ANY ((SELECT ftstore.writable_datasets())::integer[]));
CREATE POLICY rejects_delete ON ftstore.rejects FOR DELETE
	USING (dataset_id = ANY ((SELECT ftstore.writable_datasets())::integer[]));

CREATE POLICY imports_select ON ftstore.imports FOR SELECT
	USING (dataset_id = ANY ((SELECT ftstore.readable_datasets())::integer[]));
CREATE POLICY imports_insert ON ftstore.imports FOR INSERT
	WITH CHECK (dataset_id = ANY ((SELECT ftstore.writable_datasets())::integer[]));

-- A dataset's name is visible to every role with a grant on it, restricted
-- or not.  Datasets are created through create_dataset(), which also makes
-- the creator their admin: a plain INSERT (import_data into a new name,
-- say) could not do that, and INSERT ... ON CONFLICT would have to see the
-- new row before any grant on it exists.
CREATE POLICY datasets_select ON ftstore.datasets FOR SELECT
	USING (id = ANY ((SELECT ftstore.granted_datasets('read'))::integer[]));
CREATE POLICY datasets_update ON ftstore.datasets FOR UPDATE
	USING (id = ANY ((SELECT ftstore.granted_datasets('admin'))::integer[]))
	WITH CHECK (id = ANY ((SELECT ftstore.granted_datasets('admin'))::integer[]));
CREATE POLICY datasets_delete ON ftstore.datasets FOR DELETE
	USING (id = ANY ((SELECT ftstore.granted_datasets('admin'))::integer[]));

-- A role sees the grants that apply to it, and nothing else: the policy
-- may not call granted_datasets(), which reads this table.  Grants are
-- written only by grant() and revoke().
CREATE POLICY dataset_grants_select ON ftstore.dataset_grants FOR SELECT
	USING (pg_catalog.pg_has_role(current_user, role, 'USAGE'));

-- The duplicate marks follow their samples.  A mark carries its sample's
-- restricted flag, which the policy on the marks reads: it is copied
-- whenever the sample's changes.  dedup_exact ranks restricted and
-- unrestricted samples apart, so no visible sample is marked the duplicate
-- of a hidden one; a change of restriction would break that, so it is
-- mended at once: a newly restricted sample's visible duplicates are
-- ranked again among the unrestricted members of their group (the
-- earliest kept, the others pointing at it), and a newly visible sample
-- loses a mark that points at a hidden one (the next dedup_exact ranks it
-- with the visible ones).  SECURITY DEFINER because no role writes the
-- marks itself, and because the whole group must be seen.
--
-- The dataset's row is locked as dedup_exact locks it, so the two take
-- turns: a ranking that read the sample before this change was committed
-- would otherwise write marks this trigger never saw, leaving a visible
-- sample marked the duplicate of one just hidden.  Under READ COMMITTED
-- the one that waited reads the other's work in its next statement.
-- XXX: under REPEATABLE READ the waiter keeps its older snapshot, so the
-- race stays open there; closing it would take a write both sides
-- conflict on (the dataset's row updated rather than locked).
CREATE FUNCTION ftstore.samples_restriction_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM 1 FROM ftstore.datasets d WHERE d.id = NEW.dataset_id
	FOR NO KEY UPDATE;

	UPDATE ftstore.duplicates m
	SET restricted = NEW.restricted
	WHERE m.dataset_id = NEW.dataset_id AND m.sample_id = NEW.id;

	IF NEW.restricted THEN
		WITH keep AS (
			SELECT pg_catalog.min(m.sample_id) AS id
			FROM ftstore.duplicates m
			WHERE m.dataset_id = NEW.dataset_id
			  AND m.duplicate_of = NEW.id
			  AND NOT m.restricted
		),
		promoted AS (
			DELETE FROM ftstore.duplicates m
			USING keep
			WHERE m.dataset_id = NEW.dataset_id AND m.sample_id = keep.id
		)
		UPDATE ftstore.duplicates m
		SET duplicate_of = keep.id
		FROM keep
		WHERE m.dataset_id = NEW.dataset_id
		  AND m.duplicate_of = NEW.id
		  AND NOT m.restricted
		  AND m.sample_id <> keep.id;
	ELSE
		DELETE FROM ftstore.duplicates m
		WHERE m.dataset_id = NEW.dataset_id AND m.sample_id = NEW.id
		  AND EXISTS (SELECT 1 FROM ftstore.samples s
					  WHERE s.dataset_id = NEW.dataset_id
						AND s.id = m.duplicate_of AND s.restricted);
	END IF;
	RETURN NULL;
END;
$$;

CREATE TRIGGER samples_restriction_duplicates AFTER UPDATE OF restricted ON ftstore.samples
	FOR EACH ROW WHEN (NEW.restricted IS DISTINCT FROM OLD.restricted)
	EXECUTE FUNCTION ftstore.samples_restriction_changed();

-- A deleted sample's mark goes with it.  Marks pointing at a deleted kept
-- sample stay until dedup_exact ranks the group again (docs/dedup.md).
-- The datasets' rows are locked first, in id order, for the reason given
-- above: a dedup_exact that ranked the deleted samples would otherwise
-- mark them after this trigger ran, marks whose samples are gone.
CREATE FUNCTION ftstore.samples_forget_marks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		TRUNCATE ftstore.duplicates;
	ELSE
		PERFORM 1 FROM ftstore.datasets d
		WHERE d.id IN (SELECT o.dataset_id FROM old_rows o)
		ORDER BY d.id
		FOR NO KEY UPDATE;
		DELETE FROM ftstore.duplicates m
		USING old_rows o
		WHERE m.dataset_id = o.dataset_id AND m.sample_id = o.id;
	END IF;
	RETURN NULL;
END;
$$;

CREATE TRIGGER samples_delete_marks AFTER DELETE ON ftstore.samples
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.samples_forget_marks();
CREATE TRIGGER samples_truncate_marks AFTER TRUNCATE ON ftstore.samples
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.samples_forget_marks();

-- ---------------------------------------------------------------------------
-- The audit trail.
-- ---------------------------------------------------------------------------

CREATE FUNCTION ftstore.audit_log_refuse() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'the audit log is append-only'
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = pg_catalog.format('%s on ftstore.audit_log is refused for every role.',
										 TG_OP);
END;
$$;

-- A restore of a dump copies the trail back with its ids first and sets
-- the id sequence last; what the restore itself logs in between (it
-- creates datasets and stores samples) would take ids the trail holds.  An
-- id at or below the highest stored one moves past it, and the sequence
-- with it.  The trail is append-only, so the highest id is the last entry,
-- one index probe away.  Only an id this session just drew from the
-- sequence moves: an entry that brings its own (the same dump restored a
-- second time) keeps it and meets the primary key, rather than entering
-- the trail twice.
CREATE FUNCTION ftstore.audit_log_number() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	top		bigint;
	seq		text := pg_catalog.pg_get_serial_sequence('ftstore.audit_log', 'id');
	drawn	boolean;
BEGIN
	SELECT a.id INTO top FROM ftstore.audit_log a ORDER BY a.id DESC LIMIT 1;
	IF top IS NOT NULL AND NEW.id <= top THEN
		BEGIN
			drawn := NEW.id = pg_catalog.currval(seq);
		EXCEPTION WHEN object_not_in_prerequisite_state THEN
			drawn := false;		-- no id drawn yet in this session
		END;
		IF drawn THEN
			NEW.id := top + 1;
			PERFORM pg_catalog.setval(seq, NEW.id);
		END IF;
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER audit_log_number BEFORE INSERT ON ftstore.audit_log
	FOR EACH ROW EXECUTE FUNCTION ftstore.audit_log_number();
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON ftstore.audit_log
	FOR EACH ROW EXECUTE FUNCTION ftstore.audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON ftstore.audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.audit_log_refuse();

-- Rows written by one statement, one audit row per dataset: a bulk import
-- of a million samples costs a few audit rows, not a million.  The
-- functions are SECURITY DEFINER because no role may write the log itself.
CREATE FUNCTION ftstore.audit_rows_as() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	action text := pg_catalog.lower(TG_OP);
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO ftstore.audit_log (actor, action, dataset_id, dataset, detail)
		SELECT ftstore.current_actor(), action, n.dataset_id,
			   (SELECT d.name FROM ftstore.datasets d WHERE d.id = n.dataset_id),
			   pg_catalog.jsonb_build_object('table', TG_TABLE_NAME,
											 'rows', pg_catalog.count(*),
											 'first_id', pg_catalog.min(n.id),
											 'last_id', pg_catalog.max(n.id))
		FROM new_rows n
		GROUP BY n.dataset_id;
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO ftstore.audit_log (actor, action, dataset_id, dataset, detail)
		SELECT ftstore.current_actor(), action, o.dataset_id,
			   (SELECT d.name FROM ftstore.datasets d WHERE d.id = o.dataset_id),
			   pg_catalog.jsonb_build_object('table', TG_TABLE_NAME,
											 'rows', pg_catalog.count(*),
											 'first_id', pg_catalog.min(o.id),
											 'last_id', pg_catalog.max(o.id))
		FROM old_rows o
		GROUP BY o.dataset_id;
	ELSE
		INSERT INTO ftstore.audit_log (actor, action, dataset_id, dataset, detail)
		SELECT ftstore.current_actor(), action, n.dataset_id,
			   (SELECT d.name FROM ftstore.datasets d WHERE d.id = n.dataset_id),
			   pg_catalog.jsonb_build_object('table', TG_TABLE_NAME,
											 'rows', pg_catalog.count(*),
											 'first_id', pg_catalog.min(n.id),
											 'last_id', pg_catalog.max(n.id))
		FROM new_rows n
		GROUP BY n.dataset_id;
	END IF;
	RETURN NULL;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.audit_rows_as() FROM PUBLIC;

-- Its entry point, run as the role whose statement fired it (caller.c).
CREATE FUNCTION ftstore.audit_rows() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ft_trigger_as_caller';

CREATE FUNCTION ftstore.audit_truncate_as() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO ftstore.audit_log (actor, action, detail)
	VALUES (ftstore.current_actor(), 'truncate',
			pg_catalog.jsonb_build_object('table', TG_TABLE_NAME));
	RETURN NULL;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.audit_truncate_as() FROM PUBLIC;

-- Its entry point, run as the role whose statement fired it (caller.c).
CREATE FUNCTION ftstore.audit_truncate() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ft_trigger_as_caller';

CREATE TRIGGER samples_audit_insert AFTER INSERT ON ftstore.samples
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.audit_rows();
CREATE TRIGGER samples_audit_update AFTER UPDATE ON ftstore.samples
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.audit_rows();
CREATE TRIGGER samples_audit_delete AFTER DELETE ON ftstore.samples
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.audit_rows();
CREATE TRIGGER samples_audit_truncate AFTER TRUNCATE ON ftstore.samples
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.audit_truncate();

CREATE TRIGGER rejects_audit_insert AFTER INSERT ON ftstore.rejects
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.audit_rows();
CREATE TRIGGER rejects_audit_update AFTER UPDATE ON ftstore.rejects
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.audit_rows();
CREATE TRIGGER rejects_audit_delete AFTER DELETE ON ftstore.rejects
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.audit_rows();
CREATE TRIGGER rejects_audit_truncate AFTER TRUNCATE ON ftstore.rejects
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.audit_truncate();

-- One row per import call: who imported what from where.
CREATE FUNCTION ftstore.audit_import_as() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO ftstore.audit_log (actor, action, dataset_id, dataset, detail)
	VALUES (ftstore.current_actor(), 'import', NEW.dataset_id,
			(SELECT d.name FROM ftstore.datasets d WHERE d.id = NEW.dataset_id),
			pg_catalog.jsonb_build_object('source', NEW.source,
										  'format', NEW.format,
										  'records_read', NEW.records_read,
										  'imported', NEW.imported,
										  'rejected', NEW.rejected,
										  'skipped', NEW.skipped));
	RETURN NULL;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.audit_import_as() FROM PUBLIC;

-- Its entry point, run as the role whose statement fired it (caller.c).
CREATE FUNCTION ftstore.audit_import() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ft_trigger_as_caller';

CREATE TRIGGER imports_audit AFTER INSERT ON ftstore.imports
	FOR EACH ROW EXECUTE FUNCTION ftstore.audit_import();

-- Datasets: created, changed (name, restriction), deleted.
CREATE FUNCTION ftstore.audit_dataset_as() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	actor name := ftstore.current_actor();
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO ftstore.audit_log (actor, action, dataset_id, dataset, detail)
		VALUES (actor, 'create_dataset', NEW.id, NEW.name,
				pg_catalog.jsonb_build_object('restricted', NEW.restricted));
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO ftstore.audit_log (actor, action, dataset_id, dataset, detail)
		VALUES (actor, 'update_dataset', NEW.id, NEW.name,
				pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
					'old_name', CASE WHEN OLD.name <> NEW.name THEN OLD.name END,
					'restricted', NEW.restricted,
					'was_restricted', OLD.restricted)));
	ELSE
		INSERT INTO ftstore.audit_log (actor, action, dataset_id, dataset, detail)
		VALUES (actor, 'delete_dataset', OLD.id, OLD.name, '{}');
	END IF;
	RETURN NULL;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.audit_dataset_as() FROM PUBLIC;

-- Its entry point, run as the role whose statement fired it (caller.c).
CREATE FUNCTION ftstore.audit_dataset() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ft_trigger_as_caller';

CREATE TRIGGER datasets_audit AFTER INSERT OR UPDATE OR DELETE ON ftstore.datasets
	FOR EACH ROW EXECUTE FUNCTION ftstore.audit_dataset();

-- Every change to the grants, through grant() and revoke() or not.
CREATE FUNCTION ftstore.audit_grant_as() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g		ftstore.dataset_grants;
BEGIN
	IF TG_OP = 'DELETE' THEN
		g := OLD;
	ELSE
		g := NEW;
	END IF;
	INSERT INTO ftstore.audit_log (actor, action, dataset_id, dataset, detail)
	VALUES (ftstore.current_actor(),
			CASE TG_OP WHEN 'INSERT' THEN 'grant' WHEN 'DELETE' THEN 'revoke'
				ELSE 'update_grant' END,
			g.dataset_id,
			(SELECT d.name FROM ftstore.datasets d WHERE d.id = g.dataset_id),
			pg_catalog.jsonb_build_object('role', g.role::text,
										  'privilege', g.privilege));
	RETURN NULL;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.audit_grant_as() FROM PUBLIC;

-- Its entry point, run as the role whose statement fired it (caller.c).
CREATE FUNCTION ftstore.audit_grant() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ft_trigger_as_caller';

CREATE TRIGGER dataset_grants_audit AFTER INSERT OR UPDATE OR DELETE
	ON ftstore.dataset_grants
	FOR EACH ROW EXECUTE FUNCTION ftstore.audit_grant();

-- export() reads with the caller's rights and cannot log (it is STABLE);
-- export_audited() is the same export, logged.  The log entry is the
-- caller's own claim, so the function that writes it takes no actor.
CREATE FUNCTION ftstore.log_export_as(dataset text, format text, lines bigint, actor name)
RETURNS void
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ds		ftstore.datasets;
BEGIN
	-- The log is evidence: nobody may write an export of a dataset they
	-- cannot read, nor a count that no export could have.  Running as the
	-- owner, the checks name the actor explicitly.
	SELECT * INTO ds FROM ftstore.datasets d
	WHERE d.name OPERATOR(pg_catalog.=) log_export_as.dataset;
	IF ds.id IS NULL
		OR NOT (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
						WHERE r.rolname OPERATOR(pg_catalog.=) actor AND r.rolsuper)
				OR (EXISTS (SELECT 1 FROM ftstore.dataset_grants g
							WHERE g.dataset_id OPERATOR(pg_catalog.=) ds.id
							  AND g.privilege OPERATOR(pg_catalog.=) ANY ('{read,write,admin}'::text[])
							  AND pg_catalog.pg_has_role(actor, g.role, 'USAGE'))
					AND (NOT ds.restricted
						 OR EXISTS (SELECT 1 FROM ftstore.dataset_grants g
									WHERE g.dataset_id OPERATOR(pg_catalog.=) ds.id
									  AND g.privilege OPERATOR(pg_catalog.=) 'clearance'
									  AND pg_catalog.pg_has_role(actor, g.role, 'USAGE')))))
	THEN
		RAISE EXCEPTION 'permission denied to read dataset "%"', log_export_as.dataset
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF log_export_as.lines OPERATOR(pg_catalog.<) 0 THEN
		RAISE EXCEPTION 'an export cannot have written % lines', log_export_as.lines
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO ftstore.audit_log (actor, action, dataset_id, dataset, detail)
	VALUES (actor, 'export', ds.id, ds.name,
			pg_catalog.jsonb_build_object('format', log_export_as.format,
										  'lines', log_export_as.lines));
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.log_export_as(text, text, bigint, name) FROM PUBLIC;

CREATE FUNCTION ftstore.log_export(dataset text, format text, lines bigint)
RETURNS void
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'ft_call_as_caller';

REVOKE EXECUTE ON FUNCTION ftstore.log_export(text, text, bigint) FROM PUBLIC;

CREATE FUNCTION ftstore.export_audited(dataset text, format text DEFAULT 'openai',
									   include_duplicates boolean DEFAULT false)
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n		bigint;
BEGIN
	RETURN QUERY SELECT e FROM ftstore.export(dataset, format, include_duplicates) e;
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM ftstore.log_export(dataset, format, n);
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.export_audited(text, text, boolean) FROM PUBLIC;

COMMENT ON FUNCTION ftstore.export_audited(text, text, boolean) IS
	'ftstore.export, with an entry in the audit log';

-- ---------------------------------------------------------------------------
-- Granting and revoking.
-- ---------------------------------------------------------------------------

-- The caller is named by the entry point (caller.c), as the body runs as
-- its owner.  A dataset that does not exist and one the caller does not
-- administer give the same error, so that the error reveals no name.
CREATE FUNCTION ftstore.grant_as(dataset text, role name, privilege text, actor name)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ds		integer;
	grantee oid;
	added	integer;
BEGIN
	IF privilege IS NULL OR privilege NOT IN ('read', 'write', 'admin', 'clearance') THEN
		RAISE EXCEPTION 'unknown dataset privilege "%"', privilege
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The privileges are read, write, admin and clearance.';
	END IF;
	SELECT d.id INTO ds FROM ftstore.datasets d WHERE d.name = $1;
	IF ds IS NULL OR NOT ftstore.administers(actor, ds) THEN
		RAISE EXCEPTION 'permission denied to administer dataset "%"', dataset
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only roles holding the admin privilege on a dataset may grant or revoke on it.';
	END IF;
	SELECT r.oid INTO grantee FROM pg_catalog.pg_roles r WHERE r.rolname = $2;
	IF grantee IS NULL THEN
		RAISE EXCEPTION 'role "%" does not exist', role
			USING ERRCODE = 'undefined_object';
	END IF;
	INSERT INTO ftstore.dataset_grants (dataset_id, role, privilege, granted_by)
	VALUES (ds, grantee::regrole, privilege, actor)
	ON CONFLICT DO NOTHING;
	GET DIAGNOSTICS added = ROW_COUNT;
	RETURN added > 0;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.grant_as(text, name, text, name) FROM PUBLIC;

CREATE FUNCTION ftstore.grant(dataset text, role name, privilege text)
RETURNS boolean
LANGUAGE C
AS 'MODULE_PATHNAME', 'ft_call_as_caller';


CREATE FUNCTION ftstore.revoke_as(dataset text, role name, privilege text, actor name)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ds		integer;
	removed integer;
BEGIN
	IF privilege IS NULL OR privilege NOT IN ('read', 'write', 'admin', 'clearance') THEN
		RAISE EXCEPTION 'unknown dataset privilege "%"', privilege
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The privileges are read, write, admin and clearance.';
	END IF;
	SELECT d.id INTO ds FROM ftstore.datasets d WHERE d.name = $1;
	IF ds IS NULL OR NOT ftstore.administers(actor, ds) THEN
		RAISE EXCEPTION 'permission denied to administer dataset "%"', dataset
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only roles holding the admin privilege on a dataset may grant or revoke on it.';
	END IF;
	DELETE FROM ftstore.dataset_grants g
	WHERE g.dataset_id = ds
	  AND g.role = (SELECT r.oid FROM pg_catalog.pg_roles r
					WHERE r.rolname = $2)
	  AND g.privilege = $3;
	GET DIAGNOSTICS removed = ROW_COUNT;
	RETURN removed > 0;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.revoke_as(text, name, text, name) FROM PUBLIC;

CREATE FUNCTION ftstore.revoke(dataset text, role name, privilege text)
RETURNS boolean
LANGUAGE C
AS 'MODULE_PATHNAME', 'ft_call_as_caller';


-- A new dataset, administered by its creator (a superuser needs no grant).
-- Names are unique across the installation, so an existing name is an
-- error even when the caller cannot see that dataset.
CREATE FUNCTION ftstore.create_dataset_as(name text, description text,
										  restricted boolean, actor name)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ds		integer;
BEGIN
	INSERT INTO ftstore.datasets (name, description, restricted)
	VALUES ($1, $2, COALESCE($3, false))
	ON CONFLICT DO NOTHING
	RETURNING id INTO ds;
	IF ds IS NULL THEN
		RAISE EXCEPTION 'dataset "%" already exists', $1
			USING ERRCODE = 'duplicate_object';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
				   WHERE r.rolname = actor AND r.rolsuper) THEN
		INSERT INTO ftstore.dataset_grants (dataset_id, role, privilege, granted_by)
		VALUES (ds, pg_catalog.quote_ident(actor)::regrole, 'admin', actor);
	END IF;
	RETURN ds;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.create_dataset_as(text, text, boolean, name) FROM PUBLIC;

CREATE FUNCTION ftstore.create_dataset(name text, description text DEFAULT NULL,
									   restricted boolean DEFAULT false)
RETURNS integer
LANGUAGE C
AS 'MODULE_PATHNAME', 'ft_call_as_caller';

REVOKE EXECUTE ON FUNCTION ftstore.create_dataset(text, text, boolean) FROM PUBLIC;

COMMENT ON FUNCTION ftstore.create_dataset(text, text, boolean) IS
	'create a dataset administered by its creator; returns its id';

-- The grants of one dataset, for its administrators.
CREATE FUNCTION ftstore.grants_as(dataset text, actor name)
RETURNS TABLE (role text, privilege text, granted_by name, granted_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ds		integer;
BEGIN
	SELECT d.id INTO ds FROM ftstore.datasets d WHERE d.name = $1;
	IF ds IS NULL OR NOT ftstore.administers(actor, ds) THEN
		RAISE EXCEPTION 'permission denied to administer dataset "%"', dataset
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only roles holding the admin privilege on a dataset may list its grants_as.';
	END IF;
	RETURN QUERY
		SELECT g.role::text, g.privilege, g.granted_by, g.granted_at
		FROM ftstore.dataset_grants g
		WHERE g.dataset_id = ds
		ORDER BY 1, 2;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.grants_as(text, name) FROM PUBLIC;

CREATE FUNCTION ftstore.grants(dataset text)
RETURNS TABLE (role text, privilege text, granted_by name, granted_at timestamptz)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ft_call_as_caller';


-- DROP ROLE cannot see grants here; a later role could even get the OID.
-- XXX: nothing runs this by itself, as no event trigger fires on DROP ROLE.
CREATE FUNCTION ftstore.forget_dropped_roles() RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
WITH gone AS (
	DELETE FROM ftstore.dataset_grants g
	WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
					  WHERE r.oid OPERATOR(pg_catalog.=) g.role)
	RETURNING 1
)
SELECT pg_catalog.count(*) FROM gone
$$;

REVOKE EXECUTE ON FUNCTION ftstore.grant(text, name, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.revoke(text, name, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.grants(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.forget_dropped_roles() FROM PUBLIC;

COMMENT ON FUNCTION ftstore.grant(text, name, text) IS
	'grant a role read, write, admin or clearance on a dataset; true if it did not hold it';
COMMENT ON FUNCTION ftstore.revoke(text, name, text) IS
	'revoke a dataset privilege from a role; true if it held it';
COMMENT ON FUNCTION ftstore.grants(text) IS
	'the grants of a dataset, for its administrators';
COMMENT ON FUNCTION ftstore.forget_dropped_roles() IS
	'remove the grants of roles that were dropped; returns how many';

-- ---------------------------------------------------------------------------
-- Statistics without content, for the auditor and BI dashboards.  Not
-- security_invoker on purpose: it counts every dataset, and shows no
-- sample, reject or source.
-- ---------------------------------------------------------------------------

CREATE VIEW ftstore.dataset_stats WITH (security_barrier = true) AS
SELECT d.id AS dataset_id,
	   d.name AS dataset,
	   d.restricted,
	   d.created_at,
	   (SELECT count(*) FROM ftstore.samples s WHERE s.dataset_id = d.id) AS samples,
	   (SELECT count(*) FROM ftstore.duplicates m WHERE m.dataset_id = d.id) AS duplicates,
	   (SELECT count(*) FROM ftstore.samples s
		WHERE s.dataset_id = d.id AND s.restricted) AS restricted_samples,
	   (SELECT count(*) FROM ftstore.rejects r WHERE r.dataset_id = d.id) AS rejects,
	   (SELECT count(*) FROM ftstore.imports i WHERE i.dataset_id = d.id) AS imports,
	   (SELECT max(i.finished_at) FROM ftstore.imports i
		WHERE i.dataset_id = d.id) AS last_import_at
FROM ftstore.datasets d;

COMMENT ON VIEW ftstore.dataset_stats IS
	'per-dataset counts without content, for auditors and dashboards';

-- ---------------------------------------------------------------------------
-- Functions that touch stored data run only for the roles given them.
-- ---------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA ftstore FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.dataset_id(text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.dedup_exact(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.import_file(text, text, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.import_data(text, text, bytea, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.import_data(text, text, text, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.export(text, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.export_file(text, text, text, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.report(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.audit_rows() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.audit_truncate() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.audit_import() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.audit_dataset() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.audit_grant() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.audit_log_refuse() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.audit_log_number() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.samples_restriction_changed() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ftstore.samples_forget_marks() FROM PUBLIC;

-- The facets capability's functions that read or label stored samples,
-- where that capability has them.
DO $$
DECLARE
	f		regprocedure;
BEGIN
	FOR f IN SELECT p FROM unnest(ARRAY[
				pg_catalog.to_regprocedure('ftstore.facet_summary(text)'),
				pg_catalog.to_regprocedure('ftstore.label(text,jsonb,jsonb)'),
				pg_catalog.to_regprocedure('ftstore.unlabel(text,jsonb,text[])'),
				pg_catalog.to_regprocedure('ftstore.label_from_dataset_info(text,jsonb,text,jsonb)')]) p
			 WHERE p IS NOT NULL
	LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END;
$$;

-- The group roles and their privileges.  Repeatable: missing roles are
-- created, privileges granted again (a no-op when held), so it is also
-- how a new database of the cluster gets them.  Roles it finds are used as
-- they are; it never grants a role to a user.
CREATE FUNCTION ftstore.create_roles() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r		text;
	g		text;
BEGIN
	IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		RAISE EXCEPTION 'permission denied to create the ftstore roles'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only a superuser may run ftstore.create_roles().';
	END IF;

	FOREACH r IN ARRAY '{ftstore_reader,ftstore_curator,ftstore_admin,ftstore_auditor}'::text[]
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
		EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA ftstore TO %I', r);
	END LOOP;

	-- Each role has the privileges of the one before it.  Tested first,
	-- as granting a membership again raises a notice.
	IF NOT pg_catalog.pg_has_role('ftstore_curator', 'ftstore_reader', 'MEMBER') THEN
		GRANT ftstore_reader TO ftstore_curator;
	END IF;
	IF NOT pg_catalog.pg_has_role('ftstore_admin', 'ftstore_curator', 'MEMBER') THEN
		GRANT ftstore_curator TO ftstore_admin;
	END IF;

	-- reader: reads the rows of the datasets granted to it, through the
	-- tables and through every security_invoker view (which, running as
	-- the reader, shows no more than the tables do).
	GRANT SELECT ON ftstore.datasets, ftstore.samples, ftstore.rejects,
		ftstore.imports, ftstore.dataset_grants, ftstore.duplicates
		TO ftstore_reader;
	FOR r IN SELECT c.oid::regclass::text FROM pg_catalog.pg_class c
			 WHERE c.relnamespace = 'ftstore'::regnamespace AND c.relkind = 'v'
			   AND 'security_invoker=true' = ANY (c.reloptions)
	LOOP
		EXECUTE pg_catalog.format('GRANT SELECT ON %s TO ftstore_reader', r);
	END LOOP;
	GRANT EXECUTE ON FUNCTION ftstore.dataset_id(text, boolean),
		ftstore.export(text, text, boolean),
		ftstore.export_audited(text, text, boolean),
		ftstore.log_export(text, text, bigint),
		ftstore.export_file(text, text, text, text, boolean),
		ftstore.report(text)
		TO ftstore_reader;

	-- curator: imports, labels, deduplicates and deletes.  Not the
	-- columns a sample's identity and history are made of.
	GRANT INSERT (dataset_id, sample, source, record, line, labels, restricted)
		ON ftstore.samples TO ftstore_curator;
	GRANT UPDATE (sample, labels, restricted)
		ON ftstore.samples TO ftstore_curator;
	GRANT DELETE ON ftstore.samples TO ftstore_curator;
	GRANT INSERT, DELETE ON ftstore.rejects TO ftstore_curator;
	GRANT INSERT ON ftstore.imports TO ftstore_curator;
	GRANT EXECUTE ON FUNCTION ftstore.import_data(text, text, bytea, text, jsonb),
		ftstore.import_data(text, text, text, text, jsonb),
		ftstore.import_file(text, text, text, jsonb),
		ftstore.dedup_exact(text)
		TO ftstore_curator;

	-- The facets and tier capabilities', where they have them.
	FOR r, g IN SELECT p::text, x.grantee
			 FROM (VALUES ('ftstore.facet_summary(text)', 'ftstore_reader'),
						  ('ftstore.label(text,jsonb,jsonb)', 'ftstore_curator'),
						  ('ftstore.unlabel(text,jsonb,text[])', 'ftstore_curator'),
						  ('ftstore.label_from_dataset_info(text,jsonb,text,jsonb)',
						   'ftstore_curator'),
						  ('ftstore.blobs(ftstore.ftsample)', 'ftstore_reader'),
						  ('ftstore.blob(ftstore.ftsample,integer)', 'ftstore_reader'),
						  ('ftstore.store_blob(text,bytea,text)', 'ftstore_curator'),
						  ('ftstore.offload(text)', 'ftstore_admin')) x (f, grantee),
				  LATERAL pg_catalog.to_regprocedure(x.f) p
			 WHERE p IS NOT NULL
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', r, g);
	END LOOP;
	-- blob() asks, as the reader, which blob references it sees.
	IF pg_catalog.to_regclass('ftstore.blob_refs') IS NOT NULL THEN
		GRANT SELECT ON ftstore.blob_refs TO ftstore_reader;
	END IF;

	-- admin: creates, renames, restricts and deletes datasets, and grants.
	GRANT UPDATE (name, description, restricted), DELETE
		ON ftstore.datasets TO ftstore_admin;
	GRANT EXECUTE ON FUNCTION ftstore.create_dataset(text, text, boolean),
		ftstore.grant(text, name, text),
		ftstore.revoke(text, name, text),
		ftstore.grants(text),
		ftstore.forget_dropped_roles()
		TO ftstore_admin;

	-- auditor: the trail and the counts, never content.
	GRANT SELECT ON ftstore.audit_log, ftstore.dataset_stats TO ftstore_auditor;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.create_roles() FROM PUBLIC;

COMMENT ON FUNCTION ftstore.create_roles() IS
	'create the ftstore_reader, _curator, _admin and _auditor roles if missing and grant them their privileges';
