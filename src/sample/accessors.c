/*-------------------------------------------------------------------------
 *
 * accessors.c
 *	  Reading parts of a sample from SQL: its messages as rows, roles, turn
 *	  count, prompt and response text, sizes, format and kind.
 *
 * The text of a message is its content string or, for typed content
 * parts, the text of each part joined by newlines; parts kept whole as
 * JSON (image_url and the like) have no text.  Every accessor is
 * immutable: it reads the value and nothing else.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "sample/ftsample.h"

PG_FUNCTION_INFO_V1(ftsample_messages);
PG_FUNCTION_INFO_V1(ftsample_roles);
PG_FUNCTION_INFO_V1(ftsample_turns);
PG_FUNCTION_INFO_V1(ftsample_prompt_text);
PG_FUNCTION_INFO_V1(ftsample_response_text);
PG_FUNCTION_INFO_V1(ftsample_char_count);
PG_FUNCTION_INFO_V1(ftsample_token_count);
PG_FUNCTION_INFO_V1(ftsample_format);
PG_FUNCTION_INFO_V1(ftsample_kind);

void
ft_message_text(StringInfo buf, const FtMessage *m)
{
	if (m->flags & FT_MSG_CONTENT_PARTS)
	{
		bool		first = true;

		for (int j = 0; j < m->nparts; j++)
		{
			if (FtStrIsSet(m->parts[j].json))
				continue;
			if (!first)
				appendStringInfoChar(buf, '\n');
			first = false;
			appendBinaryStringInfo(buf, m->parts[j].text.p, m->parts[j].text.len);
		}
	}
	else if (!(m->flags & FT_MSG_CONTENT_NULL))
		appendBinaryStringInfo(buf, m->content.p, m->content.len);
}

static const char *
section_name(const FtSample *s, int i)
{
	if (i < s->nprompt)
		return "prompt";
	if (i < s->nprompt + s->nchosen)
		return "chosen";
	return "rejected";
}

/*
 * ftstore.messages(ftsample): one row per message, in order:
 * (ordinal, section, role, content, name, weight, tool_calls, tool_call_id).
 */
