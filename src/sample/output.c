/*-------------------------------------------------------------------------
 *
 * output.c
 *	  Writing a sample as JSON: the canonical text form, and renderings in
 *	  the OpenAI, Alpaca and ShareGPT shapes.
 *
 * The canonical form is the OpenAI shape with a fixed key order, so the
 * same sample always gives the same bytes; that is what makes exports
 * byte-exact and the text form usable as a dump format.  What the OpenAI
 * shape cannot say by itself (the format of origin, where Alpaca's input
 * starts in the prompt, how ShareGPT spelled its tools) goes under one
 * reserved key, "ftstore", read back by the parser.
 *
 * Renderings in other shapes refuse samples that shape cannot hold (tool
 * calls in Alpaca, say) with an error that says why, rather than dropping
 * part of the sample.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "sample/ftsample.h"

/* JSON string escaping, byte for byte what jsonb's output does. */
void
ft_write_json_string(StringInfo buf, const char *p, int len)
{
	const char *end = p + len;
	const char *run = p;

	enlargeStringInfo(buf, len + 2);
	appendStringInfoChar(buf, '"');
	for (; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;
		const char *esc = NULL;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (p > run)
			appendBinaryStringInfo(buf, run, p - run);
		run = p + 1;
		switch (c)
		{
			case '"':
				esc = "\\\"";
				break;
			case '\\':
				esc = "\\\\";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			default:
				appendStringInfo(buf, "\\u%04x", c);
				break;
		}
		if (esc)
			appendStringInfoString(buf, esc);
	}
	if (p > run)
		appendBinaryStringInfo(buf, run, p - run);
	appendStringInfoChar(buf, '"');
}

static void
write_str(StringInfo buf, FtStr s)
{
	ft_write_json_string(buf, s.p, s.len);
}

static void
write_key(StringInfo buf, bool *first, const char *key)
{
	if (!*first)
		appendStringInfoString(buf, ", ");
	*first = false;
	ft_write_json_string(buf, key, strlen(key));
	appendStringInfoString(buf, ": ");
}

/* Splice the keys of a canonical extra object into the object being written. */
static void
write_extra(StringInfo buf, bool *first, FtStr extra)
{
	if (!FtStrIsSet(extra) || extra.len <= 2)
		return;
	if (!*first)
		appendStringInfoString(buf, ", ");
	*first = false;
	appendBinaryStringInfo(buf, extra.p + 1, extra.len - 2);
}

static void
write_content(StringInfo buf, const FtMessage *m)
{
	if (m->flags & FT_MSG_CONTENT_PARTS)
	{
		appendStringInfoChar(buf, '[');
		for (int j = 0; j < m->nparts; j++)
		{
			const FtPart *p = &m->parts[j];

			if (j > 0)
				appendStringInfoString(buf, ", ");
			if (FtStrIsSet(p->json))
				appendBinaryStringInfo(buf, p->json.p, p->json.len);
			else
			{
				appendStringInfoString(buf, "{\"type\": ");
				write_str(buf, p->type);
				appendStringInfoString(buf, ", \"text\": ");
				write_str(buf, p->text);
				appendStringInfoChar(buf, '}');
			}
		}
		appendStringInfoChar(buf, ']');
	}
	else if (m->flags & FT_MSG_CONTENT_NULL)
		appendStringInfoString(buf, "null");
	else
		write_str(buf, m->content);
}

