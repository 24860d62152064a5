
-- Facets: what a sample is (format, kind, roles, tools, media, turns,
-- length, system prompt, script, language), derived from the sample and
-- served by a GIN index on the sample column; labels: what curators say of
-- it, kept in samples.labels and served by a GIN index of their own.
-- docs/facets.md documents every key.

CREATE FUNCTION ftstore.facets(sample ftstore.ftsample) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'ftsample_facets'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF COST 100;
COMMENT ON FUNCTION ftstore.facets(ftstore.ftsample) IS
	'the facets of a sample as jsonb (keys documented in docs/facets.md)';

CREATE FUNCTION ftstore.facet_array(sample ftstore.ftsample) RETURNS text[]
	AS 'MODULE_PATHNAME', 'ftsample_facet_array'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF COST 100;
COMMENT ON FUNCTION ftstore.facet_array(ftstore.ftsample) IS
	'the facets of a sample as key=value strings, for BI tools';

-- The operators answer as jsonb's would on ftstore.facets(sample).  They
-- raise no error that depends on the sample (only a corrupt stored value,
-- which says nothing of its content), hence LEAKPROOF: row-level security
-- may then push them into an index scan.  They read the facet block at the
-- start of the stored sample, never the body, so they cost about as much
-- as a jsonb containment test on a small document (COST 10).
-- contsel rather than matchingsel: matchingsel would run the operator on
-- every sample of the column's statistics at each planning, which costs
-- milliseconds.  XXX: a facet-aware estimator would size common values.
CREATE FUNCTION ftstore.ftsample_facets_contains(ftstore.ftsample, jsonb)
	RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	COST 10;
CREATE FUNCTION ftstore.ftsample_facets_exists(ftstore.ftsample, text)
	RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	COST 10;
CREATE FUNCTION ftstore.ftsample_facets_exists_any(ftstore.ftsample, text[])
	RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	COST 10;
CREATE FUNCTION ftstore.ftsample_facets_exists_all(ftstore.ftsample, text[])
	RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	COST 10;

CREATE OPERATOR ftstore.@> (
	LEFTARG = ftstore.ftsample, RIGHTARG = jsonb,
	FUNCTION = ftstore.ftsample_facets_contains,
	RESTRICT = contsel, JOIN = contjoinsel
);
CREATE OPERATOR ftstore.? (
	LEFTARG = ftstore.ftsample, RIGHTARG = text,
	FUNCTION = ftstore.ftsample_facets_exists,
	RESTRICT = contsel, JOIN = contjoinsel
);
CREATE OPERATOR ftstore.?| (
	LEFTARG = ftstore.ftsample, RIGHTARG = text[],
	FUNCTION = ftstore.ftsample_facets_exists_any,
	RESTRICT = contsel, JOIN = contjoinsel
);
CREATE OPERATOR ftstore.?& (
	LEFTARG = ftstore.ftsample, RIGHTARG = text[],
	FUNCTION = ftstore.ftsample_facets_exists_all,
	RESTRICT = contsel, JOIN = contjoinsel
);

-- The GIN support functions (src/facets/gin.c).
CREATE FUNCTION ftstore.ftsample_gin_extract_value(ftstore.ftsample, internal, internal)
	RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.ftsample_gin_extract_query(internal, internal, int2, internal,
	internal, internal, internal)
	RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.ftsample_gin_consistent(internal, int2, internal, int4,
	internal, internal, internal, internal)
	RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.ftsample_gin_triconsistent(internal, int2, internal, int4,
	internal, internal, internal)
	RETURNS "char"
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ftstore.ftsample_gin_compare_partial(int8, int8, int2, internal)
	RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Entries are int8: a packed signature of the facets, the turn count and
-- the media counts (see "Index entries" in src/facets/facets.c).
CREATE OPERATOR CLASS ftstore.ftsample_facet_ops
	DEFAULT FOR TYPE ftstore.ftsample USING gin AS
	OPERATOR 7 ftstore.@> (ftstore.ftsample, jsonb),
	OPERATOR 9 ftstore.? (ftstore.ftsample, text),
	OPERATOR 10 ftstore.?| (ftstore.ftsample, text[]),
	OPERATOR 11 ftstore.?& (ftstore.ftsample, text[]),
	FUNCTION 1 btint8cmp(int8, int8),
	FUNCTION 2 ftstore.ftsample_gin_extract_value(ftstore.ftsample, internal, internal),
	FUNCTION 3 ftstore.ftsample_gin_extract_query(internal, internal, int2, internal,
		internal, internal, internal),
	FUNCTION 4 ftstore.ftsample_gin_consistent(internal, int2, internal, int4,
		internal, internal, internal, internal),
	FUNCTION 5 ftstore.ftsample_gin_compare_partial(int8, int8, int2, internal),
	FUNCTION 6 ftstore.ftsample_gin_triconsistent(internal, int2, internal, int4,
		internal, internal, internal),
	STORAGE int8;

