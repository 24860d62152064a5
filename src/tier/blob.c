/*-------------------------------------------------------------------------
 *
 * blob.c
 *	  Blob references in samples, and the SQL functions that list and read
 *	  a sample's blobs.
 *
 * A sample's media lists (images, videos, audios) hold strings.  One of
 * the form "ftblob:sha256:<64 hex>:<bytes>:<media type>" names a blob: its
 * content address and what never changes about it.  Where its bytes are
 * (hot or cold), how they are stored and whether they were verified is
 * mutable state, kept in ftstore.blob_catalog.
 *
 * Blob bytes are reachable only through a sample row the caller may read:
 * ftstore.blob() first checks, with the caller's rights and so under the
 * row policies, that a row of ftstore.blob_refs names the blob (a
 * reference is visible exactly when its sample is), and only then reads
 * the bytes with the rights of the extension's owner.  A sample literal
 * naming someone else's hash therefore gets nothing.  No function here is
 * called by the type's output function: printing a sample (pg_dump, COPY)
 * never fetches anything.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "sample/ftsample.h"
#include "tier/tier.h"

PG_FUNCTION_INFO_V1(ft_blob_refs_of);
PG_FUNCTION_INFO_V1(ft_blobs);
PG_FUNCTION_INFO_V1(ft_blob);
PG_FUNCTION_INFO_V1(ft_store_blob);

void
ft_sha256(const char *data, size_t len, uint8 *out)
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 ||
		n != FT_SHA256_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));
}

void
ft_hex(const uint8 *bytes, int len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < len; i++)
	{
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0F];
	}
	out[2 * len] = '\0';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Parses a media string as a blob reference.  Returns false for any other
 * string (a path, a URL), and for a malformed reference.
 */
