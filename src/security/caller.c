/*
 * caller.c: entry points that name their caller to a SECURITY DEFINER body.
 *
 * Functions such as ftstore.grant() must run as the extension's owner (no
 * role may write the grants table itself) yet decide by the caller's
 * grants.  Inside a SECURITY DEFINER function current_user is the owner,
 * and SQL cannot tell which role made the call: the session's role (what
 * ftstore.current_actor() reads) is not it when another role's SECURITY
 * DEFINER function is in between, which would let that function's owner
 * act with the rights of whoever calls it.
 *
 * So each such function is this C entry point, which runs as its caller,
 * takes current_user (GetUserId()) and calls the body, ftstore.<name>_as,
 * with the caller's name added as a last argument.  The bodies are
 * SECURITY DEFINER and executable by no role: the call goes through the
 * function manager, which checks no EXECUTE privilege, so only this entry
 * point reaches them and nobody can pass another actor.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(ft_call_as_caller);

typedef struct CallerTarget
{
	FmgrInfo	body;
	int			nargs;			/* the entry point's; the body has one more */
} CallerTarget;

/*
 * The body of the entry point fn_oid: ftstore.<its name>_as, with its
 * argument types and a name.  Looked up once per call site.
 */
static CallerTarget *
caller_target(FmgrInfo *flinfo)
{
	CallerTarget *target = (CallerTarget *) flinfo->fn_extra;
	HeapTuple	tuple;
	Form_pg_proc proc;
	Oid			argtypes[FUNC_MAX_ARGS];
	char	   *body_name;
	Oid			body;

	if (target != NULL)
		return target;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(flinfo->fn_oid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	if (proc->pronargs >= FUNC_MAX_ARGS)
		elog(ERROR, "function %u has too many arguments for an actor",
			 flinfo->fn_oid);

	memcpy(argtypes, proc->proargtypes.values, proc->pronargs * sizeof(Oid));
	argtypes[proc->pronargs] = NAMEOID;
	body_name = psprintf("%s_as", NameStr(proc->proname));
	body = LookupFuncName(list_make2(makeString(get_namespace_name(proc->pronamespace)),
									 makeString(body_name)),
						  proc->pronargs + 1, argtypes, false);

	target = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(CallerTarget));
	target->nargs = proc->pronargs;
	ReleaseSysCache(tuple);

	fmgr_info_cxt(body, &target->body, flinfo->fn_mcxt);
	flinfo->fn_extra = target;
	return target;
}

Datum
ft_call_as_caller(PG_FUNCTION_ARGS)
{
	CallerTarget *target = caller_target(fcinfo->flinfo);
	LOCAL_FCINFO(inner, FUNC_MAX_ARGS);
	Name		actor;
	Datum		result;
	int			i;

	/* The role this call runs as, whatever the session's role is. */
	actor = (Name) palloc0(NAMEDATALEN);
	namestrcpy(actor, GetUserNameFromId(GetUserId(), false));

	InitFunctionCallInfoData(*inner, &target->body, target->nargs + 1,
							 fcinfo->fncollation, fcinfo->context,
							 fcinfo->resultinfo);
	for (i = 0; i < target->nargs; i++)
	{
		inner->args[i] = fcinfo->args[i];
		/* A strict body is not called with a null, as the executor would. */
		if (fcinfo->args[i].isnull && target->body.fn_strict)
			PG_RETURN_NULL();
	}
	inner->args[target->nargs].value = NameGetDatum(actor);
	inner->args[target->nargs].isnull = false;

	result = FunctionCallInvoke(inner);
	fcinfo->isnull = inner->isnull;
	return result;
}
