/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The offload worker: a background worker that applies the offload
 *	  policy (ftstore.offload_policy()) to one database, round after round.
 *
 * It comes in two kinds, running the same loop.  With ftstore in
 * shared_preload_libraries, _PG_init registers a static worker for each
 * database named in ftstore.offload_databases; the postmaster starts them
 * with the server, and again after a crash.  Without it,
 * ftstore.start_offload_worker() starts a dynamic one for the current
 * database, which lasts until the server stops.  Either way each round is
 * one transaction run as the extension's owner, and an error ends the
 * worker, which PostgreSQL starts again after bgw_restart_time: a store
 * that is down for a while only delays offloading.
 *
 * A worker holds a connection to its database, which DROP DATABASE and
 * ALTER DATABASE ... RENAME do not allow.  A utility hook asks the
 * database's workers to leave for good (SIGUSR2) before either runs, for a
 * role that owns the database; SIGTERM (pg_terminate_backend, a shutdown)
 * only ends a static worker until the postmaster starts it again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "tier/tier.h"

/* What bgw_type says, and what start_offload_worker looks for. */
#define FT_WORKER_TYPE		"ftstore offload worker"

/* Seconds before PostgreSQL starts a worker again after an error. */
#define FT_WORKER_RESTART	10

PG_FUNCTION_INFO_V1(ft_start_offload_worker);

static ProcessUtility_hook_type prev_process_utility = NULL;

/* Set by SIGUSR2: the worker's database is being dropped or renamed. */
static volatile sig_atomic_t leave_pending = false;

PGDLLEXPORT void ft_offload_worker_main(Datum arg);
PGDLLEXPORT void ft_offload_static_worker_main(Datum arg);

/*
 * One round: the policy, as the extension's owner, in a transaction of its
 * own.  A database without the extension is waited on, not an error: the
 * setting may name a database before CREATE EXTENSION runs there.
 */
static void
offload_round(bool *said_missing)
{
	int64		moved = 0;
	bool		isnull;
	bool		installed;
	char		dbname[NAMEDATALEN] = "";

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "ftstore offload policy");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension"
					" WHERE extname OPERATOR(pg_catalog.=) 'ftstore'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for the extension");
	installed = (SPI_processed == 1);
	if (installed)
	{
		Oid			save_userid;
		int			save_sec;

		ft_tier_become_owner(&save_userid, &save_sec);
		if (SPI_execute("SELECT ftstore.offload_policy()", false, 1) !=
			SPI_OK_SELECT)
			elog(ERROR, "could not run the offload policy");
		moved = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
		ft_tier_restore_user(save_userid, save_sec);
	}
	else if (!*said_missing)
	{
		/* copied out: the name lives in memory the commit frees */
		char	   *name = get_database_name(MyDatabaseId);

		strlcpy(dbname, name ? name : "?", sizeof(dbname));
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	if (dbname[0] != '\0')
		ereport(LOG,
				(errmsg("ftstore offload worker is waiting for extension \"ftstore\" in database \"%s\"",
						dbname)));
	*said_missing = !installed;
	if (moved > 0)
		ereport(DEBUG1,
				(errmsg_internal("offload worker moved " INT64_FORMAT " blobs",
								 moved)));
}

/*
 * Rounds until SIGTERM or SIGUSR2.  After SIGTERM, exit with exit_code: 1
 * makes the postmaster start a static worker again after bgw_restart_time,
 * 0 forgets a dynamic one.  After SIGUSR2 (the database is being dropped
 * or renamed), exit with 0 either way: not started again, the worker would
 * try a database that is gone, or serve one under a name nobody listed.
 */
static void
offload_loop(int exit_code)
{
	bool		said_missing = false;

	while (!ShutdownRequestPending && !leave_pending)
	{
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		offload_round(&said_missing);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) ft_worker_naptime * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(leave_pending ? 0 : exit_code);
}

static void
handle_leave(SIGNAL_ARGS)
{
	int			save_errno = errno;

	leave_pending = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
worker_signals(void)
{
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGUSR2, handle_leave);
	BackgroundWorkerUnblockSignals();
}

/* The dynamic worker: database and role by OID, from its starter. */
void
ft_offload_worker_main(Datum arg)
{
	Oid			roleid;

	memcpy(&roleid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	worker_signals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), roleid, 0);
	offload_loop(0);
}

/* Whether the worker's database is a template (pg_database.datistemplate). */
static bool
database_is_template(void)
{
	HeapTuple	tup;
	bool		template = false;

	StartTransactionCommand();
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
	if (HeapTupleIsValid(tup))
	{
		template = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
		ReleaseSysCache(tup);
	}
	CommitTransactionCommand();
	return template;
}

/*
 * The static worker: the database by name, from the setting.  It connects
 * as the bootstrap superuser, since no other role is known before the
 * database is open, and acts as the extension's owner in each round.
 */
