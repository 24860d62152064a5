/*-------------------------------------------------------------------------
 *
 * facets.h
 *	  What the facets code (facets.c) offers its GIN operator class (gin.c):
 *	  a sample's index entries, and a query compiled for them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FT_FACETS_H
#define FT_FACETS_H

#include "fmgr.h"

#include "sample/ftsample.h"

/* The signature entry, the turn count and one count per media kind. */
#define FT_FACETS_MAX_ENTRIES	(2 + FT_NUM_MEDIA)

/* A compiled query; its layout is facets.c's own. */
typedef struct FtFacetQuery FtFacetQuery;

extern int	ft_facets_entries(Datum sample, Datum *entries);
extern FtFacetQuery *ft_facets_query(int strategy, Datum query,
									 Datum *entries, int *nentries,
									 bool *partial);
extern int	ft_facets_compare_partial(const FtFacetQuery *q, Datum key);

#endif							/* FT_FACETS_H */
