/*-------------------------------------------------------------------------
 *
 * offload.c
 *	  Moving blobs to the cold tier, rewriting them under a new key, and
 *	  the collector of objects no blob needs.
 *
 * Offloading a blob, in the caller's transaction:
 *	  1. lock its catalog row (FOR UPDATE), which must still say hot;
 *	  2. encode it (codec.c) and put the object, on the mirror too if set;
 *	  3. verify every copy: the store vouches for it (an S3 service's MD5
 *		 of what it stored equals ours), or it is read back and compared
 *		 byte for byte (the file store, any other answer, and always with
 *		 ftstore.offload_verify = read_back);
 *	  4. mark the catalog row cold and delete the hot copy.
 * Step 4's changes commit together or not at all.  A crash or an error
 * before the commit leaves the blob hot and readable, and at worst an
 * object no catalog row calls cold: an orphan, which the collector removes
 * after the grace period.  Blobs go through these steps in a pipeline
 * (offload_where): step 4 of one blob and step 1 of the next run while the
 * object of the blob between them is on its way, each blob still marked
 * cold only after its own copies are verified.  The row lock of step 1
 * is held to the commit, so the collector, which takes the same lock
 * before removing an object, never removes one an offload is about to
 * publish.  docs/tier.md gives the whole argument.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "util/subxact.h"
#include "tier/md5_lanes.h"
#include "tier/tier.h"

PG_FUNCTION_INFO_V1(ft_offload);
PG_FUNCTION_INFO_V1(ft_offload_policy);
PG_FUNCTION_INFO_V1(ft_rekey_blobs);
PG_FUNCTION_INFO_V1(ft_collect_objects);

static bytea *
hash_bytea(const uint8 *sha256)
{
	bytea	   *b = palloc(VARHDRSZ + FT_SHA256_LEN);

	SET_VARSIZE(b, VARHDRSZ + FT_SHA256_LEN);
	memcpy(VARDATA(b), sha256, FT_SHA256_LEN);
	return b;
}

/*
 * The bytes of a hot copy, as found in blob_hot: a bytea, normally stored
 * out of line and uncompressed (STORAGE EXTERNAL).  Such a value is read
 * from its TOAST table straight into buf, a buffer reused from blob to
 * blob, rather than detoasted into a new allocation per blob, whose fresh
 * pages the kernel must clear first: that costs more than the copy
 * itself; the bytes start data_at bytes into buf (at least VARHDRSZ), so
 * that a header may go in front of them.  Any other form is detoasted as
 * usual, elsewhere.  Sets *data and *len.
 */
static void
hot_bytes(Datum d, StringInfo buf, int data_at, const char **data,
		  size_t *len)
{
	struct varlena *attr = (struct varlena *) DatumGetPointer(d);
	struct varatt_external toast_pointer;
	struct varlena *result;
	Relation	toastrel;
	int32		size;

	if (!VARATT_IS_EXTERNAL_ONDISK(attr))
	{
		bytea	   *b = DatumGetByteaPP(d);

		*data = VARDATA_ANY(b);
		*len = VARSIZE_ANY_EXHDR(b);
		return;
	}
	VARATT_EXTERNAL_GET_POINTER(toast_pointer, attr);
	if (VARATT_EXTERNAL_IS_COMPRESSED(toast_pointer))
	{
		bytea	   *b = DatumGetByteaPP(d);

		*data = VARDATA_ANY(b);
		*len = VARSIZE_ANY_EXHDR(b);
		return;
	}
	size = VARATT_EXTERNAL_GET_EXTSIZE(toast_pointer);
	Assert(data_at >= VARHDRSZ);
	resetStringInfo(buf);
	enlargeStringInfo(buf, data_at + size);
	result = (struct varlena *) (buf->data + data_at - VARHDRSZ);
	SET_VARSIZE(result, VARHDRSZ + size);
	if (size > 0)
	{
		toastrel = table_open(toast_pointer.va_toastrelid, AccessShareLock);
		table_relation_fetch_toast_slice(toastrel, toast_pointer.va_valueid,
										 size, 0, size, result);
		table_close(toastrel, AccessShareLock);
	}
	*data = VARDATA(result);
	*len = size;
}

