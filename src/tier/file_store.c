/*-------------------------------------------------------------------------
 *
 * file_store.c
 *	  XXX: placeholder until the store is written; it refuses every URL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tier/object_store.h"

FtObjectStore *
ft_file_store_open(const char *url, MemoryContext cxt)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("object store \"%s\" is not available in this build", url)));
	return NULL;				/* keep compiler quiet */
}

void
ft_file_store_define_settings(void)
{
}
