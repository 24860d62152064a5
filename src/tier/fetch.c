/*-------------------------------------------------------------------------
 *
 * fetch.c
 *	  The bytes of a blob, wherever they are: the hot table, the local
 *	  cache, the cold tier, or its mirror.
 *
 * Every byte fetched from a store is checked against the blob's SHA-256
 * (codec.c) before it is returned or cached: a missing, truncated or
 * corrupted object gives an error naming the blob, never wrong bytes.
 * When a mirror is configured a failure of the primary store is caught
 * (in a subtransaction, so that whatever it held is released) and the
 * mirror is tried.  Callers run as the extension's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "util/subxact.h"
#include "tier/tier.h"

/*
 * Opens the primary store (ftstore.tier_url, by default a directory in the
 * data directory) or the mirror; NULL for a mirror when none is set.  The
 * store lives in the current memory context.
 */
FtObjectStore *
ft_tier_open(bool mirror)
{
	const char *url = mirror ? ft_tier_mirror_url : ft_tier_url;

	if (url == NULL || url[0] == '\0')
	{
		if (mirror)
			return NULL;
		url = psprintf("file://%s/ftstore_tier", DataDir);
	}
	return ft_object_store_open(url, CurrentMemoryContext);
}

/* "blobs/ab/abcdef...": two hex digits of fan-out keep directories small. */
void
ft_object_key(const char *hex, char *key)
{
	snprintf(key, FT_OBJECT_KEY_LEN, "blobs/%.2s/%s", hex, hex);
}

/*
 * Reads a key of ftstore.blob_keys (32 bytes) into key.  With *key_id 0,
 * the active key, the newest one not retired, whose id goes to *key_id;
 * returns false when there is none.  Must run inside SPI as the owner.
 */
bool
ft_tier_key(int32 *key_id, uint8 *key)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	bool		isnull;
	bytea	   *k;
	int			ret;

	args[0] = Int32GetDatum(*key_id);
	ret = SPI_execute_plan(ft_tier_plan(&plan,
										"SELECT k.id, k.key FROM ftstore.blob_keys k"
										" WHERE CASE WHEN $1 OPERATOR(pg_catalog.=) 0"
										" THEN NOT k.retired"
										" ELSE k.id OPERATOR(pg_catalog.=) $1 END"
										" ORDER BY k.id DESC LIMIT 1",
										1, argtypes),
						   args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read blob keys: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
	{
		if (*key_id == 0)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("blob key %d does not exist", *key_id),
				 errhint("A key may be retired, but not deleted while objects use it.")));
	}
	*key_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	k = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 2, &isnull));
	if (VARSIZE_ANY_EXHDR(k) != 32)
		elog(ERROR, "blob key %d is not 32 bytes", *key_id);
	memcpy(key, VARDATA_ANY(k), 32);
	return true;
}

/*
 * The buffer objects are read into, kept from call to call: a new one per
 * blob would cost fresh pages, which the kernel clears before the body
 * lands in them.  One larger than RAW_KEEP is let go after use.
 */
#define RAW_KEEP	(64 * 1024 * 1024)
static StringInfoData raw_buffer;

/*
 * What sees an object's bytes as they arrive: when the object holds the
 * blob as it is (no codec, no key; compressed media are stored so), its
 * SHA-256 is computed while the rest of the object is still on its way,
 * piece by piece while each is in the CPU's cache, rather than in a pass
 * of its own afterwards.  (Writing the cache file from here as well was
 * measured: its many small writes cost more than the one write after.)
 */
typedef struct FetchTap
{
	const FtBlobRef *ref;
	EVP_MD_CTX *sha;
	char		header[FT_OBJECT_HEADER_LEN];
	size_t		seen;			/* bytes of the object so far */
	bool		plain;			/* the header says: the blob as it is */
	bool		failed;			/* the digest could not be computed */
} FetchTap;

/* Frees the digest context with the memory context it was made in. */
static void
free_tap(void *arg)
{
	FetchTap   *t = (FetchTap *) arg;

	if (t->sha)
		EVP_MD_CTX_free(t->sha);
	t->sha = NULL;
}

/* The FtObjectTap of a fetch.  Raises no error: it runs inside curl. */
static void
fetch_tap(const char *data, size_t offset, size_t len, void *arg)
{
	FetchTap   *t = (FetchTap *) arg;

	if (data == NULL || offset != t->seen)
	{
		/* a new attempt, or bytes out of order (then nothing counts) */
		t->seen = 0;
		t->plain = false;
		t->failed = data != NULL;
		return;
	}
	t->seen += len;
	if (offset < FT_OBJECT_HEADER_LEN)
	{
		size_t		n = Min(len, FT_OBJECT_HEADER_LEN - offset);

		memcpy(t->header + offset, data, n);
		data += n;
		len -= n;
		if (offset + n < FT_OBJECT_HEADER_LEN)
			return;
		t->plain = ft_object_stored_plain(t->header, t->ref->bytes);
		if (t->plain && EVP_DigestInit_ex(t->sha, EVP_sha256(), NULL) != 1)
			t->failed = true;
	}
	if (!t->plain || t->failed || len == 0)
		return;
	if (EVP_DigestUpdate(t->sha, data, len) != 1)
		t->failed = true;
}