Datum
ftsample_messages(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	int			n = FtSampleMessageCount(s);
	StringInfoData text;

	InitMaterializedSRF(fcinfo, 0);
	initStringInfo(&text);
	for (int i = 0; i < n; i++)
	{
		const FtMessage *m = &s->messages[i];
		Datum		values[8];
		bool		nulls[8] = {0};

		values[0] = Int32GetDatum(i + 1);
		values[1] = CStringGetTextDatum(section_name(s, i));
		values[2] = CStringGetTextDatum(ft_role_name(m->role));
		if ((m->flags & (FT_MSG_CONTENT_NULL | FT_MSG_CONTENT_PARTS)) == FT_MSG_CONTENT_NULL)
			nulls[3] = true;
		else
		{
			resetStringInfo(&text);
			ft_message_text(&text, m);
			values[3] = PointerGetDatum(cstring_to_text_with_len(text.data, text.len));
		}
		if (m->flags & FT_MSG_HAS_NAME)
			values[4] = PointerGetDatum(cstring_to_text_with_len(m->name.p, m->name.len));
		else
			nulls[4] = true;
		if (m->flags & FT_MSG_HAS_WEIGHT)
			values[5] = Int32GetDatum((m->flags & FT_MSG_WEIGHT_ONE) ? 1 : 0);
		else
			nulls[5] = true;
		if (m->flags & FT_MSG_HAS_TOOL_CALLS)
			values[6] = DirectFunctionCall1(jsonb_in,
											CStringGetDatum(pnstrdup(m->tool_calls.p,
																	 m->tool_calls.len)));
		else
			nulls[6] = true;
		if (m->flags & FT_MSG_HAS_TOOL_CALL_ID)
			values[7] = PointerGetDatum(cstring_to_text_with_len(m->tool_call_id.p,
																 m->tool_call_id.len));
		else
			nulls[7] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ftstore.roles(ftsample): the distinct roles, in order of first use. */
Datum
ftsample_roles(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	int			n = FtSampleMessageCount(s);
	Datum		roles[FT_ROLE_MAX];
	bool		seen[FT_ROLE_MAX + 1] = {0};
	int			nroles = 0;

	for (int i = 0; i < n; i++)
	{
		int			r = s->messages[i].role;

		if (!seen[r])
		{
			seen[r] = true;
			roles[nroles++] = CStringGetTextDatum(ft_role_name(r));
		}
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(roles, nroles, TEXTOID, -1, false,
										  TYPALIGN_INT));
}

/*
 * ftstore.turns(ftsample): messages other than system and developer ones,
 * in the prompt and the chosen completion.  A preference pair counts its
 * exchange once; a raw text document has no turns.
 */
Datum
ftsample_turns(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	int			turns = 0;

	for (int i = 0; i < s->nprompt + s->nchosen; i++)
	{
		int			r = s->messages[i].role;

		if (r != FT_ROLE_SYSTEM && r != FT_ROLE_DEVELOPER && r != FT_ROLE_TEXT)
			turns++;
	}
	PG_RETURN_INT32(turns);
}

/*
 * The index of the response: the chosen completion of a pair, else the
 * last message when it is an assistant's.  -1 when there is none.
 */
static int
response_index(const FtSample *s)
{
	if (s->kind == FT_KIND_TEXT)
		return -1;
	if (s->nchosen > 0)
		return s->nprompt;
	if (s->nprompt > 0 && s->messages[s->nprompt - 1].role == FT_ROLE_ASSISTANT)
		return s->nprompt - 1;
	return -1;
}

/*
 * ftstore.prompt_text(ftsample): the text of every prompt message before
 * the response, joined by newlines; NULL for raw text.
 */
Datum
ftsample_prompt_text(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	int			resp = response_index(s);
	int			end = (resp >= 0 && resp < s->nprompt) ? resp : s->nprompt;
	StringInfoData buf;

	if (s->kind == FT_KIND_TEXT)
		PG_RETURN_NULL();
	initStringInfo(&buf);
	for (int i = 0; i < end; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, '\n');
		ft_message_text(&buf, &s->messages[i]);
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/* ftstore.response_text(ftsample): the response's text, or NULL. */
Datum
ftsample_response_text(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	int			resp = response_index(s);
	StringInfoData buf;

	if (resp < 0)
		PG_RETURN_NULL();
	initStringInfo(&buf);
	ft_message_text(&buf, &s->messages[resp]);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/* ftstore.char_count(ftsample): characters of text in every message. */
Datum
ftsample_char_count(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	int			n = FtSampleMessageCount(s);
	int64		chars = 0;
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		resetStringInfo(&buf);
		ft_message_text(&buf, &s->messages[i]);
		chars += pg_mbstrlen_with_len(buf.data, buf.len);
	}
	PG_RETURN_INT32((int32) Min(chars, PG_INT32_MAX));
}

/*
 * ftstore.token_count(ftsample): an estimate of the tokens a chat template
 * gives the sample: the text, tool calls and tools, plus the three tokens
 * per message and three per sample that OpenAI's counting recipe adds for
 * the template.  See tokens.c for how text is estimated.
 */
Datum
ftsample_token_count(PG_FUNCTION_ARGS)
{
	FtSample   *s = ft_sample_from_datum(PG_GETARG_DATUM(0));
	int			n = FtSampleMessageCount(s);
	int64		tokens = (s->kind == FT_KIND_TEXT) ? 0 : 3;
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		const FtMessage *m = &s->messages[i];

		resetStringInfo(&buf);
		ft_message_text(&buf, m);
		tokens += ft_estimate_tokens(buf.data, buf.len);
		if (m->flags & FT_MSG_HAS_TOOL_CALLS)
			tokens += ft_estimate_tokens(m->tool_calls.p, m->tool_calls.len);
		if (m->role != FT_ROLE_TEXT)
			tokens += 3;
	}
	if (s->flags & FT_SAMPLE_HAS_TOOLS)
		tokens += ft_estimate_tokens(s->tools.p, s->tools.len);
	PG_RETURN_INT32((int32) Min(tokens, PG_INT32_MAX));
}

/*
 * Format and kind read only the header bytes; no need to decode the whole
 * value, which matters when they are used in an index or a filter.
 */
static const uint8 *
header_of(FunctionCallInfo fcinfo)
{
	struct varlena *v = (struct varlena *) PG_DETOAST_DATUM_SLICE(PG_GETARG_DATUM(0), 0, 4);
	const uint8 *h = (const uint8 *) VARDATA_ANY(v);

	if (VARSIZE_ANY_EXHDR(v) < 4 ||
		(h[0] & FT_LAYOUT_VERSION_MASK) != FT_LAYOUT_VERSION ||
		h[1] < FT_FORMAT_OPENAI || h[1] > FT_FORMAT_MAX ||
		h[2] < 1 || h[2] > FT_KIND_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt ftsample value"),
				 errdetail("The stored value is damaged near its header.")));
	return h;
}

Datum
ftsample_format(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(ft_format_name(header_of(fcinfo)[1])));
}

Datum
ftsample_kind(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(ft_kind_name(header_of(fcinfo)[2])));
}