bool
ft_blob_parse_ref(const char *p, int len, FtBlobRef *ref)
{
	const char *end = p + len;
	const char *q;
	int64		bytes = 0;

	if (len < FT_BLOB_REF_PREFIX_LEN + FT_SHA256_HEX_LEN + 4 ||
		memcmp(p, FT_BLOB_REF_PREFIX, FT_BLOB_REF_PREFIX_LEN) != 0)
		return false;
	q = p + FT_BLOB_REF_PREFIX_LEN;
	for (int i = 0; i < FT_SHA256_LEN; i++)
	{
		int			hi = hex_value(q[2 * i]);
		int			lo = hex_value(q[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		ref->sha256[i] = (uint8) (hi << 4 | lo);
	}
	memcpy(ref->hex, q, FT_SHA256_HEX_LEN);
	ref->hex[FT_SHA256_HEX_LEN] = '\0';
	q += FT_SHA256_HEX_LEN;
	if (*q++ != ':' || q >= end || *q < '0' || *q > '9')
		return false;
	while (q < end && *q >= '0' && *q <= '9')
	{
		if (bytes > (PG_INT64_MAX - 9) / 10)
			return false;
		bytes = bytes * 10 + (*q++ - '0');
	}
	if (q >= end || *q++ != ':' || q >= end)
		return false;
	ref->bytes = bytes;
	ref->media_type = pnstrdup(q, end - q);
	return true;
}

char *
ft_blob_make_ref(const uint8 *sha256, int64 bytes, const char *media_type)
{
	char		hex[FT_SHA256_HEX_LEN + 1];

	ft_hex(sha256, FT_SHA256_LEN, hex);
	return psprintf(FT_BLOB_REF_PREFIX "%s:" INT64_FORMAT ":%s",
					hex, bytes, media_type);
}

/*
 * The media type of a file, from its first bytes, else from its name's
 * extension.  Only what the tier's choices need: whether to compress.
 */
const char *
ft_media_type_of(const char *data, size_t len, const char *name)
{
	const unsigned char *u = (const unsigned char *) data;
	const char *dot = name ? strrchr(name, '.') : NULL;

	if (len >= 3 && u[0] == 0xFF && u[1] == 0xD8 && u[2] == 0xFF)
		return "image/jpeg";
	if (len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (len >= 6 && (memcmp(data, "GIF87a", 6) == 0 ||
					 memcmp(data, "GIF89a", 6) == 0))
		return "image/gif";
	if (len >= 12 && memcmp(data, "RIFF", 4) == 0 &&
		memcmp(data + 8, "WEBP", 4) == 0)
		return "image/webp";
	if (len >= 12 && memcmp(data, "RIFF", 4) == 0 &&
		memcmp(data + 8, "WAVE", 4) == 0)
		return "audio/wav";
	if (len >= 12 && memcmp(data + 4, "ftyp", 4) == 0)
		return "video/mp4";
	if (len >= 4 && memcmp(data, "\x1a\x45\xdf\xa3", 4) == 0)
		return "video/webm";
	if (len >= 3 && memcmp(data, "ID3", 3) == 0)
		return "audio/mpeg";
	if (len >= 4 && memcmp(data, "fLaC", 4) == 0)
		return "audio/flac";
	if (len >= 4 && memcmp(data, "OggS", 4) == 0)
		return "audio/ogg";
	if (len >= 5 && memcmp(data, "%PDF-", 5) == 0)
		return "application/pdf";
	if (dot)
	{
		if (pg_strcasecmp(dot, ".txt") == 0 || pg_strcasecmp(dot, ".md") == 0)
			return "text/plain";
		if (pg_strcasecmp(dot, ".json") == 0)
			return "application/json";
		if (pg_strcasecmp(dot, ".mp3") == 0)
			return "audio/mpeg";
	}
	return "application/octet-stream";
}

/* ---------------------------------------------------------------------
 * The owner's rights.
 * ---------------------------------------------------------------------
 */

/*
 * A plan kept for the session: the lookups of every blob() call are
 * planned once.  The plan cache plans again when the role changes, so row
 * policies stay those of the role running it.
 */
SPIPlanPtr
ft_tier_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/* The role that owns the extension, and so the tier's tables. */
Oid
ft_tier_owner(void)
{
	static SPIPlanPtr plan = NULL;
	Oid			owner;
	bool		isnull;
	int			ret;

	ret = SPI_execute_plan(ft_tier_plan(&plan,
										"SELECT extowner FROM pg_catalog.pg_extension"
										" WHERE extname OPERATOR(pg_catalog.=) 'ftstore'",
										0, NULL),
						   NULL, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "extension ftstore is not installed in this database");
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	return owner;
}

/*
 * Acts as the extension's owner until ft_tier_restore_user, as a SECURITY
 * DEFINER function would.  An error in between needs no restore: the
 * (sub)transaction's abort puts the user back.  Must be called inside SPI.
 */
void
ft_tier_become_owner(Oid *save_userid, int *save_sec)
{
	Oid			owner = ft_tier_owner();

	GetUserIdAndSecContext(save_userid, save_sec);
	SetUserIdAndSecContext(owner, *save_sec | SECURITY_LOCAL_USERID_CHANGE);
}

void
ft_tier_restore_user(Oid save_userid, int save_sec)
{
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * Stores a blob hot, unless the catalog already has it, and records that
 * the dataset holds it (a claim: only a dataset that was given the bytes
 * may reference them).  Must be called inside SPI; sha256 gets the hash.
 */
void
ft_blob_store_hot(int32 dataset_id, const char *data, size_t len,
				  const char *media_type, uint8 *sha256)
{
	Oid			argtypes[4] = {BYTEAOID, INT8OID, TEXTOID, BYTEAOID};
	Datum		args[4];
	bytea	   *hash = palloc(VARHDRSZ + FT_SHA256_LEN);
	bytea	   *bytes;
	Oid			save_userid;
	int			save_sec;
	int			ret;

	if (len >= MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("blob of %zu bytes is too large", len)));
	ft_sha256(data, len, sha256);
	SET_VARSIZE(hash, VARHDRSZ + FT_SHA256_LEN);
	memcpy(VARDATA(hash), sha256, FT_SHA256_LEN);
	bytes = palloc(VARHDRSZ + len);
	SET_VARSIZE(bytes, VARHDRSZ + len);
	memcpy(VARDATA(bytes), data, len);

	args[0] = PointerGetDatum(hash);
	args[1] = Int64GetDatum((int64) len);
	args[2] = CStringGetTextDatum(media_type);
	args[3] = PointerGetDatum(bytes);

	ft_tier_become_owner(&save_userid, &save_sec);
	ret = SPI_execute_with_args(
								"WITH c AS (INSERT INTO ftstore.blob_catalog (sha256, bytes, media_type)"
								" VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING"
								" RETURNING sha256)"
								" INSERT INTO ftstore.blob_hot (sha256, data)"
								" SELECT c.sha256, $4 FROM c",
								4, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store blob: %s", SPI_result_code_string(ret));

	argtypes[0] = INT4OID;
	argtypes[1] = BYTEAOID;
	args[0] = Int32GetDatum(dataset_id);
	args[1] = PointerGetDatum(hash);
	ret = SPI_execute_with_args("INSERT INTO ftstore.blob_claims (dataset_id, sha256)"
								" VALUES ($1, $2) ON CONFLICT DO NOTHING",
								2, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not claim blob: %s", SPI_result_code_string(ret));
	ft_tier_restore_user(save_userid, save_sec);
	pfree(bytes);
}

/* ---------------------------------------------------------------------
 * The blobs of a sample.
 * ---------------------------------------------------------------------
 */

/*
 * The blob references of a sample in order: images, videos, audios.  The
 * flags byte stays in the clear in every stored form (layout.c), so a
 * sample without media, the common case, costs a read of four bytes, not
 * a decoding: the triggers on ftstore.samples call this for every row.
 */
static List *
sample_refs(Datum d)
{
	struct varlena *head = PG_DETOAST_DATUM_SLICE(d, 0, 4);
	FtSample   *s;
	List	   *refs = NIL;

	if (VARSIZE_ANY_EXHDR(head) >= 4 &&
		!(((const uint8 *) VARDATA_ANY(head))[3] & FT_SAMPLE_HAS_MEDIA))
		return NIL;
	s = ft_sample_from_datum(d);

	for (int m = 0; m < FT_NUM_MEDIA; m++)
		for (int i = 0; i < s->nmedia[m]; i++)
		{
			FtBlobRef  *ref = palloc(sizeof(FtBlobRef));

			if (ft_blob_parse_ref(s->media[m][i].p, s->media[m][i].len, ref))
				refs = lappend(refs, ref);
			else
				pfree(ref);
		}
	return refs;
}

static bytea *
sha_bytea(const FtBlobRef *ref)
{
	bytea	   *b = palloc(VARHDRSZ + FT_SHA256_LEN);

	SET_VARSIZE(b, VARHDRSZ + FT_SHA256_LEN);
	memcpy(VARDATA(b), ref->sha256, FT_SHA256_LEN);
	return b;
}

/*
 * Refuses a sample that references a blob its dataset does not hold, as
 * the trigger on ftstore.samples would, but before the insert: an import
 * checks each record here, so that such a record is a reject of its own
 * instead of an error that ends the whole import.  Must be called inside
 * SPI.
 */
void
ft_blob_check_claims(Datum sample, int32 dataset_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[2] = {INT4OID, BYTEAOID};
	List	   *refs = sample_refs(sample);
	ListCell   *lc;
	Oid			save_userid;
	int			save_sec;

	if (refs == NIL)
		return;
	ft_tier_become_owner(&save_userid, &save_sec);
	foreach(lc, refs)
	{
		FtBlobRef  *ref = lfirst(lc);
		Datum		args[2];
		int			ret;

		args[0] = Int32GetDatum(dataset_id);
		args[1] = PointerGetDatum(sha_bytea(ref));
		ret = SPI_execute_plan(ft_tier_plan(&plan,
											"SELECT 1 FROM ftstore.blob_claims"
											" WHERE dataset_id OPERATOR(pg_catalog.=) $1"
											" AND sha256 OPERATOR(pg_catalog.=) $2",
											2, argtypes),
							   args, NULL, false, 1);	/* sees the claims
														 * import_media just
														 * made */
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not look up blob claims: %s",
				 SPI_result_code_string(ret));
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("sample references blob %s which its dataset does not hold",
							ref->hex),
					 errdetail("A sample may reference only blobs stored in its own dataset."),
					 errhint("Export with ftstore.export_file, which writes the media files beside the data, and import that.")));
	}
	ft_tier_restore_user(save_userid, save_sec);
}

/*
 * ftstore.blob_refs_of(ftsample): (ordinal, sha256) of each blob the
 * sample references; what the trigger on ftstore.samples records.
 */
Datum
ft_blob_refs_of(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *refs;
	ListCell   *lc;
	int			ordinal = 0;

	InitMaterializedSRF(fcinfo, 0);
	refs = sample_refs(PG_GETARG_DATUM(0));
	foreach(lc, refs)
	{
		FtBlobRef  *ref = lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int32GetDatum(++ordinal);
		values[1] = PointerGetDatum(sha_bytea(ref));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Whether the caller, under the row policies, sees a reference to ref. */
static bool
reference_visible(const FtBlobRef *ref)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {BYTEAOID};
	Datum		args[1];
	int			ret;

	args[0] = PointerGetDatum(sha_bytea(ref));
	ret = SPI_execute_plan(ft_tier_plan(&plan,
										"SELECT 1 FROM ftstore.blob_refs r"
										" WHERE r.sha256 OPERATOR(pg_catalog.=) $1 LIMIT 1",
										1, argtypes),
						   args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up blob references: %s",
			 SPI_result_code_string(ret));
	return SPI_processed == 1;
}

/* The catalog's tier of a blob, NULL when it has none. */
static char *
catalog_tier(const FtBlobRef *ref)
{
	Oid			argtypes[1] = {BYTEAOID};
	Datum		args[1];
	int			ret;

	args[0] = PointerGetDatum(sha_bytea(ref));
	ret = SPI_execute_with_args("SELECT tier FROM ftstore.blob_catalog c"
								" WHERE c.sha256 OPERATOR(pg_catalog.=) $1",
								1, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up blob catalog: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed != 1)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * ftstore.blobs(ftsample): ordinal, sha256 (hex), bytes, media type, tier.
 * The tier is NULL for a blob the caller sees no reference to: the
 * catalog is not there to be probed.
 */
Datum
ft_blobs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *refs;
	ListCell   *lc;
	int			ordinal = 0;

	InitMaterializedSRF(fcinfo, 0);
	refs = sample_refs(PG_GETARG_DATUM(0));
	if (refs == NIL)
		return (Datum) 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, refs)
	{
		FtBlobRef  *ref = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		char	   *tier = NULL;

		if (reference_visible(ref))
		{
			Oid			save_userid;
			int			save_sec;

			ft_tier_become_owner(&save_userid, &save_sec);
			tier = catalog_tier(ref);
			ft_tier_restore_user(save_userid, save_sec);
		}
		values[0] = Int32GetDatum(++ordinal);
		values[1] = CStringGetTextDatum(ref->hex);
		values[2] = Int64GetDatum(ref->bytes);
		values[3] = CStringGetTextDatum(ref->media_type);
		if (tier)
			values[4] = CStringGetTextDatum(tier);
		else
			nulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/* ftstore.blob(ftsample, ordinal int): the bytes of one blob. */
Datum
ft_blob(PG_FUNCTION_ARGS)
{
	int32		ordinal = PG_GETARG_INT32(1);
	List	   *refs = sample_refs(PG_GETARG_DATUM(0));
	FtBlobRef  *ref;
	StringInfoData buf;
	bytea	   *result;
	Oid			save_userid;
	int			save_sec;

	if (ordinal < 1 || ordinal > list_length(refs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample has no blob %d", ordinal),
				 errdetail("The sample references %d blobs, numbered from 1.",
						   list_length(refs))));
	ref = list_nth(refs, ordinal - 1);

	/*
	 * Before SPI_connect: the bytes must outlive SPI_finish.  The buffer
	 * starts with room for the bytea's header, so that it becomes the
	 * result as it is, without a copy of the blob.
	 */
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!reference_visible(ref))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for blob %s", ref->hex),
				 errdetail("No sample the current role may read references this blob.")));

	ft_tier_become_owner(&save_userid, &save_sec);
	ft_blob_fetch(ref, &buf);
	ft_tier_restore_user(save_userid, save_sec);
	SPI_finish();

	result = (bytea *) buf.data;
	SET_VARSIZE(result, buf.len);
	PG_RETURN_BYTEA_P(result);
}

/*
 * The id of a dataset the caller may write, looked up with the caller's
 * rights, so that one it may not see is refused as one it may not write.
 * action says what it asked to do ("store blobs in", "offload"), for the
 * error.  Runs inside the caller's SPI connection.
 */
int32
ft_writable_dataset(text *dataset, const char *action)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	int			ret;

	args[0] = PointerGetDatum(dataset);
	ret = SPI_execute_with_args("SELECT d.id, ftstore.can_access(d.id, 'write')"
								" FROM ftstore.datasets d"
								" WHERE d.name OPERATOR(pg_catalog.=) $1",
								1, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up dataset: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1 ||
		!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s dataset \"%s\"",
						action, text_to_cstring(dataset)),
				 errdetail("It needs write access to the dataset.")));
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * ftstore.store_blob(dataset, data, media_type): stores bytes a client
 * sent as a blob of a dataset it may write, and returns the reference to
 * put in a sample's media list.
 */
Datum
ft_store_blob(PG_FUNCTION_ARGS)
{
	text	   *dataset = PG_GETARG_TEXT_PP(0);
	bytea	   *data = PG_GETARG_BYTEA_PP(1);
	char	   *media_type = PG_ARGISNULL(2) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(2));
	uint8		sha256[FT_SHA256_LEN];
	int32		dataset_id;
	char	   *ref;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	dataset_id = ft_writable_dataset(dataset, "store blobs in");
	if (media_type == NULL)
		media_type = (char *) ft_media_type_of(VARDATA_ANY(data),
											   VARSIZE_ANY_EXHDR(data), NULL);
	else if (media_type[0] == '\0' || strchr(media_type, '/') == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid media type \"%s\"", media_type),
				 errhint("Give a type/subtype such as image/png.")));
	ft_blob_store_hot(dataset_id, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
					  media_type, sha256);
	SPI_finish();
	ref = ft_blob_make_ref(sha256, VARSIZE_ANY_EXHDR(data), media_type);
	PG_RETURN_TEXT_P(cstring_to_text(ref));
}