static void
write_openai_message(StringInfo buf, const FtMessage *m)
{
	bool		first = true;

	appendStringInfoChar(buf, '{');
	write_key(buf, &first, "role");
	ft_write_json_string(buf, ft_role_name(m->role), strlen(ft_role_name(m->role)));
	if (m->flags & FT_MSG_HAS_NAME)
	{
		write_key(buf, &first, "name");
		write_str(buf, m->name);
	}
	write_key(buf, &first, "content");
	write_content(buf, m);
	if (m->flags & FT_MSG_HAS_TOOL_CALLS)
	{
		write_key(buf, &first, "tool_calls");
		appendBinaryStringInfo(buf, m->tool_calls.p, m->tool_calls.len);
	}
	if (m->flags & FT_MSG_HAS_TOOL_CALL_ID)
	{
		write_key(buf, &first, "tool_call_id");
		write_str(buf, m->tool_call_id);
	}
	if (m->flags & FT_MSG_HAS_WEIGHT)
	{
		write_key(buf, &first, "weight");
		appendStringInfoChar(buf, (m->flags & FT_MSG_WEIGHT_ONE) ? '1' : '0');
	}
	write_extra(buf, &first, m->extra);
	appendStringInfoChar(buf, '}');
}

static void
write_openai_messages(StringInfo buf, const FtMessage *msgs, int n)
{
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		write_openai_message(buf, &msgs[i]);
	}
	appendStringInfoChar(buf, ']');
}

static void
write_tools_fields(StringInfo buf, bool *first, const FtSample *s)
{
	if (s->flags & FT_SAMPLE_HAS_TOOLS)
	{
		write_key(buf, first, "tools");
		appendBinaryStringInfo(buf, s->tools.p, s->tools.len);
	}
	if (s->flags & FT_SAMPLE_HAS_PARALLEL)
	{
		write_key(buf, first, "parallel_tool_calls");
		appendStringInfoString(buf,
							   (s->flags & FT_SAMPLE_PARALLEL_TRUE) ? "true" : "false");
	}
}

static void
write_label(StringInfo buf, bool *first, const FtSample *s, const char *key)
{
	if (s->flags & FT_SAMPLE_HAS_LABEL)
	{
		write_key(buf, first, key);
		appendStringInfoString(buf,
							   (s->flags & FT_SAMPLE_LABEL_TRUE) ? "true" : "false");
	}
}

static void
write_media(StringInfo buf, bool *first, const FtSample *s)
{
	if (!(s->flags & FT_SAMPLE_HAS_MEDIA))
		return;
	for (int k = 0; k < FT_NUM_MEDIA; k++)
	{
		if (s->nmedia[k] == 0)
			continue;
		write_key(buf, first, ft_media_key(k));
		appendStringInfoChar(buf, '[');
		for (int j = 0; j < s->nmedia[k]; j++)
		{
			if (j > 0)
				appendStringInfoString(buf, ", ");
			write_str(buf, s->media[k][j]);
		}
		appendStringInfoChar(buf, ']');
	}
}

/* Does the canonical shape leave anything unsaid that the meta key must hold? */
static bool
needs_meta(const FtSample *s)
{
	if (s->hints != 0 || s->input_offset > 0)
		return true;
	if (s->kind == FT_KIND_TEXT)
		return s->format != FT_FORMAT_TEXT;
	return s->format != FT_FORMAT_OPENAI;
}

static void
write_meta(StringInfo buf, bool *first, const FtSample *s)
{
	bool		mfirst = true;

	if (!needs_meta(s))
		return;
	write_key(buf, first, "ftstore");
	appendStringInfoChar(buf, '{');
	write_key(buf, &mfirst, "format");
	ft_write_json_string(buf, ft_format_name(s->format),
						 strlen(ft_format_name(s->format)));
	if (s->input_offset > 0)
	{
		write_key(buf, &mfirst, "input_offset");
		appendStringInfo(buf, "%d", s->input_offset - 1);
	}
	if (s->hints & FT_HINT_TOOLS_AS_STRING)
	{
		write_key(buf, &mfirst, "tools_as_string");
		appendStringInfoString(buf, "true");
	}
	if (s->hints & FT_HINT_KTO_TAG)
	{
		write_key(buf, &mfirst, "kto_tag");
		appendStringInfoString(buf, "true");
	}
	if (s->hints & FT_HINT_SYSTEM_FIELD)
	{
		write_key(buf, &mfirst, "system_field");
		appendStringInfoString(buf, "true");
	}
	if (s->hints & FT_HINT_INSTANCES)
	{
		write_key(buf, &mfirst, "instances");
		appendStringInfoString(buf, "true");
	}
	if (s->hints & FT_HINT_RESPONSE_KEY)
	{
		write_key(buf, &mfirst, "response_key");
		appendStringInfoString(buf, "true");
	}
	appendStringInfoChar(buf, '}');
}

