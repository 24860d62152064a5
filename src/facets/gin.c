/*-------------------------------------------------------------------------
 *
 * gin.c
 *	  The default GIN operator class of ftsample: the plumbing between
 *	  GIN and the facet entries and queries of facets.c.
 *
 * Every entry and every query entry is exact (see "Index entries" in
 * facets.c), so the consistent function never asks for a recheck: an
 * item matches when each of its query entries is present.  A containment
 * query with a turn count, for one, is the turn entry AND the signatures
 * that satisfy the rest.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/gin.h"
#include "access/stratnum.h"
#include "fmgr.h"

#include "facets/facets.h"

PG_FUNCTION_INFO_V1(ftsample_gin_extract_value);
PG_FUNCTION_INFO_V1(ftsample_gin_extract_query);
PG_FUNCTION_INFO_V1(ftsample_gin_consistent);
PG_FUNCTION_INFO_V1(ftsample_gin_triconsistent);
PG_FUNCTION_INFO_V1(ftsample_gin_compare_partial);

Datum
ftsample_gin_extract_value(PG_FUNCTION_ARGS)
{
	int32	   *nentries = (int32 *) PG_GETARG_POINTER(1);
	Datum	   *entries = palloc(sizeof(Datum) * FT_FACETS_MAX_ENTRIES);

	*nentries = ft_facets_entries(PG_GETARG_DATUM(0), entries);
	PG_RETURN_POINTER(entries);
}

Datum
ftsample_gin_extract_query(PG_FUNCTION_ARGS)
{
	Datum		query = PG_GETARG_DATUM(0);
	int32	   *nentries = (int32 *) PG_GETARG_POINTER(1);
	StrategyNumber strategy = PG_GETARG_UINT16(2);
	bool	  **pmatch = (bool **) PG_GETARG_POINTER(3);
	Pointer   **extra_data = (Pointer **) PG_GETARG_POINTER(4);
	int32	   *searchMode = (int32 *) PG_GETARG_POINTER(6);
	Datum	   *entries = palloc(sizeof(Datum) * FT_FACETS_MAX_ENTRIES);
	FtFacetQuery *q;
	bool		partial;
	int			n;

	q = ft_facets_query(strategy, query, entries, &n, &partial);
	*nentries = n;
	*searchMode = GIN_SEARCH_MODE_DEFAULT;
	/* no entries in the default mode: GIN knows that nothing matches */
	if (q == NULL || n == 0)
		PG_RETURN_POINTER(entries);
	if (partial)
	{
		*pmatch = palloc0(sizeof(bool) * n);
		*extra_data = palloc0(sizeof(Pointer) * n);
		(*pmatch)[n - 1] = true;
		(*extra_data)[n - 1] = (Pointer) q;
	}
	PG_RETURN_POINTER(entries);
}

Datum
ftsample_gin_compare_partial(PG_FUNCTION_ARGS)
{
	Datum		key = PG_GETARG_DATUM(1);
	Pointer		extra = PG_GETARG_POINTER(3);

	PG_RETURN_INT32(ft_facets_compare_partial((const FtFacetQuery *) extra,
											  key));
}

Datum
ftsample_gin_consistent(PG_FUNCTION_ARGS)
{
	bool	   *check = (bool *) PG_GETARG_POINTER(0);
	int32		nkeys = PG_GETARG_INT32(3);
	bool	   *recheck = (bool *) PG_GETARG_POINTER(5);

	*recheck = false;
	for (int i = 0; i < nkeys; i++)
		if (!check[i])
			PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(true);
}

Datum
ftsample_gin_triconsistent(PG_FUNCTION_ARGS)
{
	GinTernaryValue *check = (GinTernaryValue *) PG_GETARG_POINTER(0);
	int32		nkeys = PG_GETARG_INT32(3);
	GinTernaryValue res = GIN_TRUE;

	for (int i = 0; i < nkeys; i++)
	{
		if (check[i] == GIN_FALSE)
			PG_RETURN_GIN_TERNARY_VALUE(GIN_FALSE);
		if (check[i] == GIN_MAYBE)
			res = GIN_MAYBE;
	}
	PG_RETURN_GIN_TERNARY_VALUE(res);
}
