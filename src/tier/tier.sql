
-- The cold tier: blobs (images, audio, video, long documents) that
-- samples reference by content address, their catalog, where their bytes
-- are (hot in a table, cold in an object store), who may reach them, and
-- the keys they are encrypted with.  docs/tier.md explains the design.
--
-- Comes after the security fragment: its policies use the helpers there.
-- No role below the extension's owner reads or writes these tables
-- directly but ftstore.blob_refs, whose rows follow the samples' policies;
-- everything else goes through the functions below.

-- One row per blob, keyed by the SHA-256 of its bytes.  The sample's
-- reference string holds what never changes (hash, size, media type);
-- this row holds what does.
CREATE TABLE ftstore.blob_catalog (
	sha256		bytea PRIMARY KEY CHECK (octet_length(sha256) = 32),
	bytes		bigint NOT NULL CHECK (bytes >= 0),
	media_type	text NOT NULL,
	tier		text NOT NULL DEFAULT 'hot' CHECK (tier IN ('hot', 'cold')),
	codec		text CHECK (codec IN ('none', 'zstd')),
	key_id		integer,
	stored_bytes bigint,
	mirrored	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT now(),
	offloaded_at timestamptz,
	verified_at timestamptz
);

COMMENT ON TABLE ftstore.blob_catalog IS
	'every blob: size, media type, tier (hot or cold), codec and key of its cold object';

-- Hot copies.  The bytes are stored as they come: compressing is the cold
-- tier's business, and most media are compressed already.
CREATE TABLE ftstore.blob_hot (
	sha256		bytea PRIMARY KEY
				REFERENCES ftstore.blob_catalog (sha256) ON DELETE CASCADE,
	data		bytea NOT NULL
);
ALTER TABLE ftstore.blob_hot ALTER COLUMN data SET STORAGE EXTERNAL;

COMMENT ON TABLE ftstore.blob_hot IS
	'the bytes of the blobs that are hot';

-- A dataset may reference only a blob it was given the bytes of: knowing
-- a hash is not enough to read the content behind it.
CREATE TABLE ftstore.blob_claims (
	dataset_id	integer NOT NULL REFERENCES ftstore.datasets (id) ON DELETE CASCADE,
	sha256		bytea NOT NULL
				REFERENCES ftstore.blob_catalog (sha256) ON DELETE CASCADE,
	PRIMARY KEY (dataset_id, sha256)
);
CREATE INDEX blob_claims_sha256_idx ON ftstore.blob_claims (sha256);

COMMENT ON TABLE ftstore.blob_claims IS
	'the blobs each dataset was given the bytes of, and so may reference';

-- Which sample references which blob, kept by the triggers below.  Its
-- foreign key to the catalog is what keeps the collector from removing a
-- referenced blob.  None to the samples: TRUNCATE ftstore.samples must
-- keep working, so the triggers remove the references of deleted and
-- truncated samples instead.
CREATE TABLE ftstore.blob_refs (
	sample_id	bigint NOT NULL,
	ordinal		integer NOT NULL,
	dataset_id	integer NOT NULL,
	sha256		bytea NOT NULL REFERENCES ftstore.blob_catalog (sha256),
	PRIMARY KEY (sample_id, ordinal)
);
CREATE INDEX blob_refs_sha256_idx ON ftstore.blob_refs (sha256);
CREATE INDEX blob_refs_dataset_idx ON ftstore.blob_refs (dataset_id);

COMMENT ON TABLE ftstore.blob_refs IS
	'the blobs each sample references; a row is visible exactly when its sample is';

