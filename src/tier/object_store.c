/*-------------------------------------------------------------------------
 *
 * object_store.c
 *	  Opens the object store a cold-tier URL names.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tier/object_store.h"

FtObjectStore *
ft_object_store_open(const char *url, MemoryContext cxt)
{
	if (strncmp(url, "file://", 7) == 0)
		return ft_file_store_open(url, cxt);
	if (strncmp(url, "s3://", 5) == 0)
		return ft_s3_store_open(url, cxt);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported object store URL \"%s\"", url),
			 errhint("Use file:///absolute/directory or s3://bucket/prefix.")));
	return NULL;				/* keep compiler quiet */
}
