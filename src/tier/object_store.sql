
-- The cold tier's object stores, for administrators: put, get, look up,
-- delete and list objects in the store a URL names (file:///dir or
-- s3://bucket/prefix).  Superuser-only: they reach any object of any
-- store the server can, so EXECUTE is revoked from PUBLIC.

CREATE FUNCTION ftstore.object_put(url text, key text, data bytea)
RETURNS void
	AS 'MODULE_PATHNAME', 'ft_object_put' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.object_put(text, text, bytea) FROM PUBLIC;
COMMENT ON FUNCTION ftstore.object_put(text, text, bytea) IS
	'stores data under key in the object store url, replacing any object of that key';

CREATE FUNCTION ftstore.object_get(url text, key text)
RETURNS bytea
	AS 'MODULE_PATHNAME', 'ft_object_get' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.object_get(text, text) FROM PUBLIC;
COMMENT ON FUNCTION ftstore.object_get(text, text) IS
	'the bytes of the object key in the object store url, NULL if there is none';

CREATE FUNCTION ftstore.object_head(url text, key text)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'ft_object_head' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.object_head(text, text) FROM PUBLIC;
COMMENT ON FUNCTION ftstore.object_head(text, text) IS
	'the size in bytes of the object key in the object store url, NULL if there is none';

CREATE FUNCTION ftstore.object_delete(url text, key text)
RETURNS boolean
	AS 'MODULE_PATHNAME', 'ft_object_delete' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.object_delete(text, text) FROM PUBLIC;
COMMENT ON FUNCTION ftstore.object_delete(text, text) IS
	'removes the object key from the object store url; false if there was none';

CREATE FUNCTION ftstore.object_list(url text, prefix text DEFAULT '')
RETURNS TABLE (key text, bytes bigint, modified timestamptz)
	AS 'MODULE_PATHNAME', 'ft_object_list' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.object_list(text, text) FROM PUBLIC;
COMMENT ON FUNCTION ftstore.object_list(text, text) IS
	'every object of the object store url whose key starts with prefix';

-- The Authorization header the S3 store would send for a request, with
-- the configured region and credentials: lets a test compare the signer
-- with an independent one.  host and x-amz-date come from url and
-- amz_date unless headers names them.
CREATE FUNCTION ftstore.s3_sign_request(method text, url text, headers jsonb,
										payload_hash text, amz_date text,
										service text DEFAULT 's3')
RETURNS text
	AS 'MODULE_PATHNAME', 'ft_s3_sign_request' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ftstore.s3_sign_request(text, text, jsonb, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION ftstore.s3_sign_request(text, text, jsonb, text, text, text) IS
	'the SigV4 Authorization header of a fixed request, for checking the signer';