/* The OpenAI shape, with or without the meta key. */
static void
write_openai(StringInfo buf, const FtSample *s, bool meta)
{
	bool		first = true;

	appendStringInfoChar(buf, '{');
	if (s->kind == FT_KIND_TEXT)
	{
		write_key(buf, &first, "text");
		write_str(buf, s->messages[0].content);
		/* odd on a document, but what was loaded is written back */
		write_tools_fields(buf, &first, s);
	}
	else if (s->kind == FT_KIND_PREFERENCE)
	{
		bool		ifirst = true;

		write_key(buf, &first, "input");
		appendStringInfoChar(buf, '{');
		write_key(buf, &ifirst, "messages");
		write_openai_messages(buf, s->messages, s->nprompt);
		write_tools_fields(buf, &ifirst, s);
		appendStringInfoChar(buf, '}');
		write_key(buf, &first, "preferred_output");
		write_openai_messages(buf, s->messages + s->nprompt, s->nchosen);
		write_key(buf, &first, "non_preferred_output");
		write_openai_messages(buf, s->messages + s->nprompt + s->nchosen,
							  s->nrejected);
	}
	else
	{
		write_key(buf, &first, "messages");
		write_openai_messages(buf, s->messages, s->nprompt);
		write_tools_fields(buf, &first, s);
		write_label(buf, &first, s, "label");
	}
	write_media(buf, &first, s);
	write_extra(buf, &first, s->extra);
	if (meta)
		write_meta(buf, &first, s);
	appendStringInfoChar(buf, '}');
}

void
ft_write_canonical(StringInfo buf, const FtSample *s)
{
	write_openai(buf, s, true);
}

static void
pg_attribute_noreturn()
unrenderable(const char *format, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("sample cannot be rendered in %s format", format),
			 errdetail("%s", why)));
	pg_unreachable();
}

/* Text of a message that a plain-text format can hold, or an error. */
static FtStr
plain_content(const FtMessage *m, const char *format)
{
	FtStr		empty = {"", 0};

	if (m->flags & FT_MSG_CONTENT_PARTS)
		unrenderable(format, "A message has typed content parts.");
	if (m->flags & FT_MSG_CONTENT_NULL)
		return empty;
	return m->content;
}

