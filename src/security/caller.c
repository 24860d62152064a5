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
 *
 * The audit triggers have the same need: they must write the log, which
 * no role may, and name who did the work.  Their entry point runs as the
 * role whose statement fired them and calls ftstore.<name>_as with the
 * same trigger data.  While a body runs, the actor is kept here, and
 * ftstore.current_actor() answers it: so the log names the role that did
 * the work, also when its statement ran inside another role's SECURITY
 * DEFINER function, and work done by a body (grant() writing a grant,
 * say) is logged under the body's caller, not under the owner it runs as.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(ft_call_as_caller);
PG_FUNCTION_INFO_V1(ft_trigger_as_caller);
PG_FUNCTION_INFO_V1(ft_current_actor);

/* The role a running body acts for; InvalidOid outside bodies. */
static Oid	acting_for = InvalidOid;

typedef struct CallerTarget
{
	FmgrInfo	body;
	int			nargs;			/* the entry point's; the body has one more */
} CallerTarget;

/*
 * The body of the entry point fn_oid: ftstore.<its name>_as, with its
 * argument types, and a name last when with_actor.  Looked up once per
 * call site.
 */
static CallerTarget *
caller_target(FmgrInfo *flinfo, bool with_actor)
{
	CallerTarget *target = (CallerTarget *) flinfo->fn_extra;
	HeapTuple	tuple;
	Form_pg_proc proc;
	Oid			argtypes[FUNC_MAX_ARGS];
	char	   *schema;
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
	schema = get_namespace_name(proc->pronamespace);
	body = LookupFuncName(list_make2(makeString(schema), makeString(body_name)),
						  proc->pronargs + (with_actor ? 1 : 0), argtypes,
						  false);

	target = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(CallerTarget));
	target->nargs = proc->pronargs;
	ReleaseSysCache(tuple);

	fmgr_info_cxt(body, &target->body, flinfo->fn_mcxt);
	flinfo->fn_extra = target;
	return target;
}

/*
 * Who a call acts for: the actor of the body it runs inside, if any (there
 * current_user is the owner), else current_user.
 */
static Oid
caller_actor(void)
{
	return OidIsValid(acting_for) ? acting_for : GetUserId();
}

/* Runs inner with acting_for set to actor, restored however it ends. */
static Datum
call_body(FunctionCallInfo inner, Oid actor)
{
	Oid			outer = acting_for;
	Datum		result;

	acting_for = actor;
	PG_TRY();
	{
		result = FunctionCallInvoke(inner);
	}
	PG_FINALLY();
	{
		acting_for = outer;
	}
	PG_END_TRY();
	return result;
}

Datum
ft_call_as_caller(PG_FUNCTION_ARGS)
{
	CallerTarget *target = caller_target(fcinfo->flinfo, true);
	LOCAL_FCINFO(inner, FUNC_MAX_ARGS);
	Oid			actor = caller_actor();
	Name		actor_name;
	Datum		result;
	int			i;

	actor_name = (Name) palloc0(NAMEDATALEN);
	namestrcpy(actor_name, GetUserNameFromId(actor, false));

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
	inner->args[target->nargs].value = NameGetDatum(actor_name);
	inner->args[target->nargs].isnull = false;

	result = call_body(inner, actor);
	fcinfo->isnull = inner->isnull;
	return result;
}

/*
 * A trigger's entry point: the body is a trigger function of its own,
 * given the same trigger data; it learns the actor from current_actor().
 */
Datum
ft_trigger_as_caller(PG_FUNCTION_ARGS)
{
	CallerTarget *target;
	LOCAL_FCINFO(inner, 0);
	Datum		result;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s was not called by the trigger manager",
						format_procedure(fcinfo->flinfo->fn_oid))));
	target = caller_target(fcinfo->flinfo, false);
	InitFunctionCallInfoData(*inner, &target->body, 0, fcinfo->fncollation,
							 fcinfo->context, fcinfo->resultinfo);
	result = call_body(inner, caller_actor());
	fcinfo->isnull = inner->isnull;
	return result;
}

/*
 * The role the caller acts for: the actor of the body running, else the
 * role the session acts as (SET ROLE, else the session user).
 */
Datum
ft_current_actor(PG_FUNCTION_ARGS)
{
	Oid			actor = OidIsValid(acting_for) ? acting_for : GetOuterUserId();
	Name		result = (Name) palloc0(NAMEDATALEN);

	namestrcpy(result, GetUserNameFromId(actor, false));
	PG_RETURN_NAME(result);
}
