/*-------------------------------------------------------------------------
 *
 * ftsample.c
 *	  The ftsample type's SQL interface: text and binary I/O, casts to and
 *	  from jsonb, equality, ordering and hashing.
 *
 * Equality is equality of the stored form, which is canonical: two samples
 * are equal when they hold the same messages, tools, media, label, unknown
 * keys and format of origin.  Ordering compares the stored bytes; it means
 * nothing to a reader but is total, which is all UNIQUE indexes need.
 *
 * The binary wire form is a version byte and the canonical JSON text, so a
 * driver that does not know the type can still read it, and receive goes
 * through exactly the checks text input does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "sample/ftsample.h"

#define FT_WIRE_VERSION 1

PG_FUNCTION_INFO_V1(ftsample_in);
PG_FUNCTION_INFO_V1(ftsample_out);
PG_FUNCTION_INFO_V1(ftsample_recv);
PG_FUNCTION_INFO_V1(ftsample_send);
PG_FUNCTION_INFO_V1(ftsample_from_jsonb);
PG_FUNCTION_INFO_V1(ftsample_to_jsonb);
PG_FUNCTION_INFO_V1(ftsample_parse);
PG_FUNCTION_INFO_V1(ftsample_eq);
PG_FUNCTION_INFO_V1(ftsample_ne);
PG_FUNCTION_INFO_V1(ftsample_lt);
PG_FUNCTION_INFO_V1(ftsample_le);
PG_FUNCTION_INFO_V1(ftsample_gt);
PG_FUNCTION_INFO_V1(ftsample_ge);
PG_FUNCTION_INFO_V1(ftsample_cmp);
PG_FUNCTION_INFO_V1(ftsample_hash);
PG_FUNCTION_INFO_V1(ftsample_hash_extended);
PG_FUNCTION_INFO_V1(ftsample_render);
PG_FUNCTION_INFO_V1(ftsample_render_text);

static FtFormat
format_arg(text *name, bool allow_auto)
{
	char	   *s = text_to_cstring(name);
	int			f = ft_format_from_name(s);

	if (f < 0 || (!allow_auto && f == FT_FORMAT_AUTO))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized sample format \"%s\"", s),
				 errhint("Valid formats are %sopenai, alpaca, sharegpt and text.",
						 allow_auto ? "auto, " : "")));
	return (FtFormat) f;
}

/*
 * Parse JSON text into a stored sample.  The common case takes the
 * one-pass parser of jsontext.c; whatever it does not vouch for takes the
 * general path, the pre-scan of the limits and then jsonb_in, so bad
 * input gets the same errors either way.  cstr is json as a NUL-terminated
 * string when the caller has one, else NULL.
 */
static Datum
sample_from_text(const char *json, size_t len, const char *cstr,
				 FtFormat hint)
{
	Jsonb	   *jb = ft_jsonb_from_text(json, len);

	if (jb == NULL)
	{
		ft_check_json_limits(json, len);
		/* jsonb_in wants a NUL-terminated string */
		if (cstr == NULL)
			cstr = pnstrdup(json, len);
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												CStringGetDatum(cstr)));
	}
	return PointerGetDatum(ft_encode(ft_parse_jsonb(jb, hint)));
}

/*
 * Parse JSON text into a stored sample.  The entry point for import: it
 * ereports on any fault, with the field path in the error's column name.
 */
Datum
ft_sample_from_text(const char *json, size_t len, FtFormat hint)
{
	return sample_from_text(json, len, NULL, hint);
}

FtSample *
ft_sample_from_datum(Datum d)
{
	return ft_decode(DatumGetFtSampleP(d));
}

Datum
ftsample_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	/* a cstring already ends at its first NUL: no copy needed */
	PG_RETURN_DATUM(sample_from_text(str, strlen(str), str, FT_FORMAT_AUTO));
}

/*
 * ftstore.ftsample(json text, format text): input with a format named
 * instead of detected.
 */
Datum
ftsample_parse(PG_FUNCTION_ARGS)
{
	text	   *json = PG_GETARG_TEXT_PP(0);
	FtFormat	hint = format_arg(PG_GETARG_TEXT_PP(1), true);

	PG_RETURN_DATUM(ft_sample_from_text(VARDATA_ANY(json),
										VARSIZE_ANY_EXHDR(json), hint));
}

Datum
ftsample_out(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	ft_write_canonical(&buf, s);
	PG_RETURN_CSTRING(buf.data);
}

Datum
ftsample_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			version = pq_getmsgint(buf, 1);
	int			nbytes;
	char	   *str;

	if (version != FT_WIRE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported ftsample binary version %d", version)));
	str = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);
	PG_RETURN_DATUM(ft_sample_from_text(str, nbytes, FT_FORMAT_AUTO));
}

