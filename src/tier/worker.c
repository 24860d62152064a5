/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The offload worker: a dynamic background worker that applies the
 *	  offload policy (ftstore.offload_policy()) to one database, round after
 *	  round.
 *
 * Dynamic rather than static so that ftstore needs no place in
 * shared_preload_libraries: ftstore.start_offload_worker() starts one for
 * the current database, running as the extension's owner.  Each round is
 * one transaction; an error ends the worker, and PostgreSQL starts it
 * again after bgw_restart_time, so a store that is down for a while only
 * delays offloading.  The worker is not started again after a restart of
 * the server: starting it is part of the deployment (docs/tier.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "tier/tier.h"

PG_FUNCTION_INFO_V1(ft_start_offload_worker);

PGDLLEXPORT void ft_offload_worker_main(Datum arg);

void
ft_offload_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	Oid			roleid;

	memcpy(&roleid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, roleid, 0);

	while (!ShutdownRequestPending)
	{
		int64		moved;
		bool		isnull;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "ftstore offload policy");
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT ftstore.offload_policy()", false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not run the offload policy");
		moved = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		if (moved > 0)
			ereport(DEBUG1,
					(errmsg_internal("offload worker moved " INT64_FORMAT " blobs",
									 moved)));

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) ft_worker_naptime * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}

/*
 * ftstore.start_offload_worker(): starts the offload worker for the
 * current database and returns its process id.
 */
Datum
ft_start_offload_worker(PG_FUNCTION_ARGS)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	Oid			owner;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	owner = ft_tier_owner();
	SPI_finish();

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "ftstore");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ft_offload_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "ftstore offload worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "ftstore offload worker");
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	memcpy(worker.bgw_extra, &owner, sizeof(Oid));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the offload worker"),
				 errhint("Raise max_worker_processes.")));
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("the offload worker did not start"),
				 errhint("The server log says why.")));
	PG_RETURN_INT32(pid);
}