static void
write_alpaca(StringInfo buf, const FtSample *s)
{
	bool		first = true;
	const FtMessage *msgs = s->messages;
	int			n = s->nprompt;
	int			i = 0;
	int			last_user;
	bool		has_output;
	FtStr		prompt;
	int			split;

	if (s->kind == FT_KIND_TEXT)
		unrenderable("alpaca", "A raw text document has no instruction.");
	for (int k = 0; k < FtSampleMessageCount(s); k++)
	{
		if (msgs[k].flags & (FT_MSG_HAS_TOOL_CALLS | FT_MSG_HAS_TOOL_CALL_ID) ||
			msgs[k].role == FT_ROLE_TOOL || msgs[k].role == FT_ROLE_FUNCTION)
			unrenderable("alpaca", "The sample has tool calls, which Alpaca cannot hold.");
		if (msgs[k].flags & FT_MSG_HAS_EXTRA)
			unrenderable("alpaca", "A message has keys that Alpaca cannot hold.");
		if (msgs[k].role == FT_ROLE_DEVELOPER)
			unrenderable("alpaca", "A message has the developer role, which Alpaca cannot hold.");
		if (msgs[k].flags & FT_MSG_HAS_NAME)
			unrenderable("alpaca", "A message has a name, which Alpaca cannot hold.");
		if (msgs[k].flags & FT_MSG_HAS_WEIGHT)
			unrenderable("alpaca", "A message has a weight, which Alpaca cannot hold.");
	}
	/* a pair needs one message on each side; the code below relies on it */
	if (s->kind == FT_KIND_PREFERENCE && (s->nchosen != 1 || s->nrejected != 1))
		unrenderable("alpaca", "A completion does not hold exactly one message.");
	if (s->kind != FT_KIND_PREFERENCE && s->nchosen + s->nrejected > 0)
		unrenderable("alpaca", "The sample has completions but is not a preference pair.");

	if (i < n && msgs[i].role == FT_ROLE_SYSTEM)
		i++;
	has_output = (n > i && msgs[n - 1].role == FT_ROLE_ASSISTANT &&
				  s->kind != FT_KIND_PREFERENCE);
	last_user = has_output ? n - 2 : n - 1;
	if (last_user < i || msgs[last_user].role != FT_ROLE_USER)
		unrenderable("alpaca", "The prompt does not end in a user turn.");
	/* history is whole [query, answer] pairs, so an even number of turns */
	if ((last_user - i) % 2 != 0)
		unrenderable("alpaca", "The turns before the last do not alternate user and assistant.");
	for (int k = i; k < last_user; k++)
	{
		int			want = ((k - i) % 2 == 0) ? FT_ROLE_USER : FT_ROLE_ASSISTANT;

		if (msgs[k].role != want)
			unrenderable("alpaca", "The turns before the last do not alternate user and assistant.");
	}

	appendStringInfoChar(buf, '{');
	prompt = plain_content(&msgs[last_user], "alpaca");
	split = s->input_offset - 1;
	if (!(split >= 1 && split <= prompt.len && prompt.p[split - 1] == '\n'))
		split = -1;
	write_key(buf, &first, "instruction");
	ft_write_json_string(buf, prompt.p, split > 0 ? split - 1 : prompt.len);
	if ((s->hints & FT_HINT_INSTANCES) && has_output)
	{
		/* self-instruct's spelling, as it came */
		write_key(buf, &first, "instances");
		appendStringInfoString(buf, "[{\"input\": ");
		ft_write_json_string(buf, prompt.p + Max(split, 0),
							 split > 0 ? prompt.len - split : 0);
		appendStringInfoString(buf, ", \"output\": ");
		write_str(buf, plain_content(&msgs[n - 1], "alpaca"));
		appendStringInfoString(buf, "}]");
		has_output = false;
	}
	else
	{
		write_key(buf, &first, "input");
		ft_write_json_string(buf, prompt.p + Max(split, 0),
							 split > 0 ? prompt.len - split : 0);
	}
	if (has_output)
	{
		write_key(buf, &first,
				  (s->hints & FT_HINT_RESPONSE_KEY) ? "response" : "output");
		write_str(buf, plain_content(&msgs[n - 1], "alpaca"));
	}
	if (s->kind == FT_KIND_PREFERENCE)
	{
		write_key(buf, &first, "chosen");
		write_str(buf, plain_content(&msgs[n], "alpaca"));
		write_key(buf, &first, "rejected");
		write_str(buf, plain_content(&msgs[n + 1], "alpaca"));
	}
	if (i > 0)
	{
		write_key(buf, &first, "system");
		write_str(buf, plain_content(&msgs[0], "alpaca"));
	}
	if (last_user > i)
	{
		write_key(buf, &first, "history");
		appendStringInfoChar(buf, '[');
		for (int k = i; k < last_user; k += 2)
		{
			if (k > i)
				appendStringInfoString(buf, ", ");
			appendStringInfoChar(buf, '[');
			write_str(buf, plain_content(&msgs[k], "alpaca"));
			appendStringInfoString(buf, ", ");
			write_str(buf, plain_content(&msgs[k + 1], "alpaca"));
			appendStringInfoChar(buf, ']');
		}
		appendStringInfoChar(buf, ']');
	}
	write_tools_fields(buf, &first, s);
	write_label(buf, &first, s, "kto_tag");
	write_media(buf, &first, s);
	write_extra(buf, &first, s->extra);
	appendStringInfoChar(buf, '}');
}