-- Labels containment that row-level security lets use an index.  Core
-- jsonb @> is not LEAKPROOF, so under the policies PostgreSQL must filter
-- every row by the policy before it may apply a caller's @>, and the
-- labels index goes unused.  ftstore.@> on (jsonb, jsonb) is the same C
-- function, jsonb_contains, declared LEAKPROOF.  Why that is sound:
--   - it returns true or false from its two arguments and raises no error
--     that depends on them but three: a corrupt stored value (the message
--     names no content), a stack overflow in its recursion, and an
--     allocation over 1 GB for an array of tens of millions of elements;
--   - the recursion goes only as deep as the stored value nests, and the
--     array it allocates is as long as a stored array, so the last two
--     could tell a caller that a hidden row holds very deep or very long
--     labels.  samples_labels_bounded keeps every stored labels value
--     under 33 levels and 1 MB, where neither error can happen.
-- Superuser-only to create (CREATE EXTENSION is).  XXX: the operator takes
-- any jsonb; a later jsonb column under row-level security must carry the
-- same bound before queries compare it with ftstore.@>.
CREATE FUNCTION ftstore.labels_contain(jsonb, jsonb) RETURNS boolean
	AS 'jsonb_contains'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION ftstore.labels_contain(jsonb, jsonb) IS
	'jsonb containment, leakproof for bounded labels: the function behind ftstore.@> on labels';

ALTER TABLE ftstore.samples ADD CONSTRAINT samples_labels_bounded
	CHECK (pg_column_size(labels) <= 1048576
		   AND NOT jsonb_path_exists(labels, 'strict $.**{33 to last}'));

-- contsel, a fixed estimate, rather than core @>'s matchingsel: the
-- planner gives a leakproof operator the column's statistics even for a
-- role under row-level security, and matchingsel's estimate from the most
-- common values would tell that role, through EXPLAIN, which labels hidden
-- rows carry.
CREATE OPERATOR ftstore.@> (
	LEFTARG = jsonb, RIGHTARG = jsonb,
	FUNCTION = ftstore.labels_contain,
	RESTRICT = contsel, JOIN = contjoinsel
);

-- jsonb_path_ops' support functions, which pick the containment search by
-- the strategy number (7), so entries and answers are jsonb_path_ops'.
CREATE OPERATOR CLASS ftstore.labels_path_ops
	FOR TYPE jsonb USING gin AS
	OPERATOR 7 ftstore.@> (jsonb, jsonb),
	FUNCTION 1 btint4cmp(int4, int4),
	FUNCTION 2 gin_extract_jsonb_path(jsonb, internal, internal),
	FUNCTION 3 gin_extract_jsonb_query_path(jsonb, internal, int2, internal,
		internal, internal, internal),
	FUNCTION 4 gin_consistent_jsonb_path(internal, int2, jsonb, int4,
		internal, internal, internal, internal),
	FUNCTION 6 gin_triconsistent_jsonb_path(internal, int2, jsonb, int4,
		internal, internal, internal),
	STORAGE int4;

-- The indexes: facets of the sample, and labels.  A query on both can
-- combine them (BitmapAnd).  Labels have two: samples_labels_rls_idx
-- serves ftstore.@>, for every role; samples_labels_idx serves core @>,
-- which only roles without policies (superusers) get an index scan from.
-- XXX: drop samples_labels_idx once every query is written with ftstore.@>;
-- until then each labels change updates both.
CREATE INDEX samples_facets_idx ON ftstore.samples USING gin (sample);
CREATE INDEX samples_labels_idx ON ftstore.samples USING gin (labels jsonb_path_ops);
CREATE INDEX samples_labels_rls_idx ON ftstore.samples
	USING gin (labels ftstore.labels_path_ops);

-- Counts per facet value of one dataset: one row per (facet, value), an
-- array facet counting each of its elements.
CREATE FUNCTION ftstore.facet_summary(dataset text)
RETURNS TABLE (facet text, value text, samples bigint)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT split_part(f, '=', 1), substr(f, strpos(f, '=') + 1), count(*)
FROM ftstore.samples s,
	LATERAL unnest(ftstore.facet_array(s.sample)) AS f
WHERE s.dataset_id = ftstore.dataset_id(facet_summary.dataset)
GROUP BY 1, 2
ORDER BY 1, 3 DESC, 2
$$;

-- One row per sample with each facet in a column of a plain type, and the
-- labels, for BI tools.  A filter on these columns is computed row by row;
-- the index serves a filter written on the sample (sample @> ...).
CREATE VIEW ftstore.samples_facets_bi WITH (security_invoker = true) AS
SELECT
	s.id,
	d.name AS dataset,
	f.facets ->> 'format' AS format,
	f.facets ->> 'kind' AS kind,
	ARRAY(SELECT jsonb_array_elements_text(f.facets -> 'roles')) AS roles,
	(f.facets ->> 'turns')::integer AS turns,
	f.facets ->> 'length' AS length,
	f.facets ->> 'script' AS script,
	f.facets ->> 'lang' AS lang,
	f.facets ? 'tools' AS tools,
	f.facets ? 'tool_calls' AS tool_calls,
	f.facets ? 'system' AS system,
	coalesce((f.facets ->> 'images')::integer, 0) AS images,
	coalesce((f.facets ->> 'videos')::integer, 0) AS videos,
	coalesce((f.facets ->> 'audios')::integer, 0) AS audios,
	f.facets,
	ftstore.facet_array(s.sample) AS facet_array,
	s.labels,
	CASE WHEN EXISTS (SELECT 1 FROM ftstore.duplicates m
					  WHERE m.dataset_id = s.dataset_id AND m.sample_id = s.id)
		 THEN 'duplicate' ELSE 'active' END AS status,
	s.sample