-- The keys of AES-256-GCM.  Offloads encrypt under the newest key not
-- retired; an object names its key, so old keys stay until
-- ftstore.rekey_blobs() has rewritten their objects.
CREATE TABLE ftstore.blob_keys (
	id			integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	key			bytea NOT NULL CHECK (octet_length(key) = 32),
	retired		boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE ftstore.blob_keys IS
	'encryption keys of cold objects; readable by the extension owner only';

-- Content columns keep no statistics, as the samples' do
-- (src/security/security.sql): a leakproof operator's row estimate would
-- otherwise tell a role which hashes and media types hidden rows hold.
ALTER TABLE ftstore.blob_catalog ALTER COLUMN sha256 SET STATISTICS 0,
	ALTER COLUMN media_type SET STATISTICS 0, ALTER COLUMN tier SET STATISTICS 0,
	ALTER COLUMN codec SET STATISTICS 0;
ALTER TABLE ftstore.blob_hot ALTER COLUMN sha256 SET STATISTICS 0,
	ALTER COLUMN data SET STATISTICS 0;
ALTER TABLE ftstore.blob_claims ALTER COLUMN sha256 SET STATISTICS 0;
ALTER TABLE ftstore.blob_refs ALTER COLUMN sha256 SET STATISTICS 0;
ALTER TABLE ftstore.blob_keys ALTER COLUMN key SET STATISTICS 0;

ALTER TABLE ftstore.blob_catalog ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.blob_catalog FORCE ROW LEVEL SECURITY;
ALTER TABLE ftstore.blob_hot ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.blob_hot FORCE ROW LEVEL SECURITY;
ALTER TABLE ftstore.blob_claims ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.blob_claims FORCE ROW LEVEL SECURITY;
ALTER TABLE ftstore.blob_refs ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.blob_refs FORCE ROW LEVEL SECURITY;
ALTER TABLE ftstore.blob_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE ftstore.blob_keys FORCE ROW LEVEL SECURITY;

-- The extension's owner works on these tables through the functions
-- below; with FORCE ROW LEVEL SECURITY it needs a policy like any role.
-- Written out rather than a helper function, which every role evaluating
-- the policies of blob_refs would need EXECUTE on.
CREATE POLICY blob_catalog_owner ON ftstore.blob_catalog FOR ALL
	USING (pg_catalog.pg_has_role(current_user, (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ftstore'), 'USAGE'))
	WITH CHECK (pg_catalog.pg_has_role(current_user, (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ftstore'), 'USAGE'));
CREATE POLICY blob_hot_owner ON ftstore.blob_hot FOR ALL
	USING (pg_catalog.pg_has_role(current_user, (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ftstore'), 'USAGE'))
	WITH CHECK (pg_catalog.pg_has_role(current_user, (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ftstore'), 'USAGE'));
CREATE POLICY blob_claims_owner ON ftstore.blob_claims FOR ALL
	USING (pg_catalog.pg_has_role(current_user, (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ftstore'), 'USAGE'))
	WITH CHECK (pg_catalog.pg_has_role(current_user, (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ftstore'), 'USAGE'));
CREATE POLICY blob_keys_owner ON ftstore.blob_keys FOR ALL
	USING (pg_catalog.pg_has_role(current_user, (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ftstore'), 'USAGE'))
	WITH CHECK (pg_catalog.pg_has_role(current_user, (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ftstore'), 'USAGE'));

-- A reference is visible when its sample is: the subquery runs under the
-- samples' own policies (grants, restricted datasets and samples,
-- clearance), as the querying role.  Only the owner writes references.
CREATE POLICY blob_refs_select ON ftstore.blob_refs FOR SELECT
	USING (EXISTS (SELECT 1 FROM ftstore.samples s
				   WHERE s.id OPERATOR(pg_catalog.=) blob_refs.sample_id));
CREATE POLICY blob_refs_owner ON ftstore.blob_refs FOR ALL
	USING (pg_catalog.pg_has_role(current_user, (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ftstore'), 'USAGE'))
	WITH CHECK (pg_catalog.pg_has_role(current_user, (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ftstore'), 'USAGE'));

-- ftstore.create_roles() grants SELECT on blob_refs to ftstore_reader, so
-- that blob() can ask, as the caller, which references it sees; nothing
-- else of the tier is granted to any role.

-- Blobs and claims are the installation's data: pg_dump keeps them, keys
-- included (a dump without them could not read the cold tier).  Not
-- blob_refs: the trigger on ftstore.samples derives it again as a restore
-- copies the samples back (after the claims, which it checks: pg_dump
-- restores blob_* before samples), so a dump restores with no options.
SELECT pg_catalog.pg_extension_config_dump('ftstore.blob_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('ftstore.blob_hot', '');
SELECT pg_catalog.pg_extension_config_dump('ftstore.blob_claims', '');
SELECT pg_catalog.pg_extension_config_dump('ftstore.blob_keys', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ftstore.blob_keys', 'id'), '');

-- ---------------------------------------------------------------------------
-- References, kept in step with the samples.
-- ---------------------------------------------------------------------------

-- ROWS 1: most samples name no blob and the rest a few.  With the default
-- estimate of a thousand rows a call, the triggers' queries over a batch
-- of new samples looked costly enough for the planner to JIT-compile them,
-- which took twice as long as the import itself.
CREATE FUNCTION ftstore.blob_refs_of(sample ftstore.ftsample)
RETURNS TABLE (ordinal integer, sha256 bytea)
	AS 'MODULE_PATHNAME', 'ft_blob_refs_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	ROWS 1;

COMMENT ON FUNCTION ftstore.blob_refs_of(ftstore.ftsample) IS
	'ordinal and SHA-256 of each blob a sample references';

-- It fires when pg_dump's data is restored too, which is how blob_refs
-- comes back: pg_dump restores blob_claims before the samples.  With
-- triggers off (a data-only restore with --disable-triggers, or
-- session_replication_role = replica) blob_refs stays empty; the
-- collector then finds the references in the samples and records them
-- before it removes anything (collect() below).
--
-- Records the references of new and changed samples.  A sample may name
-- only blobs its dataset holds a claim on; anything else is refused, so a
-- role that knows (or guesses) another dataset's hash cannot make a
-- sample that opens it.  SECURITY DEFINER: no role writes blob_refs.
CREATE FUNCTION ftstore.blob_refs_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, ftstore, pg_temp
AS $$
DECLARE
	nrefs	bigint;
	badhex	text;
BEGIN
	IF TG_OP = 'UPDATE' THEN
		DELETE FROM ftstore.blob_refs r
		WHERE r.sample_id IN (SELECT n.id FROM new_rows n);
	END IF;

	-- The claims are checked before anything is written (a reference to a
	-- hash the catalog lacks must get the same answer as one to a hash of
	-- another dataset, or the error would tell which hashes exist), and
	-- most statements store no reference at all: then the samples are
	-- read once.
	SELECT pg_catalog.count(*),
		   (pg_catalog.array_agg(pg_catalog.encode(b.sha256, 'hex'))
			FILTER (WHERE NOT EXISTS (SELECT 1 FROM ftstore.blob_claims c
									  WHERE c.dataset_id = n.dataset_id
										AND c.sha256 = b.sha256)))[1]
	INTO nrefs, badhex
	FROM new_rows n, ftstore.blob_refs_of(n.sample) b;
	IF badhex IS NOT NULL THEN
		RAISE EXCEPTION 'sample references blob % which its dataset does not hold', badhex
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'A sample may reference only blobs stored in its own dataset.',
				  HINT = 'Store the bytes with ftstore.store_blob() or import them with the sample.';
	END IF;
	IF nrefs > 0 THEN
		INSERT INTO ftstore.blob_refs (sample_id, ordinal, dataset_id, sha256)
		SELECT n.id, b.ordinal, n.dataset_id, b.sha256
		FROM new_rows n, ftstore.blob_refs_of(n.sample) b;
	END IF;
	RETURN NULL;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.blob_refs_sync() FROM PUBLIC;

CREATE TRIGGER samples_blob_refs_insert AFTER INSERT ON ftstore.samples
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.blob_refs_sync();
CREATE TRIGGER samples_blob_refs_update AFTER UPDATE ON ftstore.samples
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.blob_refs_sync();

-- The references of deleted samples go with them (their blobs stay, for
-- the collector); a TRUNCATE of the samples truncates them all.
CREATE FUNCTION ftstore.blob_refs_forget() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, ftstore, pg_temp
AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		TRUNCATE ftstore.blob_refs;
	ELSE
		DELETE FROM ftstore.blob_refs r
		USING old_rows o
		WHERE r.sample_id = o.id;
	END IF;
	RETURN NULL;
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.blob_refs_forget() FROM PUBLIC;

CREATE TRIGGER samples_blob_refs_delete AFTER DELETE ON ftstore.samples
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.blob_refs_forget();
CREATE TRIGGER samples_blob_refs_truncate AFTER TRUNCATE ON ftstore.samples
	FOR EACH STATEMENT EXECUTE FUNCTION ftstore.blob_refs_forget();

-- ---------------------------------------------------------------------------
-- Reading.
-- ---------------------------------------------------------------------------

CREATE FUNCTION ftstore.blobs(sample ftstore.ftsample)
RETURNS TABLE (ordinal integer, sha256 text, bytes bigint, media_type text,
			   tier text)
	AS 'MODULE_PATHNAME', 'ft_blobs' LANGUAGE C STABLE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.blobs(ftstore.ftsample) FROM PUBLIC;

COMMENT ON FUNCTION ftstore.blobs(ftstore.ftsample) IS
	'the blobs a sample references: ordinal, SHA-256 in hex, size, media type, tier';

-- The checks are inside: the caller must see a sample that references
-- the blob (ftstore.blob_refs, under the row policies).  Like every
-- function of the security model, these are granted to the ftstore roles
-- by create_roles(), not to PUBLIC.
CREATE FUNCTION ftstore.blob(sample ftstore.ftsample, ordinal integer)
RETURNS bytea
	AS 'MODULE_PATHNAME', 'ft_blob' LANGUAGE C STABLE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.blob(ftstore.ftsample, integer) FROM PUBLIC;

COMMENT ON FUNCTION ftstore.blob(ftstore.ftsample, integer) IS
	'the bytes of a sample''s blob, fetched from wherever they are and checked against its hash';

-- ---------------------------------------------------------------------------
-- Writing, offloading, collecting.
-- ---------------------------------------------------------------------------

CREATE FUNCTION ftstore.store_blob(dataset text, data bytea,
								   media_type text DEFAULT NULL)
RETURNS text
	AS 'MODULE_PATHNAME', 'ft_store_blob' LANGUAGE C VOLATILE
	CALLED ON NULL INPUT;
REVOKE EXECUTE ON FUNCTION ftstore.store_blob(text, bytea, text) FROM PUBLIC;

COMMENT ON FUNCTION ftstore.store_blob(text, bytea, text) IS
	'store bytes as a blob of a dataset; returns the reference to put in a sample''s media list';

CREATE FUNCTION ftstore.offload(dataset text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ft_offload' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.offload(text) FROM PUBLIC;

COMMENT ON FUNCTION ftstore.offload(text) IS
	'move every hot blob of a dataset to the cold tier, verified; returns how many moved';

CREATE FUNCTION ftstore.offload_policy() RETURNS bigint
	AS 'MODULE_PATHNAME', 'ft_offload_policy' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.offload_policy() FROM PUBLIC;

COMMENT ON FUNCTION ftstore.offload_policy() IS
	'move every hot blob larger than ftstore.offload_threshold to the cold tier';

CREATE FUNCTION ftstore.start_offload_worker() RETURNS integer
	AS 'MODULE_PATHNAME', 'ft_start_offload_worker' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.start_offload_worker() FROM PUBLIC;

COMMENT ON FUNCTION ftstore.start_offload_worker() IS
	'start a background worker that applies the offload policy to this database; returns its pid';

CREATE FUNCTION ftstore.rekey_blobs(key_id integer) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ft_rekey_blobs' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.rekey_blobs(integer) FROM PUBLIC;

COMMENT ON FUNCTION ftstore.rekey_blobs(integer) IS
	'rewrite the cold objects under a key (0: unencrypted) under the active key';

CREATE FUNCTION ftstore.collect_objects() RETURNS bigint
	AS 'MODULE_PATHNAME', 'ft_collect_objects' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.collect_objects() FROM PUBLIC;

-- Mark and sweep.  Mark: a blob no sample references, stored longer ago
-- than the grace period, leaves the catalog (with its hot copy and
-- claims); one that gained a reference meanwhile is kept, as the foreign
-- key of blob_refs refuses its deletion.  Sweep (collect_objects): the
-- objects no catalog row calls cold go.  Nothing is removed on DELETE of
-- a sample.
CREATE FUNCTION ftstore.collect(OUT blobs bigint, OUT objects bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, ftstore, pg_temp
AS $$
DECLARE
	h		bytea;
	n		integer;
	cand	bytea[];
BEGIN
	blobs := 0;

	-- blob_refs is kept by triggers, and a restore with triggers off (or a
	-- trigger disabled by hand) leaves it short; the samples are the
	-- truth.  Before any deletion, the candidates are looked for in the
	-- samples themselves, one scan, and references found there are
	-- recorded again: a blob a sample names is never collected.
	SELECT pg_catalog.array_agg(c.sha256) INTO cand
	FROM ftstore.blob_catalog c
	WHERE c.created_at <= pg_catalog.now()
			- pg_catalog.current_setting('ftstore.collect_grace')::interval
	  AND NOT EXISTS (SELECT 1 FROM ftstore.blob_refs r WHERE r.sha256 = c.sha256);
	IF cand IS NOT NULL THEN
		INSERT INTO ftstore.blob_refs (sample_id, ordinal, dataset_id, sha256)
		SELECT s.id, b.ordinal, s.dataset_id, b.sha256
		FROM ftstore.samples s, ftstore.blob_refs_of(s.sample) b
		WHERE b.sha256 = ANY (cand)
		ON CONFLICT DO NOTHING;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n > 0 THEN
			RAISE WARNING 'collector found % blob references missing from ftstore.blob_refs, and recorded them', n
				USING DETAIL = 'Their blobs are kept.',
					  HINT = 'A restore with triggers off, or a trigger of ftstore.samples disabled, leaves references unrecorded.';
		END IF;
	END IF;

	FOR h IN SELECT c.sha256 FROM ftstore.blob_catalog c
			 WHERE c.created_at <= pg_catalog.now()
					 - pg_catalog.current_setting('ftstore.collect_grace')::interval
			   AND NOT EXISTS (SELECT 1 FROM ftstore.blob_refs r
							   WHERE r.sha256 = c.sha256)
	LOOP
		BEGIN
			DELETE FROM ftstore.blob_catalog c
			WHERE c.sha256 = h
			  AND NOT EXISTS (SELECT 1 FROM ftstore.blob_refs r
							  WHERE r.sha256 = h);
			GET DIAGNOSTICS n = ROW_COUNT;
			blobs := blobs + n;
		EXCEPTION WHEN foreign_key_violation THEN
			NULL;				-- referenced meanwhile: kept
		END;
		-- XXX A reference added while this row's deletion is uncommitted
		-- waits, then fails its foreign key check: the writer gets the
		-- error, not the collector.  Only a blob unreferenced for the whole
		-- grace period is exposed.

	END LOOP;
	objects := ftstore.collect_objects();
END;
$$;
REVOKE EXECUTE ON FUNCTION ftstore.collect() FROM PUBLIC;

COMMENT ON FUNCTION ftstore.collect() IS
	'remove unreferenced blobs and orphaned cold objects older than ftstore.collect_grace';