/* Reads and decodes one store's object of ref into out, checked. */
void
ft_fetch_from(FtObjectStore *store, const FtBlobRef *ref, StringInfo out)
{
	char		key[FT_OBJECT_KEY_LEN];
	StringInfo	raw = &raw_buffer;
	FetchTap   *tap = palloc0(sizeof(FetchTap));
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
	bool		hashed = false;
	int32		key_id;
	uint8		k[32];

	ft_object_key(ref->hex, key);
	if (raw->data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(raw);
		MemoryContextSwitchTo(old);
	}
	resetStringInfo(raw);
	/* room for the object's header, IV and tag: the body goes straight in */
	if (ref->bytes >= 0 && ref->bytes < RAW_KEEP)
		enlargeStringInfo(raw, (int) ref->bytes + 64);

	tap->ref = ref;
	tap->sha = EVP_MD_CTX_new();
	if (tap->sha == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a digest context")));
	cb->func = free_tap;
	cb->arg = tap;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);

	if (!store->ops->get(store, key, raw, fetch_tap, tap))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("cold object of blob %s is missing from \"%s\"",
						ref->hex, store->url),
				 errdetail("The catalog says the blob is cold, but object \"%s\" does not exist.",
						   key)));

	/* The tap's digest counts only if it saw the whole object, in order. */
	if (tap->plain && !tap->failed && tap->seen == (size_t) raw->len &&
		raw->len == FT_OBJECT_HEADER_LEN + ref->bytes)
	{
		uint8		got[FT_SHA256_LEN];
		unsigned int n = 0;

		hashed = EVP_DigestFinal_ex(tap->sha, got, &n) == 1 &&
			n == FT_SHA256_LEN && memcmp(got, ref->sha256, FT_SHA256_LEN) == 0;
	}

	key_id = ft_object_key_id(raw->data, raw->len, ref->hex);
	if (key_id != 0)
		(void) ft_tier_key(&key_id, k);
	ft_object_decode(out, raw->data, raw->len, ref->sha256, ref->hex,
					 ref->bytes, key_id != 0 ? k : NULL, hashed);
	explicit_bzero(k, sizeof(k));
	if (raw->maxlen > RAW_KEEP)
	{
		pfree(raw->data);
		raw->data = NULL;
	}
}

typedef struct FetchWork
{
	FtObjectStore *store;
	const FtBlobRef *ref;
	StringInfo	out;
} FetchWork;

static void
fetch_work(void *arg)
{
	FetchWork  *w = (FetchWork *) arg;

	ft_fetch_from(w->store, w->ref, w->out);
}

/* The primary store, and the mirror if the primary fails. */
static void
fetch_cold(const FtBlobRef *ref, StringInfo out)
{
	FtObjectStore *primary = ft_tier_open(false);
	FtObjectStore *mirror = ft_tier_open(true);
	int			start = out->len;
	FetchWork	w = {primary, ref, out};
	ErrorData  *edata;

	/* the last blob's cache file is written while the service works */
	if (ft_cache_has_pending())
		primary->wait_work = ft_cache_write_pending;

	if (mirror == NULL)
	{
		ft_fetch_from(primary, ref, out);
		primary->ops->close(primary);
		return;
	}

	edata = ft_run_in_subxact(fetch_work, &w, true);
	if (edata != NULL)
	{
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("reading blob %s from the mirror tier", ref->hex),
				 errdetail("The primary tier failed: %s", edata->message)));
		out->len = start;
		out->data[start] = '\0';
		ft_fetch_from(mirror, ref, out);
	}
	primary->ops->close(primary);
	mirror->ops->close(mirror);
}

/*
 * Appends the bytes of ref's blob to out.  Runs inside SPI as the owner;
 * the caller has checked that the current role may read the blob.
 */
void
ft_blob_fetch(const FtBlobRef *ref, StringInfo out)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {BYTEAOID};
	Datum		args[1];
	bytea	   *hash = palloc(VARHDRSZ + FT_SHA256_LEN);
	bool		isnull;
	char	   *tier;
	int			ret;

	SET_VARSIZE(hash, VARHDRSZ + FT_SHA256_LEN);
	memcpy(VARDATA(hash), ref->sha256, FT_SHA256_LEN);
	args[0] = PointerGetDatum(hash);
	ret = SPI_execute_plan(ft_tier_plan(&plan,
										"SELECT c.tier, h.data FROM ftstore.blob_catalog c"
										" LEFT JOIN ftstore.blob_hot h"
										" ON h.sha256 OPERATOR(pg_catalog.=) c.sha256"
										" WHERE c.sha256 OPERATOR(pg_catalog.=) $1",
										1, argtypes),
						   args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up blob catalog: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("blob %s is not in the catalog", ref->hex)));
	tier = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(tier, "hot") == 0)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 2, &isnull);
		bytea	   *b;

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("hot copy of blob %s is missing", ref->hex)));
		b = DatumGetByteaPP(d);
		appendBinaryStringInfo(out, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
		return;
	}

	if (ft_cache_get(ref->hex, ref->sha256, out))
		return;
	{
		int			start = out->len;

		fetch_cold(ref, out);
		/* a store without a wait (the file store) left it to us */
		ft_cache_write_pending(NULL);
		ft_cache_put_later(ref->hex, out->data + start, out->len - start);
	}
}