/*
 * Puts an object and makes sure the copy is the bytes written: the store
 * vouches for it, or it is read back.  md5, if not NULL, is the object's.
 */
static void
put_verified(FtObjectStore *store, const char *key, const StringInfo obj,
			 const uint8 *md5, const char *hex)
{
	StringInfoData back;
	bool		vouched;

	/* what put does not vouch for is read back below */
	store->checked_puts = true;
	vouched = store->ops->put(store, key, obj->data, obj->len, md5);
	if (vouched && ft_offload_verify == FT_OFFLOAD_VERIFY_DIGEST)
		return;
	initStringInfo(&back);
	if (!store->ops->get(store, key, &back, NULL, NULL) ||
		back.len != obj->len || memcmp(back.data, obj->data, obj->len) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("copy of blob %s in \"%s\" does not read back as written",
						hex, store->url),
				 errdetail("Wrote %d bytes under \"%s\", read back %d.",
						   obj->len, key, back.len),
				 errhint("The blob stays hot; the object store needs checking.")));
	pfree(back.data);
}

/*
 * Writes a blob's bytes as the cold objects of every store, under the
 * active key if any, verified.  Returns the codec and key id used.  obj
 * is the caller's buffer for the stored form.
 */
static void
write_cold(FtObjectStore *primary, FtObjectStore *mirror,
		   const uint8 *sha256, const char *data, size_t len,
		   const char *media_type, StringInfo obj, const char **codec,
		   int32 *key_id, int64 *stored_bytes)
{
	char		hex[FT_SHA256_HEX_LEN + 1];
	char		key[FT_OBJECT_KEY_LEN];
	uint8		k[32];
	bool		encrypt;

	ft_hex(sha256, FT_SHA256_LEN, hex);
	ft_object_key(hex, key);
	*key_id = 0;
	encrypt = ft_tier_key(key_id, k);
	resetStringInfo(obj);
	ft_object_encode(obj, data, len, sha256, media_type, *key_id,
					 encrypt ? k : NULL, codec);
	explicit_bzero(k, sizeof(k));
	put_verified(primary, key, obj, NULL, hex);
	if (mirror)
		put_verified(mirror, key, obj, NULL, hex);
	*stored_bytes = obj->len;
}

/*
 * An offload is a pipeline: while the object of one blob is on its way to
 * the store, the blob before it, verified, is marked cold, and the blobs
 * after it are locked, read and encoded.  With an S3 store that work runs
 * while the service stores the object (the store's wait work); the file
 * store has no such wait, and it runs after the put.  Each blob is marked
 * cold only once its own copies are verified, in the caller's transaction
 * as before, so the pipeline changes nothing of what a crash or an error
 * leaves behind.
 *
 * Blobs are prepared in batches of up to OFFLOAD_BATCH, so that the MD5s
 * their puts need (for the ETag check) are computed together, eight at a
 * time (md5_lanes.c): the MD5 is most of the backend's CPU in an offload,
 * and on a machine shared with the service every cycle counts.  A batch
 * ends early with a large blob (over OFFLOAD_SMALL bytes), whose object
 * takes a buffer of its own and whose MD5 is computed while it is sent;
 * so memory stays at 2 * OFFLOAD_BATCH small buffers and two large ones.
 */
#define OFFLOAD_BATCH	8
#define OFFLOAD_SMALL	(1024 * 1024)

/* A blob locked and encoded, ready to be put. */
typedef struct OffloadBlob
{
	uint8		sha256[FT_SHA256_LEN];
	const char *codec;			/* a constant string */
	int32		key_id;
	StringInfo	obj;			/* its stored form, in a buffer of its batch */
	bool		has_md5;		/* md5 is obj's */
	uint8		md5[16];
} OffloadBlob;

