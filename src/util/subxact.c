/*-------------------------------------------------------------------------
 *
 * subxact.c
 *	  Running a piece of work in a subtransaction and catching its error.
 *
 * Import turns a record's error into a reject, validation a parser's error
 * into a row, a cold read a primary store's error into a read from the
 * mirror, and the collector takes row locks it gives back at once: each
 * runs work that may fail in a subtransaction of its own, so that the
 * failure undoes only that work.  The steps to do so safely (memory
 * context and resource owner put back on both paths, the error copied
 * out before the rollback frees it) live here once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/resowner.h"

#include "util/subxact.h"

/*
 * Runs work(arg) in a subtransaction, in the caller's memory context.
 * Returns NULL when it returned, the subtransaction committed, or rolled
 * back when keep is false (work done for its locks only).  Returns the
 * error it raised otherwise, copied into the caller's memory context, the
 * subtransaction rolled back.  A query cancel is raised again rather than
 * returned: it is the user's, not the work's.
 */
ErrorData *
ft_run_in_subxact(FtSubxactWork work, void *arg, bool keep)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		work(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();

	if (edata == NULL && keep)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;

	if (edata != NULL && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	return edata;
}