Datum
ftsample_send(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	StringInfoData text;
	StringInfoData buf;

	initStringInfo(&text);
	ft_write_canonical(&text, s);
	pq_begintypsend(&buf);
	pq_sendint8(&buf, FT_WIRE_VERSION);
	pq_sendtext(&buf, text.data, text.len);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * A jsonb value skips the pre-scan of text input, so it gets the same
 * depth limit here: otherwise a sample cast from jsonb could be stored
 * whose canonical text, at the same setting, text input refuses, and a
 * dump of it would not restore.  The iterator is not recursive.
 */
static void
check_jsonb_depth(Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT)
		{
			if (++depth > ft_max_depth)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("sample is nested too deeply"),
						 errdetail("JSON nesting deeper than ftstore.max_depth (%d) is refused.",
								   ft_max_depth)));
		}
		else if (tok == WJB_END_ARRAY || tok == WJB_END_OBJECT)
			depth--;
	}
}

Datum
ftsample_from_jsonb(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = PG_GETARG_JSONB_P(0);

	/*
	 * XXX: the size limit, ftstore.max_sample_bytes, is on JSON text and is
	 * not applied here; jsonb's own limit (about 256 MB) bounds the value.
	 */
	check_jsonb_depth(jb);
	PG_RETURN_POINTER(ft_encode(ft_parse_jsonb(jb, FT_FORMAT_AUTO)));
}

Datum
ftsample_to_jsonb(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	ft_write_canonical(&buf, s);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * The order: by the hash of the uncompressed body, then by its bytes.  It
 * means nothing to a reader, but it is total and agrees with equality, and
 * it lets most pairs be ordered without decompressing either value.
 * Identical stored bytes mean equal samples.
 */
static int
sample_cmp(FunctionCallInfo fcinfo)
{
	struct varlena *a = PG_GETARG_FTSAMPLE_P(0);
	struct varlena *b = PG_GETARG_FTSAMPLE_P(1);
	struct varlena *ra;
	struct varlena *rb;
	int			la;
	int			lb;
	int			r;

	if (VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0)
		r = 0;
	else if (ft_body_hash(a) != ft_body_hash(b))
		r = ft_body_hash(a) < ft_body_hash(b) ? -1 : 1;
	else
	{
		ra = ft_raw(a);
		rb = ft_raw(b);
		la = VARSIZE_ANY_EXHDR(ra);
		lb = VARSIZE_ANY_EXHDR(rb);
		r = memcmp(VARDATA_ANY(ra), VARDATA_ANY(rb), Min(la, lb));
		if (r == 0)
			r = (la > lb) - (la < lb);
		if (ra != a)
			pfree(ra);
		if (rb != b)
			pfree(rb);
	}
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return r;
}

Datum
ftsample_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sample_cmp(fcinfo) == 0);
}

Datum
ftsample_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sample_cmp(fcinfo) != 0);
}

Datum
ftsample_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sample_cmp(fcinfo) < 0);
}

Datum
ftsample_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sample_cmp(fcinfo) <= 0);
}

Datum
ftsample_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sample_cmp(fcinfo) > 0);
}

Datum
ftsample_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sample_cmp(fcinfo) >= 0);
}

Datum
ftsample_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(sample_cmp(fcinfo));
}

Datum
ftsample_hash(PG_FUNCTION_ARGS)
{
	struct varlena *a = PG_GETARG_FTSAMPLE_P(0);

	PG_RETURN_INT32((int32) ft_body_hash(a));
}

Datum
ftsample_hash_extended(PG_FUNCTION_ARGS)
{
	struct varlena *a = PG_GETARG_FTSAMPLE_P(0);
	uint64		h = ft_body_hash(a);
	int64		seed = PG_GETARG_INT64(1);

	/* with seed 0 the low 32 bits must match ftsample_hash */
	if (seed != 0)
		h = DatumGetUInt64(hash_any_extended((unsigned char *) &h, sizeof(h),
											 (uint64) seed));
	PG_RETURN_INT64((int64) h);
}

/* ftstore.render_text(ftsample, format): one JSON line in that shape. */
Datum
ftsample_render_text(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	FtFormat	f = format_arg(PG_GETARG_TEXT_PP(1), false);
	StringInfoData buf;

	initStringInfo(&buf);
	ft_write_rendered(&buf, s, f);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/* ftstore.render(ftsample, format): the same as jsonb. */
Datum
ftsample_render(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	FtFormat	f = format_arg(PG_GETARG_TEXT_PP(1), false);
	StringInfoData buf;

	initStringInfo(&buf);
	ft_write_rendered(&buf, s, f);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