typedef struct OffloadBatch
{
	int			n;
	OffloadBlob blobs[OFFLOAD_BATCH];
	StringInfoData small[OFFLOAD_BATCH];	/* kept from batch to batch */
	StringInfoData large;		/* for the large blob a batch may end with */
} OffloadBatch;

/* A blob whose copies are verified, to be marked cold. */
typedef struct OffloadDone
{
	uint8		sha256[FT_SHA256_LEN];
	const char *codec;
	int32		key_id;
	int64		stored_bytes;
} OffloadDone;

typedef struct OffloadState
{
	const uint8 *hashes;		/* of the blobs to offload */
	uint64		n;
	uint64		next;			/* the next of them to prepare */
	bool		mirrored;
	StringInfoData hot;			/* a hot copy; kept from blob to blob */
	OffloadBatch batches[2];	/* the one being put, and the next */
	OffloadBatch *prepare;		/* which of them the wait work fills */
	bool		prepare_due;
	bool		have_done;
	OffloadDone done;
	int64		moved;
	MemoryContext work_cxt;		/* reset after every put */
} OffloadState;

/*
 * Locks a blob's catalog row, which must still say hot, and encodes its
 * hot copy as the next blob of the batch; false when it is no longer hot.
 * *large tells whether it took the batch's large buffer.
 */