void
ft_offload_static_worker_main(Datum arg)
{
	char		dbname[NAMEDATALEN];

	(void) arg;
	strlcpy(dbname, MyBgworkerEntry->bgw_extra, NAMEDATALEN);
	worker_signals();
	BackgroundWorkerInitializeConnection(dbname, NULL, 0);

	/*
	 * Not in a template: CREATE DATABASE copies one only while nobody is
	 * connected to it, so a worker there would make every CREATE DATABASE
	 * fail.  Exit code 0 keeps the postmaster from starting it again.
	 */
	if (database_is_template())
	{
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ftstore offload worker does not run in template database \"%s\"",
						dbname),
				 errhint("Remove it from \"%s\".", "ftstore.offload_databases")));
		proc_exit(0);
	}
	offload_loop(1);
}

static void
fill_worker(BackgroundWorker *worker, const char *function)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = FT_WORKER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "ftstore");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_type, BGW_MAXLEN, FT_WORKER_TYPE);
}

/*
 * Registers a static worker for each database in ftstore.offload_databases.
 * Called from _PG_init while shared_preload_libraries is being loaded; a
 * list that does not parse is a FATAL error there, as for any setting the
 * server cannot start with.
 */
void
ft_register_offload_workers(void)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;

	if (ft_offload_databases == NULL || ft_offload_databases[0] == '\0')
		return;
	raw = pstrdup(ft_offload_databases);
	if (!SplitIdentifierString(raw, ',', &names))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in parameter \"%s\"",
						"ftstore.offload_databases")));
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		BackgroundWorker worker;
		bool		seen = false;

		/* a name listed twice gets one worker, not two racing each other */
		for (ListCell *prev = list_head(names); prev != lc;
			 prev = lnext(names, prev))
			if (strcmp(lfirst(prev), name) == 0)
				seen = true;
		if (seen)
			continue;

		fill_worker(&worker, "ft_offload_static_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, FT_WORKER_TYPE " for %s", name);
		strlcpy(worker.bgw_extra, name, NAMEDATALEN);
		RegisterBackgroundWorker(&worker);
	}
}

/*
 * Asks the offload workers connected to the database to leave for good,
 * and returns how many were asked.  Only for a role that owns the database
 * (the command checks that too, but later): no other role may stop them.
 */
static int
stop_workers_in(const char *dbname)
{
	Oid			dboid = get_database_oid(dbname, true);
	int			n;
	int			stopped = 0;

	if (!OidIsValid(dboid) || !pg_database_ownercheck(dboid, GetUserId()))
		return 0;
	pgstat_clear_backend_activity_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;
		const char *type;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_databaseid != dboid || be->st_backendType != B_BG_WORKER)
			continue;
		type = GetBackgroundWorkerTypeByPid(be->st_procpid);
		if (type == NULL || strcmp(type, FT_WORKER_TYPE) != 0)
			continue;
		if (kill(be->st_procpid, SIGUSR2) == 0)
			stopped++;
	}
	pgstat_clear_backend_activity_snapshot();
	if (stopped > 0)
		ereport(LOG,
				(errmsg("stopped %d ftstore offload worker(s) of database \"%s\" so that it can be dropped or renamed",
						stopped, dbname)));
	return stopped;
}

/*
 * DROP DATABASE waits five seconds for the other sessions of the database
 * to leave, then fails if any is left, and ALTER DATABASE ... RENAME fails
 * at once: a worker waiting between rounds would make both fail.  Only
 * backends that loaded ftstore run this hook: with ftstore in
 * shared_preload_libraries, all of them.
 */
static void
ft_process_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	/* DROP DATABASE fails in a transaction block: stop nothing for it */
	if (IsA(stmt, DropdbStmt) && !IsTransactionBlock())
		stop_workers_in(((DropdbStmt *) stmt)->dbname);
	else if (IsA(stmt, RenameStmt) &&
			 ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
		stop_workers_in(((RenameStmt *) stmt)->subname);

	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* Called from _PG_init in every backend that loads ftstore. */
void
ft_worker_install_hooks(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = ft_process_utility;
}

/*
 * ftstore.start_offload_worker(): starts the offload worker for the
 * current database and returns its process id, or returns the process id
 * of the one already running there (started by an earlier call or with
 * the server), so that a deployment may call it at every start.
 */
Datum
ft_start_offload_worker(PG_FUNCTION_ARGS)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	Oid			owner;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = ObjectIdGetDatum(MyDatabaseId);
	if (SPI_execute_with_args("SELECT pid FROM pg_catalog.pg_stat_activity"
							  " WHERE backend_type OPERATOR(pg_catalog.=) '" FT_WORKER_TYPE "'"
							  " AND datid OPERATOR(pg_catalog.=) $1 LIMIT 1",
							  1, argtypes, args, NULL, true, 1) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not look for a running offload worker");
	if (SPI_processed == 1)
	{
		pid = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		PG_RETURN_INT32(pid);
	}
	owner = ft_tier_owner();
	SPI_finish();

	fill_worker(&worker, "ft_offload_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, FT_WORKER_TYPE);
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
