
-- Validation (src/validate/validate.c, src/sample/tokens.c): every problem a
-- fine-tuning record has, one row each.  docs/validation.md lists the codes.

CREATE FUNCTION ftstore.estimate_tokens(text)
RETURNS integer
AS 'MODULE_PATHNAME', 'ftstore_estimate_tokens'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION ftstore.estimate_tokens(text) IS
'approximate token count for BPE tokenizers such as cl100k';

CREATE FUNCTION ftstore.validate(doc jsonb, max_tokens integer DEFAULT 16385)
RETURNS TABLE (severity text, code text, path text, message text)
AS 'MODULE_PATHNAME', 'ftstore_validate'
LANGUAGE C IMMUTABLE STRICT PARALLEL UNSAFE
ROWS 2;

COMMENT ON FUNCTION ftstore.validate(jsonb, integer) IS
'problems of a fine-tuning record: severity, code, JSON path and message';
