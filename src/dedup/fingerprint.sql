
-- Exact deduplication by fingerprint.  docs/dedup.md specifies the
-- fingerprint so that it can be recomputed outside the database.

CREATE FUNCTION ftstore.fingerprint(sample ftstore.ftsample) RETURNS bytea
	AS 'MODULE_PATHNAME', 'ftsample_fingerprint' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.fingerprint(sample ftstore.ftsample, fold_case boolean) RETURNS bytea
	AS 'MODULE_PATHNAME', 'ftsample_fingerprint_opts' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.normalize_text(t text, fold_case boolean DEFAULT false) RETURNS text
	AS 'MODULE_PATHNAME', 'ftstore_normalize_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
