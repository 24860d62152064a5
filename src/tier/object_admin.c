/*-------------------------------------------------------------------------
 *
 * object_admin.c
 *	  SQL functions that let an administrator put, get, look up, delete and
 *	  list objects in any store the cold tier can open.
 *
 * Each call opens the store its URL names, does one operation and closes
 * it, so the functions work the same on file:// and s3:// stores.  They
 * are superuser-only: object_store.sql revokes EXECUTE from PUBLIC.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "tier/object_store.h"

PG_FUNCTION_INFO_V1(ft_object_put);
PG_FUNCTION_INFO_V1(ft_object_get);
PG_FUNCTION_INFO_V1(ft_object_head);
PG_FUNCTION_INFO_V1(ft_object_delete);
PG_FUNCTION_INFO_V1(ft_object_list);

/* What the list callback needs to add a row. */
typedef struct ListState
{
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
} ListState;

static FtObjectStore *
open_store(FunctionCallInfo fcinfo)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));

	return ft_object_store_open(url, CurrentMemoryContext);
}

Datum
ft_object_put(PG_FUNCTION_ARGS)
{
	FtObjectStore *store = open_store(fcinfo);
	char	   *key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea	   *data = PG_GETARG_BYTEA_PP(2);

	(void) store->ops->put(store, key, VARDATA_ANY(data),
						   VARSIZE_ANY_EXHDR(data), NULL);
	store->ops->close(store);
	PG_RETURN_VOID();
}

Datum
ft_object_get(PG_FUNCTION_ARGS)
{
	FtObjectStore *store = open_store(fcinfo);
	char	   *key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	StringInfoData buf;
	bytea	   *result;
	bool		found;

	/* Room for the varlena header first, so the bytes are copied once. */
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	found = store->ops->get(store, key, &buf, NULL, NULL);
	store->ops->close(store);
	if (!found)
		PG_RETURN_NULL();

	result = (bytea *) buf.data;
	SET_VARSIZE(result, buf.len);
	PG_RETURN_BYTEA_P(result);
}

Datum
ft_object_head(PG_FUNCTION_ARGS)
{
	FtObjectStore *store = open_store(fcinfo);
	char	   *key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	uint64		size = 0;
	bool		found;

	found = store->ops->head(store, key, &size);
	store->ops->close(store);
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) size);
}

Datum
ft_object_delete(PG_FUNCTION_ARGS)
{
	FtObjectStore *store = open_store(fcinfo);
	char	   *key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		found;

	found = store->ops->remove(store, key);
	store->ops->close(store);
	PG_RETURN_BOOL(found);
}

static void
list_row(const char *key, uint64 size, TimestampTz modified, void *arg)
{
	ListState  *ls = (ListState *) arg;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(key);
	values[1] = Int64GetDatum((int64) size);
	values[2] = TimestampTzGetDatum(modified);
	nulls[2] = (modified == 0);
	tuplestore_putvalues(ls->tupstore, ls->tupdesc, values, nulls);
}

Datum
ft_object_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FtObjectStore *store;
	char	   *prefix = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	ListState	ls;

	InitMaterializedSRF(fcinfo, 0);
	ls.tupstore = rsinfo->setResult;
	ls.tupdesc = rsinfo->setDesc;

	store = open_store(fcinfo);
	store->ops->list(store, prefix, list_row, &ls);
	store->ops->close(store);
	return (Datum) 0;
}