/*
 * ShareGPT's function_call value: {"name": ..., "arguments": {...}}, or a
 * list of them, from OpenAI tool_calls.
 *
 * XXX: ShareGPT has no call ids, so they are not written; and arguments
 * that are JSON are written as jsonb writes them, so OpenAI arguments
 * spelled otherwise come back with another fingerprint.
 */
static void
write_function_call_value(StringInfo buf, FtStr tool_calls)
{
	StringInfoData v;
	char	   *text = pnstrdup(tool_calls.p, tool_calls.len);
	Jsonb	   *calls = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														   CStringGetDatum(text)));
	int			n = JsonContainerSize(&calls->root);

	initStringInfo(&v);
	if (n != 1)
		appendStringInfoChar(&v, '[');
	for (int i = 0; i < n; i++)
	{
		JsonbValue *call = getIthJsonbValueFromContainer(&calls->root, i);
		JsonbValue *f = getKeyJsonValueFromContainer(call->val.binary.data,
													 "function", 8, NULL);
		JsonbValue *name = getKeyJsonValueFromContainer(f->val.binary.data,
														"name", 4, NULL);
		JsonbValue *args = getKeyJsonValueFromContainer(f->val.binary.data,
														"arguments", 9, NULL);

		if (i > 0)
			appendStringInfoString(&v, ", ");
		appendStringInfoString(&v, "{\"name\": ");
		ft_write_json_string(&v, name->val.string.val, name->val.string.len);
		appendStringInfoString(&v, ", \"arguments\": ");
		if (args == NULL)
			appendStringInfoString(&v, "{}");
		else
		{
			/* arguments is JSON in a string; write it as JSON when it is */
			char	   *a = pnstrdup(args->val.string.val, args->val.string.len);
			Datum		parsed;

			JsonLexContext *lex = makeJsonLexContextCstringLen(a, strlen(a),
															   GetDatabaseEncoding(),
															   true);

			if (pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS)
			{
				parsed = DirectFunctionCall1(jsonb_in, CStringGetDatum(a));
				appendStringInfoString(&v, DatumGetCString(DirectFunctionCall1(jsonb_out, parsed)));
			}
			else
				ft_write_json_string(&v, args->val.string.val, args->val.string.len);
		}
		appendStringInfoChar(&v, '}');
	}
	if (n != 1)
		appendStringInfoChar(&v, ']');
	ft_write_json_string(buf, v.data, v.len);
}

static void
write_sharegpt_turn(StringInfo buf, const char *from, FtStr value, bool raw)
{
	appendStringInfoString(buf, "{\"from\": ");
	ft_write_json_string(buf, from, strlen(from));
	appendStringInfoString(buf, ", \"value\": ");
	if (raw)
		appendBinaryStringInfo(buf, value.p, value.len);
	else
		write_str(buf, value);
	appendStringInfoChar(buf, '}');
}