static bool
prepare_one(OffloadState *st, const uint8 *sha256, OffloadBatch *batch,
			bool *large)
{
	static SPIPlanPtr lock_plan = NULL;
	OffloadBlob *b = &batch->blobs[batch->n];
	Oid			argtypes[1] = {BYTEAOID};
	Datum		args[1];
	bool		isnull;
	SPITupleTable *locked;
	char	   *media_type;
	Datum		hot;
	const char *data;
	size_t		len;
	int32		key_id = 0;
	uint8		k[32];
	bool		encrypt;
	int			ret;

	args[0] = PointerGetDatum(hash_bytea(sha256));
	/* Planned once a session: the statement is the same for every blob. */
	ret = SPI_execute_plan(ft_tier_plan(&lock_plan,
										"SELECT c.media_type, h.data, c.bytes"
										" FROM ftstore.blob_catalog c"
										" JOIN ftstore.blob_hot h"
										" ON h.sha256 OPERATOR(pg_catalog.=) c.sha256"
										" WHERE c.sha256 OPERATOR(pg_catalog.=) $1"
										" AND c.tier OPERATOR(pg_catalog.=) 'hot'"
										" FOR UPDATE OF c",
										1, argtypes),
						   args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not lock blob: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
	{
		SPI_freetuptable(SPI_tuptable);
		return false;
	}
	locked = SPI_tuptable;
	media_type = SPI_getvalue(locked->vals[0], locked->tupdesc, 1);
	hot = SPI_getbinval(locked->vals[0], locked->tupdesc, 2, &isnull);
	*large = DatumGetInt64(SPI_getbinval(locked->vals[0], locked->tupdesc, 3,
										 &isnull)) > OFFLOAD_SMALL;
	b->obj = *large ? &batch->large : &batch->small[batch->n];
	b->has_md5 = false;
	memcpy(b->sha256, sha256, FT_SHA256_LEN);
	encrypt = ft_tier_key(&key_id, k);
	if (!encrypt && ft_object_is_plain(media_type))
	{
		/*
		 * Stored as it is: the hot copy is read straight in behind the
		 * header, one copy of its bytes fewer than encoding them.
		 */
		hot_bytes(hot, b->obj, FT_OBJECT_HEADER_LEN, &data, &len);
		if (data != b->obj->data + FT_OBJECT_HEADER_LEN)
		{
			resetStringInfo(b->obj);
			enlargeStringInfo(b->obj, FT_OBJECT_HEADER_LEN + len);
			memcpy(b->obj->data + FT_OBJECT_HEADER_LEN, data, len);
		}
		ft_object_plain_header(b->obj->data, len);
		b->obj->len = FT_OBJECT_HEADER_LEN + len;
		b->obj->data[b->obj->len] = '\0';
		b->codec = "none";
		b->key_id = 0;
	}
	else
	{
		hot_bytes(hot, &st->hot, VARHDRSZ, &data, &len);
		resetStringInfo(b->obj);
		ft_object_encode(b->obj, data, len, sha256, media_type, key_id,
						 encrypt ? k : NULL, &b->codec);
		b->key_id = key_id;
	}
	explicit_bzero(k, sizeof(k));
	/* the tuple (with the bytes of a blob stored inline) goes now */
	SPI_freetuptable(locked);
	return true;
}

/*
 * Fills batch with the next blobs that are still hot, if any, and computes
 * the MD5s of its small ones together.
 */
static void
prepare_batch(OffloadState *st, OffloadBatch *batch)
{
	const char *msgs[OFFLOAD_BATCH];
	size_t		lens[OFFLOAD_BATCH];
	uint8		md5s[OFFLOAD_BATCH * 16];
	int			nsmall = 0;

	batch->n = 0;
	while (batch->n < OFFLOAD_BATCH && st->next < st->n)
	{
		bool		large = false;
		bool		ready;

		CHECK_FOR_INTERRUPTS();
		ready = prepare_one(st, st->hashes + st->next * FT_SHA256_LEN, batch,
							&large);
		st->next++;
		if (!ready)
			continue;
		batch->n++;
		if (large)
			break;
	}
	for (int i = 0; i < batch->n; i++)
	{
		if (batch->blobs[i].obj == &batch->large)
			continue;
		msgs[nsmall] = batch->blobs[i].obj->data;
		lens[nsmall++] = batch->blobs[i].obj->len;
	}
	/* one small blob alone is hashed as it is sent, as a large one is */
	if (nsmall < 2)
		return;
	ft_md5_many(nsmall, msgs, lens, md5s);
	nsmall = 0;
	for (int i = 0; i < batch->n; i++)
	{
		if (batch->blobs[i].obj == &batch->large)
			continue;
		memcpy(batch->blobs[i].md5, md5s + 16 * nsmall++, 16);
		batch->blobs[i].has_md5 = true;
	}
}

/* Marks the verified blob cold and deletes its hot copy. */
static void
mark_cold(OffloadState *st, const OffloadDone *d)
{
	static SPIPlanPtr cold_plan = NULL;
	static SPIPlanPtr unhot_plan = NULL;
	Oid			argtypes[5] = {BYTEAOID, TEXTOID, INT4OID, INT8OID, BOOLOID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	int			ret;

	args[0] = PointerGetDatum(hash_bytea(d->sha256));
	args[1] = CStringGetTextDatum(d->codec);
	args[2] = Int32GetDatum(d->key_id);
	args[3] = Int64GetDatum(d->stored_bytes);
	args[4] = BoolGetDatum(st->mirrored);
	nulls[2] = d->key_id == 0 ? 'n' : ' ';
	ret = SPI_execute_plan(ft_tier_plan(&cold_plan,
										"UPDATE ftstore.blob_catalog SET tier = 'cold',"
										" codec = $2, key_id = $3, stored_bytes = $4,"
										" mirrored = $5, offloaded_at = pg_catalog.now(),"
										" verified_at = pg_catalog.now()"
										" WHERE sha256 OPERATOR(pg_catalog.=) $1",
										5, argtypes),
						   args, nulls, false, 0);
	if (ret != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not mark blob cold: %s", SPI_result_code_string(ret));
	ret = SPI_execute_plan(ft_tier_plan(&unhot_plan,
										"DELETE FROM ftstore.blob_hot"
										" WHERE sha256 OPERATOR(pg_catalog.=) $1",
										1, argtypes),
						   args, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not delete hot copy: %s", SPI_result_code_string(ret));
	st->moved++;
}

/*
 * The offload's part of a put's wait: the blob before is marked cold, and
 * during the first put of a batch the next batch is prepared.
 */
static void
offload_wait_work(void *arg)
{
	OffloadState *st = (OffloadState *) arg;
	MemoryContext old = MemoryContextSwitchTo(st->work_cxt);

	if (st->have_done)
	{
		mark_cold(st, &st->done);
		st->have_done = false;
	}
	if (st->prepare_due)
	{
		st->prepare_due = false;
		prepare_batch(st, st->prepare);
	}
	MemoryContextSwitchTo(old);
}

/*
 * Offloads every blob the query (run as the owner, with args) returns the
 * hash of.  Returns how many moved.
 */
static int64
offload_where(const char *query, int nargs, Oid *argtypes, Datum *args)
{
	MemoryContext old;
	FtObjectStore *primary;
	FtObjectStore *mirror;
	OffloadState st = {0};
	uint8	   *hashes;
	uint64		n;
	int			cur = 0;
	Oid			save_userid;
	int			save_sec;
	int			ret;

	ft_tier_become_owner(&save_userid, &save_sec);
	ret = SPI_execute_with_args(query, nargs, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not list blobs to offload: %s",
			 SPI_result_code_string(ret));
	n = SPI_processed;
	hashes = palloc_extended(n * FT_SHA256_LEN + 1, MCXT_ALLOC_HUGE);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		bytea	   *h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc, 1,
													  &isnull));

		if (VARSIZE_ANY_EXHDR(h) != FT_SHA256_LEN)
			elog(ERROR, "catalog holds a hash of %zu bytes",
				 VARSIZE_ANY_EXHDR(h));
		memcpy(hashes + i * FT_SHA256_LEN, VARDATA_ANY(h), FT_SHA256_LEN);
	}
	SPI_freetuptable(SPI_tuptable);

	primary = ft_tier_open(false);
	mirror = ft_tier_open(true);
	st.hashes = hashes;
	st.n = n;
	st.mirrored = mirror != NULL;
	initStringInfo(&st.hot);
	for (int i = 0; i < 2; i++)
	{
		for (int j = 0; j < OFFLOAD_BATCH; j++)
			initStringInfo(&st.batches[i].small[j]);
		initStringInfo(&st.batches[i].large);
	}
	st.work_cxt = AllocSetContextCreate(CurrentMemoryContext, "ftstore offload",
										ALLOCSET_DEFAULT_SIZES);

	old = MemoryContextSwitchTo(st.work_cxt);
	prepare_batch(&st, &st.batches[0]);
	MemoryContextSwitchTo(old);
	while (st.batches[cur].n > 0)
	{
		OffloadBatch *batch = &st.batches[cur];

		st.prepare = &st.batches[1 - cur];
		st.prepare_due = true;
		for (int i = 0; i < batch->n; i++)
		{
			OffloadBlob *b = &batch->blobs[i];
			const uint8 *md5 = b->has_md5 ? b->md5 : NULL;
			char		hex[FT_SHA256_HEX_LEN + 1];
			char		key[FT_OBJECT_KEY_LEN];

			CHECK_FOR_INTERRUPTS();
			ft_hex(b->sha256, FT_SHA256_LEN, hex);
			ft_object_key(hex, key);
			primary->wait_work = offload_wait_work;
			primary->wait_arg = &st;
			put_verified(primary, key, b->obj, md5, hex);
			if (primary->wait_work)
			{
				/* the store did not run it */
				primary->wait_work = NULL;
				offload_wait_work(&st);
			}
			if (mirror)
				put_verified(mirror, key, b->obj, md5, hex);

			/* b's copies are verified: marked cold during the next put */
			memcpy(st.done.sha256, b->sha256, FT_SHA256_LEN);
			st.done.codec = b->codec;
			st.done.key_id = b->key_id;
			st.done.stored_bytes = b->obj->len;
			st.have_done = true;
			MemoryContextReset(st.work_cxt);
		}
		cur = 1 - cur;
	}
	if (st.have_done)
	{
		old = MemoryContextSwitchTo(st.work_cxt);
		mark_cold(&st, &st.done);
		MemoryContextSwitchTo(old);
	}

	MemoryContextDelete(st.work_cxt);
	pfree(st.hot.data);
	for (int i = 0; i < 2; i++)
	{
		for (int j = 0; j < OFFLOAD_BATCH; j++)
			pfree(st.batches[i].small[j].data);
		pfree(st.batches[i].large.data);
	}
	primary->ops->close(primary);
	if (mirror)
		mirror->ops->close(mirror);
	ft_tier_restore_user(save_userid, save_sec);
	return st.moved;
}

/*
 * ftstore.offload(dataset text): moves every hot blob of a dataset to the
 * cold tier; returns how many moved.  The caller must be able to write the
 * dataset.
 */
Datum
ft_offload(PG_FUNCTION_ARGS)
{
	text	   *dataset = PG_GETARG_TEXT_PP(0);
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	int64		moved;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = Int32GetDatum(ft_writable_dataset(dataset, "offload"));
	moved = offload_where("SELECT c.sha256 FROM ftstore.blob_catalog c"
						  " WHERE c.tier OPERATOR(pg_catalog.=) 'hot'"
						  " AND EXISTS (SELECT 1 FROM ftstore.blob_claims cl"
						  " WHERE cl.sha256 OPERATOR(pg_catalog.=) c.sha256"
						  " AND cl.dataset_id OPERATOR(pg_catalog.=) $1)"
						  " ORDER BY c.sha256",
						  1, argtypes, args);
	SPI_finish();
	PG_RETURN_INT64(moved);
}

/*
 * ftstore.offload_policy(): moves every hot blob larger than
 * ftstore.offload_threshold; what the offload worker runs.
 */
Datum
ft_offload_policy(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	int64		moved = 0;

	if (ft_offload_threshold < 0)
		PG_RETURN_INT64(0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = Int64GetDatum(ft_offload_threshold);
	moved = offload_where("SELECT c.sha256 FROM ftstore.blob_catalog c"
						  " WHERE c.tier OPERATOR(pg_catalog.=) 'hot'"
						  " AND c.bytes OPERATOR(pg_catalog.>) $1"
						  " ORDER BY c.sha256",
						  1, argtypes, args);
	SPI_finish();
	PG_RETURN_INT64(moved);
}

/*
 * ftstore.rekey_blobs(key_id int): rewrites every cold blob encrypted
 * under key_id (0: not encrypted) under the active key, verified, in
 * place: an object says which key it was written with, so each rewrite is
 * readable the moment it lands, and a crash midway leaves every object
 * readable under the old key or the new.  Returns how many were rewritten.
 */
Datum
ft_rekey_blobs(PG_FUNCTION_ARGS)
{
	int32		old_key = PG_GETARG_INT32(0);
	Oid			argtypes[4] = {BYTEAOID, INT4OID, INT8OID, TEXTOID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	FtObjectStore *primary;
	FtObjectStore *mirror;
	SPITupleTable *tuples;
	MemoryContext loop_cxt;
	StringInfoData obj;
	int64		done = 0;
	Oid			save_userid;
	int			save_sec;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ft_tier_become_owner(&save_userid, &save_sec);
	args[1] = Int32GetDatum(old_key);
	ret = SPI_execute_with_args("SELECT c.sha256, c.bytes, c.media_type"
								" FROM ftstore.blob_catalog c"
								" WHERE c.tier OPERATOR(pg_catalog.=) 'cold'"
								" AND COALESCE(c.key_id, 0) OPERATOR(pg_catalog.=) $2"
								" ORDER BY c.sha256 FOR UPDATE",
								2, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not list blobs: %s", SPI_result_code_string(ret));
	tuples = SPI_tuptable;
	primary = ft_tier_open(false);
	mirror = ft_tier_open(true);
	initStringInfo(&obj);
	loop_cxt = AllocSetContextCreate(CurrentMemoryContext, "ftstore rekey",
									 ALLOCSET_DEFAULT_SIZES);
	for (uint64 i = 0; i < tuples->numvals; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(loop_cxt);
		bool		isnull;
		bytea	   *h = DatumGetByteaPP(SPI_getbinval(tuples->vals[i],
													  tuples->tupdesc, 1,
													  &isnull));
		FtBlobRef	ref;
		StringInfoData plain;
		const char *codec;
		int32		key_id;
		int64		stored_bytes;

		CHECK_FOR_INTERRUPTS();
		memcpy(ref.sha256, VARDATA_ANY(h), FT_SHA256_LEN);
		ft_hex(ref.sha256, FT_SHA256_LEN, ref.hex);
		ref.bytes = DatumGetInt64(SPI_getbinval(tuples->vals[i],
												tuples->tupdesc, 2, &isnull));
		ref.media_type = SPI_getvalue(tuples->vals[i], tuples->tupdesc, 3);
		initStringInfo(&plain);
		ft_fetch_from(primary, &ref, &plain);
		write_cold(primary, mirror, ref.sha256, plain.data, plain.len,
				   ref.media_type, &obj, &codec, &key_id, &stored_bytes);

		args[0] = PointerGetDatum(h);
		args[1] = Int32GetDatum(key_id);
		args[2] = Int64GetDatum(stored_bytes);
		args[3] = CStringGetTextDatum(codec);
		nulls[1] = key_id == 0 ? 'n' : ' ';
		ret = SPI_execute_with_args("UPDATE ftstore.blob_catalog"
									" SET key_id = $2, stored_bytes = $3, codec = $4,"
									" verified_at = pg_catalog.now()"
									" WHERE sha256 OPERATOR(pg_catalog.=) $1",
									4, argtypes, args, nulls, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "could not update blob catalog: %s",
				 SPI_result_code_string(ret));
		done++;
		MemoryContextSwitchTo(old);
		MemoryContextReset(loop_cxt);
	}
	MemoryContextDelete(loop_cxt);
	primary->ops->close(primary);
	if (mirror)
		mirror->ops->close(mirror);
	ft_tier_restore_user(save_userid, save_sec);
	SPI_finish();
	PG_RETURN_INT64(done);
}

/* ---------------------------------------------------------------------
 * The collector's sweep.
 * ---------------------------------------------------------------------
 */

typedef struct SweepState
{
	TimestampTz cutoff;
	List	   *keys;			/* of char *, older than the cutoff */
} SweepState;

static void
sweep_cb(const char *key, uint64 size, TimestampTz modified, void *arg)
{
	SweepState *st = (SweepState *) arg;

	if (modified < st->cutoff)
		st->keys = lappend(st->keys, pstrdup(key));
}

/* The blob hash a key names, false when the key is not a blob's. */
static bool
key_hash(const char *key, uint8 *sha256, char *hex)
{
	FtBlobRef	ref;
	const char *base = strrchr(key, '/');
	char	   *fake;

	base = base ? base + 1 : key;
	if (strlen(base) != FT_SHA256_HEX_LEN)
		return false;
	fake = psprintf(FT_BLOB_REF_PREFIX "%s:0:x", base);
	if (!ft_blob_parse_ref(fake, strlen(fake), &ref))
		return false;
	memcpy(sha256, ref.sha256, FT_SHA256_LEN);
	strcpy(hex, ref.hex);
	return true;
}

/*
 * Whether the object of a blob may go: no catalog row calls it cold.
 * Takes the row lock an offload holds until its commit, or, with no row,
 * inserts a placeholder that makes any concurrent store of the same blob
 * wait; so no offload can publish the object between this check and the
 * removal.  Runs in a subtransaction of the caller's, which rolls back
 * afterwards: that drops the lock and the placeholder at once, so the
 * sweep never holds more than one blob's lock.
 */
static bool
object_unneeded(bytea *hash)
{
	Oid			argtypes[1] = {BYTEAOID};
	Datum		args[1];
	int			ret;
	char	   *tier;

	args[0] = PointerGetDatum(hash);
	ret = SPI_execute_with_args("INSERT INTO ftstore.blob_catalog"
								" (sha256, bytes, media_type, tier)"
								" VALUES ($1, 0, 'application/octet-stream', 'hot')"
								" ON CONFLICT (sha256) DO NOTHING",
								1, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not lock blob: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
		return true;
	ret = SPI_execute_with_args("SELECT tier FROM ftstore.blob_catalog"
								" WHERE sha256 OPERATOR(pg_catalog.=) $1"
								" FOR UPDATE",
								1, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not lock blob: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
		return false;			/* deleted meanwhile: next round */
	tier = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return strcmp(tier, "cold") != 0;
}

typedef struct SweepWork
{
	FtObjectStore *store;
	const char *key;
	bytea	   *hash;
	bool		removed;
} SweepWork;

static void
sweep_work(void *arg)
{
	SweepWork  *w = (SweepWork *) arg;

	if (object_unneeded(w->hash))
		w->removed = w->store->ops->remove(w->store, w->key);
}

/* Checks and removes one object under the lock of its blob. */
static bool
sweep_one(FtObjectStore *store, const char *key, bytea *hash)
{
	SweepWork	w = {store, key, hash, false};
	ErrorData  *edata;

	/*
	 * The subtransaction is rolled back whether the work succeeds or not:
	 * the blob's row lock, and the catalog row sweep_work inserts to hold
	 * one when the blob has none, are needed only while the object is
	 * checked and removed, and the removal itself is not transactional.
	 */
	edata = ft_run_in_subxact(sweep_work, &w, false);
	if (edata != NULL)
		ReThrowError(edata);
	return w.removed;
}

static int64
sweep_store(FtObjectStore *store)
{
	SweepState	st;
	ListCell   *lc;
	int64		removed = 0;

	st.cutoff = GetCurrentTimestamp() - (int64) ft_collect_grace * USECS_PER_SEC;
	st.keys = NIL;
	if (store->ops->remove_leftovers)
	{
		int64		n = store->ops->remove_leftovers(store, st.cutoff);

		if (n > 0)
			ereport(LOG,
					(errmsg("collector removed %lld files that interrupted writes left in \"%s\"",
							(long long) n, store->url)));
	}
	store->ops->list(store, "blobs/", sweep_cb, &st);
	foreach(lc, st.keys)
	{
		const char *key = lfirst(lc);
		uint8		sha256[FT_SHA256_LEN];
		char		hex[FT_SHA256_HEX_LEN + 1];

		CHECK_FOR_INTERRUPTS();
		if (!key_hash(key, sha256, hex))
			continue;
		if (sweep_one(store, key, hash_bytea(sha256)))
		{
			removed++;
			ereport(DEBUG1,
					(errmsg_internal("collector removed object \"%s\" of \"%s\"",
									 key, store->url)));
		}
	}
	return removed;
}

/*
 * ftstore.collect_objects(): removes the objects, older than the grace
 * period, that no catalog row calls cold, from the tier and its mirror.
 * Returns how many went.
 */
Datum
ft_collect_objects(PG_FUNCTION_ARGS)
{
	FtObjectStore *primary;
	FtObjectStore *mirror;
	int64		removed;
	Oid			save_userid;
	int			save_sec;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ft_tier_become_owner(&save_userid, &save_sec);
	primary = ft_tier_open(false);
	mirror = ft_tier_open(true);
	removed = sweep_store(primary);
	if (mirror)
		removed += sweep_store(mirror);
	primary->ops->close(primary);
	if (mirror)
		mirror->ops->close(mirror);
	ft_tier_restore_user(save_userid, save_sec);
	SPI_finish();
	PG_RETURN_INT64(removed);
}
