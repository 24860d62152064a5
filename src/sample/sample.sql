\echo Use "CREATE EXTENSION ftstore" to load this file. \quit

-- Fine-tuning data is Unicode.  Fingerprints (NFC), writing-system facets
-- and character counts are defined on Unicode code points, and in another
-- server encoding the same sample would get other answers, so ftstore
-- lives only in UTF-8 databases.
DO $$
BEGIN
	IF pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.<>) 'UTF8' THEN
		RAISE EXCEPTION 'ftstore requires a UTF8 database, not %',
			pg_catalog.getdatabaseencoding()
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Create the database with ENCODING ''UTF8''.';
	END IF;
END
$$;

-- The dataset-sample type.  Input takes one sample as JSON in any of the
-- formats ftstore reads; output is canonical JSON in OpenAI chat shape.

CREATE TYPE ftstore.ftsample;

CREATE FUNCTION ftstore.ftsample_in(cstring) RETURNS ftstore.ftsample
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.ftsample_out(ftstore.ftsample) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.ftsample_recv(internal) RETURNS ftstore.ftsample
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.ftsample_send(ftstore.ftsample) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE ftstore.ftsample (
	INPUT = ftstore.ftsample_in,
	OUTPUT = ftstore.ftsample_out,
	RECEIVE = ftstore.ftsample_recv,
	SEND = ftstore.ftsample_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = external
);

COMMENT ON TYPE ftstore.ftsample IS 'one fine-tuning sample in canonical form';

-- Input with the format named rather than detected.
CREATE FUNCTION ftstore.ftsample(json text, format text)
	RETURNS ftstore.ftsample
	AS 'MODULE_PATHNAME', 'ftsample_parse' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Casts to and from jsonb.
CREATE FUNCTION ftstore.ftsample(jsonb) RETURNS ftstore.ftsample
	AS 'MODULE_PATHNAME', 'ftsample_from_jsonb' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.jsonb(ftstore.ftsample) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'ftsample_to_jsonb' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (jsonb AS ftstore.ftsample) WITH FUNCTION ftstore.ftsample(jsonb);
CREATE CAST (ftstore.ftsample AS jsonb) WITH FUNCTION ftstore.jsonb(ftstore.ftsample);

-- Equality, ordering and hashing on the canonical stored form.
CREATE FUNCTION ftstore.ftsample_eq(ftstore.ftsample, ftstore.ftsample) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ftstore.ftsample_ne(ftstore.ftsample, ftstore.ftsample) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ftstore.ftsample_lt(ftstore.ftsample, ftstore.ftsample) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ftstore.ftsample_le(ftstore.ftsample, ftstore.ftsample) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ftstore.ftsample_gt(ftstore.ftsample, ftstore.ftsample) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ftstore.ftsample_ge(ftstore.ftsample, ftstore.ftsample) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ftstore.ftsample_cmp(ftstore.ftsample, ftstore.ftsample) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ftstore.ftsample_hash(ftstore.ftsample) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ftstore.ftsample_hash_extended(ftstore.ftsample, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR ftstore.= (
	LEFTARG = ftstore.ftsample, RIGHTARG = ftstore.ftsample,
	FUNCTION = ftstore.ftsample_eq,
	COMMUTATOR = OPERATOR(ftstore.=), NEGATOR = OPERATOR(ftstore.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR ftstore.<> (
	LEFTARG = ftstore.ftsample, RIGHTARG = ftstore.ftsample,
	FUNCTION = ftstore.ftsample_ne,
	COMMUTATOR = OPERATOR(ftstore.<>), NEGATOR = OPERATOR(ftstore.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR ftstore.< (
	LEFTARG = ftstore.ftsample, RIGHTARG = ftstore.ftsample,
	FUNCTION = ftstore.ftsample_lt,
	COMMUTATOR = OPERATOR(ftstore.>), NEGATOR = OPERATOR(ftstore.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR ftstore.<= (
	LEFTARG = ftstore.ftsample, RIGHTARG = ftstore.ftsample,
	FUNCTION = ftstore.ftsample_le,
	COMMUTATOR = OPERATOR(ftstore.>=), NEGATOR = OPERATOR(ftstore.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR ftstore.> (
	LEFTARG = ftstore.ftsample, RIGHTARG = ftstore.ftsample,
	FUNCTION = ftstore.ftsample_gt,
	COMMUTATOR = OPERATOR(ftstore.<), NEGATOR = OPERATOR(ftstore.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR ftstore.>= (
	LEFTARG = ftstore.ftsample, RIGHTARG = ftstore.ftsample,
	FUNCTION = ftstore.ftsample_ge,
	COMMUTATOR = OPERATOR(ftstore.<=), NEGATOR = OPERATOR(ftstore.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS ftstore.ftsample_ops
	DEFAULT FOR TYPE ftstore.ftsample USING btree AS
	OPERATOR 1 ftstore.<,
	OPERATOR 2 ftstore.<=,
	OPERATOR 3 ftstore.=,
	OPERATOR 4 ftstore.>=,
	OPERATOR 5 ftstore.>,
	FUNCTION 1 ftstore.ftsample_cmp(ftstore.ftsample, ftstore.ftsample);

CREATE OPERATOR CLASS ftstore.ftsample_hash_ops
	DEFAULT FOR TYPE ftstore.ftsample USING hash AS
	OPERATOR 1 ftstore.=,
	FUNCTION 1 ftstore.ftsample_hash(ftstore.ftsample),
	FUNCTION 2 ftstore.ftsample_hash_extended(ftstore.ftsample, bigint);

-- Renderings.
CREATE FUNCTION ftstore.render(sample ftstore.ftsample, format text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'ftsample_render' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.render_text(sample ftstore.ftsample, format text) RETURNS text
	AS 'MODULE_PATHNAME', 'ftsample_render_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Accessors.
CREATE FUNCTION ftstore.messages(sample ftstore.ftsample,
	OUT ordinal integer, OUT section text, OUT role text, OUT content text,
	OUT name text, OUT weight integer, OUT tool_calls jsonb, OUT tool_call_id text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ftsample_messages' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	ROWS 6;
CREATE FUNCTION ftstore.roles(sample ftstore.ftsample) RETURNS text[]
	AS 'MODULE_PATHNAME', 'ftsample_roles' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.turns(sample ftstore.ftsample) RETURNS integer
	AS 'MODULE_PATHNAME', 'ftsample_turns' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.prompt_text(sample ftstore.ftsample) RETURNS text
	AS 'MODULE_PATHNAME', 'ftsample_prompt_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.response_text(sample ftstore.ftsample) RETURNS text
	AS 'MODULE_PATHNAME', 'ftsample_response_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.char_count(sample ftstore.ftsample) RETURNS integer
	AS 'MODULE_PATHNAME', 'ftsample_char_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.token_count(sample ftstore.ftsample) RETURNS integer
	AS 'MODULE_PATHNAME', 'ftsample_token_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.format(sample ftstore.ftsample) RETURNS text
	AS 'MODULE_PATHNAME', 'ftsample_format' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.kind(sample ftstore.ftsample) RETURNS text
	AS 'MODULE_PATHNAME', 'ftsample_kind' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