static void
write_sharegpt_message(StringInfo buf, const FtMessage *m, bool *first_turn)
{
	const char *from;

	if (m->flags & FT_MSG_HAS_EXTRA)
		unrenderable("sharegpt", "A message has keys that ShareGPT cannot hold.");
	if (m->flags & FT_MSG_HAS_NAME)
		unrenderable("sharegpt", "A message has a name, which ShareGPT cannot hold.");
	if (m->flags & FT_MSG_HAS_WEIGHT)
		unrenderable("sharegpt", "A message has a weight, which ShareGPT cannot hold.");
	switch (m->role)
	{
		case FT_ROLE_USER:
			from = "human";
			break;
		case FT_ROLE_ASSISTANT:
			from = "gpt";
			break;
		case FT_ROLE_SYSTEM:
			from = "system";
			break;
		case FT_ROLE_TOOL:
			from = "observation";
			break;
		case FT_ROLE_DEVELOPER:
			unrenderable("sharegpt", "A message has the developer role, which ShareGPT cannot hold.");
		case FT_ROLE_FUNCTION:
			unrenderable("sharegpt", "A message has the legacy function role, which ShareGPT cannot hold.");
		default:
			unrenderable("sharegpt", "A raw text document has no conversation.");
	}
	if (m->flags & FT_MSG_HAS_TOOL_CALLS)
	{
		StringInfoData v;
		FtStr		fv;

		/*
		 * A function_call turn holds the calls and nothing else; splitting
		 * the text off into a turn of its own would make two assistant
		 * turns in a row, which is another conversation.
		 */
		if (m->role != FT_ROLE_ASSISTANT)
			unrenderable("sharegpt", "A message other than an assistant's has tool calls.");
		if (plain_content(m, "sharegpt").len > 0)
			unrenderable("sharegpt", "A message has both text and tool calls, which one ShareGPT turn cannot hold.");
		initStringInfo(&v);
		write_function_call_value(&v, m->tool_calls);
		fv.p = v.data;
		fv.len = v.len;
		if (!*first_turn)
			appendStringInfoString(buf, ", ");
		*first_turn = false;
		write_sharegpt_turn(buf, "function_call", fv, true);
		return;
	}
	if (!*first_turn)
		appendStringInfoString(buf, ", ");
	*first_turn = false;
	write_sharegpt_turn(buf, from, plain_content(m, "sharegpt"), false);
}

static void
write_sharegpt(StringInfo buf, const FtSample *s)
{
	bool		first = true;
	bool		first_turn = true;
	int			i = 0;

	if (s->kind == FT_KIND_TEXT)
		unrenderable("sharegpt", "A raw text document has no conversation.");
	/* a pair needs one message on each side; the code below relies on it */
	if (s->kind == FT_KIND_PREFERENCE && (s->nchosen != 1 || s->nrejected != 1))
		unrenderable("sharegpt", "A completion does not hold exactly one message.");
	if (s->kind != FT_KIND_PREFERENCE && s->nchosen + s->nrejected > 0)
		unrenderable("sharegpt", "The sample has completions but is not a preference pair.");

	appendStringInfoChar(buf, '{');
	write_key(buf, &first, "conversations");
	appendStringInfoChar(buf, '[');
	if ((s->hints & FT_HINT_SYSTEM_FIELD) && s->nprompt > 0 &&
		s->messages[0].role == FT_ROLE_SYSTEM)
		i = 1;
	for (int k = i; k < s->nprompt; k++)
		write_sharegpt_message(buf, &s->messages[k], &first_turn);
	appendStringInfoChar(buf, ']');
	if (s->kind == FT_KIND_PREFERENCE)
	{
		bool		ft = true;

		write_key(buf, &first, "chosen");
		write_sharegpt_message(buf, &s->messages[s->nprompt], &ft);
		ft = true;
		write_key(buf, &first, "rejected");
		write_sharegpt_message(buf, &s->messages[s->nprompt + 1], &ft);
	}
	if (i == 1)
	{
		write_key(buf, &first, "system");
		write_str(buf, plain_content(&s->messages[0], "sharegpt"));
	}
	if (s->flags & FT_SAMPLE_HAS_TOOLS)
	{
		/* LLaMA-Factory reads tools as a JSON string */
		write_key(buf, &first, "tools");
		write_str(buf, s->tools);
	}
	write_label(buf, &first, s, "kto_tag");
	write_media(buf, &first, s);
	write_extra(buf, &first, s->extra);
	appendStringInfoChar(buf, '}');
}

void
ft_write_rendered(StringInfo buf, const FtSample *s, FtFormat format)
{
	switch (format)
	{
		case FT_FORMAT_OPENAI:
			write_openai(buf, s, false);
			break;
		case FT_FORMAT_ALPACA:
			write_alpaca(buf, s);
			break;
		case FT_FORMAT_SHAREGPT:
			write_sharegpt(buf, s);
			break;
		case FT_FORMAT_TEXT:
			if (s->kind != FT_KIND_TEXT)
				unrenderable("text", "Only raw text documents render as text.");
			write_openai(buf, s, false);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot render a sample in format \"%s\"",
							ft_format_name(format))));
	}
}
