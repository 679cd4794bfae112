/*
 * safeupdate: refuse UPDATE and DELETE statements without a WHERE clause.
 *
 * Hosted Supabase loads pg-safeupdate into every session PostgREST opens
 * (session_preload_libraries of the authenticator role), so an API call that
 * would touch every row of a table fails instead. This is devstack's own
 * version of that rule; see README.md beside this file.
 *
 * The check runs in post_parse_analyze_hook, which sees every statement the
 * session parses: the ones a client sends and the ones PL/pgSQL and SQL
 * functions prepare through SPI. A function called through /rest/v1/rpc is
 * therefore checked statement by statement, as on hosted.
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Whoever held the hook before us (another extension, or nothing). */
static post_parse_analyze_hook_type previous_post_parse_analyze = NULL;

/* safeupdate.enabled: on by default, as on hosted. */
static bool safeupdate_enabled = true;

/*
 * Raises 21000 when the statement, or a data-modifying WITH clause inside
 * it, is an UPDATE or DELETE with no WHERE clause. `WHERE true` passes: the
 * rule is about forgetting the clause, not about how many rows it matches.
 */
static void
require_where_clause(Query *query)
{
	ListCell   *cell;

	foreach(cell, query->cteList)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, cell);

		if (IsA(cte->ctequery, Query))
			require_where_clause((Query *) cte->ctequery);
	}

	if (query->commandType != CMD_UPDATE && query->commandType != CMD_DELETE)
		return;
	if (query->jointree != NULL && query->jointree->quals != NULL)
		return;

	ereport(ERROR,
			(errcode(ERRCODE_CARDINALITY_VIOLATION),
			 errmsg("%s requires a WHERE clause",
					query->commandType == CMD_UPDATE ? "UPDATE" : "DELETE")));
}

static void
check_after_parse_analysis(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (previous_post_parse_analyze)
		previous_post_parse_analyze(pstate, query, jstate);

	if (safeupdate_enabled)
		require_where_clause(query);
}

void
_PG_init(void)
{
	DefineCustomBoolVariable("safeupdate.enabled",
							 "Refuse UPDATE and DELETE statements without a WHERE clause.",
							 NULL,
							 &safeupdate_enabled,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("safeupdate");

	previous_post_parse_analyze = post_parse_analyze_hook;
	post_parse_analyze_hook = check_after_parse_analysis;
}