FROM ftstore.samples s
JOIN ftstore.datasets d ON d.id = s.dataset_id,
	LATERAL (SELECT ftstore.facets(s.sample) AS facets) f;

COMMENT ON VIEW ftstore.samples_facets_bi IS
	'samples with their facets in plain columns and their labels, for BI tools';

-- Labels.  Each function runs with its caller's rights: it changes only
-- the rows the caller may update.

-- Merge labels into the labels of the dataset's samples whose facets
-- contain filter (NULL or {} for all of them).  Returns the number of
-- samples whose labels changed.
CREATE FUNCTION ftstore.label(dataset text, filter jsonb, labels jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ds integer := ftstore.dataset_id(label.dataset);
	changed bigint;
BEGIN
	IF labels IS NULL OR jsonb_typeof(labels) <> 'object' THEN
		RAISE EXCEPTION 'labels must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				DETAIL = 'Labels are key/value pairs merged into samples.labels.';
	END IF;
	IF filter IS NOT NULL AND jsonb_typeof(filter) <> 'object' THEN
		RAISE EXCEPTION 'the filter must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				DETAIL = 'The filter is matched against ftstore.facets(sample) with @>.';
	END IF;
	UPDATE ftstore.samples s
	SET labels = s.labels || label.labels
	WHERE s.dataset_id = ds
		AND (label.filter IS NULL
			 OR s.sample OPERATOR(ftstore.@>) label.filter)
		AND (s.labels || label.labels) IS DISTINCT FROM s.labels;
	GET DIAGNOSTICS changed = ROW_COUNT;
	RETURN changed;
END;
$$;

-- Remove label keys from the dataset's samples whose facets contain
-- filter.  Returns the number of samples whose labels changed.
CREATE FUNCTION ftstore.unlabel(dataset text, filter jsonb, keys text[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ds integer := ftstore.dataset_id(unlabel.dataset);
	changed bigint;
BEGIN
	IF filter IS NOT NULL AND jsonb_typeof(filter) <> 'object' THEN
		RAISE EXCEPTION 'the filter must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				DETAIL = 'The filter is matched against ftstore.facets(sample) with @>.';
	END IF;
	UPDATE ftstore.samples s
	SET labels = s.labels - unlabel.keys
	WHERE s.dataset_id = ds
		AND (unlabel.filter IS NULL
			 OR s.sample OPERATOR(ftstore.@>) unlabel.filter)
		AND s.labels ?| unlabel.keys;
	GET DIAGNOSTICS changed = ROW_COUNT;
	RETURN changed;
END;
$$;

-- The labels that an entry of LLaMA-Factory's dataset_info.json gives a
-- dataset's samples: source (the entry's name), file (file_name, or
-- hf_hub_url, ms_hub_url, script_url, cloud_file_name), formatting
-- (default "alpaca", as LLaMA-Factory's), split (default "train"),
-- ranking (true for preference data), subset and folder when given, and
-- the entry's columns and tags objects as they are.
CREATE FUNCTION ftstore.dataset_info_labels(info jsonb, entry text)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e jsonb := info -> entry;
BEGIN
	IF e IS NULL OR jsonb_typeof(e) <> 'object' THEN
		RAISE EXCEPTION 'dataset_info has no entry "%"', entry
			USING ERRCODE = 'undefined_object',
				DETAIL = 'dataset_info.json maps each dataset name to an object.';
	END IF;
	RETURN jsonb_strip_nulls(jsonb_build_object(
		'source', entry,
		'file', coalesce(e -> 'file_name', e -> 'hf_hub_url', e -> 'ms_hub_url',
						 e -> 'script_url', e -> 'cloud_file_name'),
		'formatting', coalesce(e -> 'formatting', '"alpaca"'),
		'split', coalesce(e -> 'split', '"train"'),
		'ranking', coalesce(e -> 'ranking', 'false'),
		'subset', e -> 'subset',
		'folder', e -> 'folder',
		'columns', e -> 'columns',
		'tags', e -> 'tags'));
END;
$$;

-- Label the dataset's samples (those whose facets contain filter) from an
-- entry of dataset_info.json.  Returns the number of samples changed.
CREATE FUNCTION ftstore.label_from_dataset_info(dataset text, info jsonb,
	entry text, filter jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
SELECT ftstore.label(dataset, filter, ftstore.dataset_info_labels(info, entry))
$$;
