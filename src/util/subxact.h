/*-------------------------------------------------------------------------
 *
 * subxact.h
 *	  Running a piece of work in a subtransaction and catching its error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FT_SUBXACT_H
#define FT_SUBXACT_H

#include "postgres.h"

typedef void (*FtSubxactWork) (void *arg);

extern ErrorData *ft_run_in_subxact(FtSubxactWork work, void *arg,
									bool keep);

#endif							/* FT_SUBXACT_H */
