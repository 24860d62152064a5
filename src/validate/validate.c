/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  ftstore.validate(jsonb): every problem a fine-tuning record has, one
 *	  row each, before it is stored or sent to a trainer.
 *
 * The sample type refuses a record at its first fault; a person cleaning a
 * data set wants all of them at once, with the JSON path of each, and also
 * wants what the type accepts but a trainer drops, refuses or learns badly
 * from.  So the jsonb is walked here directly, never through the type's
 * parser, and nothing is raised: every finding becomes a row.  The rules
 * come from OpenAI's data checker, LLaMA-Factory's dataset converter and
 * what real data sets are known to carry; docs/validation.md lists each
 * code with its severity and origin.
 *
 * The walk follows a fixed shape (record, message, field), so it does not
 * recurse on the input's own nesting; JSON held in strings (tool call
 * arguments, function calls, tools) is checked with the non-throwing JSON
 * parser after a depth pre-scan.  A branch whose JSON type is wrong is
 * reported once and not walked further.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/resowner.h"

#include "common/hashfn.h"
#include "common/jsonapi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

#include "sample/ftsample.h"
#include "util/subxact.h"

PG_FUNCTION_INFO_V1(ftstore_validate);

/* Token overhead per turn and per record, as OpenAI's cookbook counts. */
#define TOKENS_PER_TURN		3
#define TOKENS_PER_RECORD	3

/* How much of a value a message quotes. */
#define QUOTE_BYTES			40

typedef enum Severity
{
	SEV_ERROR,
	SEV_WARNING
} Severity;

/* What check_text looks for in a piece of text. */
#define CHK_EMPTY		0x01	/* empty_turn */
#define CHK_PLACEHOLDER	0x02	/* placeholder */
#define CHK_WS			0x04	/* whitespace */
#define CHK_CTRL		0x08	/* control_character */
#define CHK_MEDIA		0x10	/* count <image> etc. for media_mismatch */

#define CHK_TURN	(CHK_EMPTY | CHK_PLACEHOLDER | CHK_WS | CHK_CTRL | CHK_MEDIA)
#define CHK_TOOL_OUTPUT	(CHK_EMPTY | CHK_WS | CHK_CTRL | CHK_MEDIA)
#define CHK_CALL	(CHK_EMPTY | CHK_CTRL)

/* Canonical roles of a turn, whatever the format calls them. */
typedef enum Role
{
	R_NONE = 0,					/* missing or unknown */
	R_SYSTEM,
	R_USER,
	R_ASSISTANT,
	R_TOOL						/* tool, function, observation */
} Role;

/* Where an OpenAI conversation stands, for role_order. */
typedef enum ChatPos
{
	CP_START,					/* only system messages so far */
	CP_USER,
	CP_ASSISTANT,
	CP_CALLS,					/* assistant that called tools */
	CP_TOOL
} ChatPos;

/* A tool call made by an assistant message. */
typedef struct ToolCall
{
	char	   *id;
	int			idlen;
	char	   *path;			/* of its id, for tool_call_unanswered */
	bool		pending;		/* no tool message answered it yet */
} ToolCall;

/*
 * The calls made so far, by a hash of their id, so that matching tool
 * messages stays linear however many calls a record makes.
 */
typedef struct CallBucket
{
	uint64		hash;			/* key */
	List	   *calls;			/* ToolCall *, latest first */
} CallBucket;

/* State of one OpenAI message list. */
typedef struct ChatState
{
	ChatPos		pos;
	bool		has_user;
	bool		has_assistant;
	bool		has_system;
	/* every tool call so far, made on first use */
	HTAB	   *calls;
	/* calls of the last assistant message, answered or not */
	List	   *pending;
	bool		pending_ids;	/* last calls came as tool_calls with ids */
	bool		tool_after_calls;	/* a tool message followed them */
} ChatState;

typedef struct VState
{
	Tuplestorestate *ts;
	TupleDesc	desc;
	MemoryContext cxt;			/* lives for the whole call */
	MemoryContext scratch;		/* reset after each message */
	StringInfoData path;
	int64		nturns;
	int			media[FT_NUM_MEDIA];	/* placeholders seen */
	int64		nerrors;		/* error rows reported */
} VState;

static const char *const media_keys[FT_NUM_MEDIA] = {
	"images", "videos", "audios"
};
static const char *const media_tags[FT_NUM_MEDIA] = {
	"<image>", "<video>", "<audio>"
};
static const char *const media_nouns[FT_NUM_MEDIA][2] = {
	{"image", "images"}, {"video", "videos"}, {"audio", "audios"}
};

/*
 * Values that stand for "nothing here" in real data sets, compared without
 * case after trimming white space.
 */
static const char *const placeholders[] = {
	"<noinput>", "<no input>", "noinput", "no input", "no input.",
	"<nooutput>", "<no output>", "nooutput", "no output", "no output.",
	"n/a", "none", "null", "nan", "-",
	NULL
};

/* ---------- reporting and paths ---------- */

static void
pg_attribute_printf(4, 5)
report(VState *st, Severity sev, const char *code, const char *fmt,...)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	StringInfoData msg;
	MemoryContext old = MemoryContextSwitchTo(st->scratch);

	initStringInfo(&msg);
	for (;;)
	{
		va_list		ap;
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&msg, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	if (sev == SEV_ERROR)
		st->nerrors++;
	values[0] = CStringGetTextDatum(sev == SEV_ERROR ? "error" : "warning");
	values[1] = CStringGetTextDatum(code);
	values[2] = CStringGetTextDatum(st->path.data);
	values[3] = CStringGetTextDatum(msg.data);
	tuplestore_putvalues(st->ts, st->desc, values, nulls);
	MemoryContextSwitchTo(old);
}

static bool
key_is_plain(const char *key, int len)
{
	if (len == 0)
		return false;
	for (int i = 0; i < len; i++)
	{
		unsigned char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* Push an object key on the path; returns the length to pop back to. */
static int
path_key_len(VState *st, const char *key, int len)
{
	int			saved = st->path.len;

	if (key_is_plain(key, len))
	{
		if (st->path.len > 0)
			appendStringInfoChar(&st->path, '.');
		appendBinaryStringInfo(&st->path, key, len);
	}
	else
	{
		char	   *k = pnstrdup(key, len);

		appendStringInfoChar(&st->path, '[');
		escape_json(&st->path, k);
		appendStringInfoChar(&st->path, ']');
		pfree(k);
	}
	return saved;
}

static int
path_key(VState *st, const char *key)
{
	return path_key_len(st, key, strlen(key));
}

static int
path_index(VState *st, int i)
{
	int			saved = st->path.len;

	appendStringInfo(&st->path, "[%d]", i);
	return saved;
}

static void
path_pop(VState *st, int saved)
{
	st->path.len = saved;
	st->path.data[saved] = '\0';
}

/* ---------- jsonb helpers ---------- */

static JsonbValue *
get_key(JsonbContainer *obj, const char *key)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

static bool
is_array(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

static bool
is_object(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

static const char *
type_name(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ?
				"an array" : "an object";
		default:
			return "a JSON value";
	}
}

static bool
string_is(JsonbValue *v, const char *s)
{
	return v->type == jbvString && v->val.string.len == strlen(s) &&
		memcmp(v->val.string.val, s, v->val.string.len) == 0;
}

/* A value quoted in a message: clipped, on a character boundary. */
static char *
quote_value(const char *p, int len)
{
	int			n = pg_mbcliplen(p, len, QUOTE_BYTES);
	char	   *s = pnstrdup(p, n);

	if (n < len)
	{
		char	   *t = psprintf("%s...", s);

		pfree(s);
		s = t;
	}
	return s;
}

/*
 * Report invalid_type at the current path unless v has the wanted type.
 * Returns whether it has.
 */
static bool
expect_type(VState *st, JsonbValue *v, enum jbvType type, bool array,
			const char *wanted)
{
	bool		ok;

	if (type == jbvBinary)
		ok = array ? is_array(v) : is_object(v);
	else
		ok = (v->type == type);
	if (!ok)
		report(st, SEV_ERROR, "invalid_type", "expected %s, found %s",
			   wanted, type_name(v));
	return ok;
}

/* The same, for an object key; absent keys pass. */
static bool
expect_key_type(VState *st, JsonbContainer *obj, const char *key,
				enum jbvType type, bool array, const char *wanted,
				bool null_ok)
{
	JsonbValue *v = get_key(obj, key);
	int			saved;
	bool		ok;

	if (v == NULL || (null_ok && v->type == jbvNull))
		return true;
	saved = path_key(st, key);
	ok = expect_type(st, v, type, array, wanted);
	path_pop(st, saved);
	return ok;
}

/* ---------- text hygiene ---------- */

static bool
ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

static bool
has_nonspace(const char *p, int len)
{
	for (int i = 0; i < len; i++)
		if (!ascii_space(p[i]))
			return true;
	return false;
}

static int
count_occurrences(const char *p, int len, const char *needle)
{
	int			n = strlen(needle);
	int			count = 0;

	for (int i = 0; i + n <= len; i++)
	{
		if (p[i] == needle[0] && memcmp(p + i, needle, n) == 0)
		{
			count++;
			i += n - 1;
		}
	}
	return count;
}

/* Text in the server encoding as UTF-8, for the character scans. */
static const char *
as_utf8(const char *p, int len, int *outlen)
{
	char	   *u = pg_server_to_any(p, len, PG_UTF8);

	*outlen = (u == p) ? len : strlen(u);
	return u;
}

/*
 * The first control or zero-width character: C0 controls other than tab,
 * newline and carriage return, U+200B..U+200D and U+FEFF.  Returns how
 * many there are; *first and *at (1-based character position) describe
 * the first.
 */
static int
scan_controls(const char *p, int len, int32 *first, int *at)
{
	int			count = 0;
	int			chars = 0;

	for (int i = 0; i < len;)
	{
		unsigned char c = p[i];
		int32		cp = -1;
		int			n = 1;

		chars++;
		if (c < 0x80)
			cp = c;
		else if (c == 0xE2 && i + 2 < len &&
				 (unsigned char) p[i + 1] == 0x80 &&
				 (unsigned char) p[i + 2] >= 0x8B &&
				 (unsigned char) p[i + 2] <= 0x8D)
			cp = 0x2000 + ((unsigned char) p[i + 2] & 0x3F);
		else if (c == 0xEF && i + 2 < len &&
				 (unsigned char) p[i + 1] == 0xBB &&
				 (unsigned char) p[i + 2] == 0xBF)
			cp = 0xFEFF;

		if (c >= 0x80)
		{
			/* step over the whole character */
			n = pg_utf_mblen((const unsigned char *) p + i);
			if (n < 1 || i + n > len)
				n = 1;
		}
		if ((cp >= 0 && cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
			(cp >= 0x200B && cp <= 0x200D) || cp == 0xFEFF)
		{
			if (count == 0)
			{
				*first = cp;
				*at = chars;
			}
			count++;
		}
		i += n;
	}
	return count;
}

/* Check one piece of text at the current path. */
static void
check_text(VState *st, const char *p, int len, int flags)
{
	int			b = 0;
	int			e = len;

	if (flags & CHK_MEDIA)
	{
		for (int m = 0; m < FT_NUM_MEDIA; m++)
			st->media[m] += count_occurrences(p, len, media_tags[m]);
	}

	while (b < e && ascii_space(p[b]))
		b++;
	while (e > b && ascii_space(p[e - 1]))
		e--;

	if (b == e)
	{
		if (flags & CHK_EMPTY)
			report(st, SEV_WARNING, "empty_turn",
				   len == 0 ? "text is empty" : "text is only white space");
		return;
	}

	if (flags & CHK_PLACEHOLDER)
	{
		for (const char *const *ph = placeholders; *ph; ph++)
		{
			if (e - b == strlen(*ph) && pg_strncasecmp(p + b, *ph, e - b) == 0)
			{
				report(st, SEV_WARNING, "placeholder",
					   "\"%s\" looks like a placeholder, not content",
					   pnstrdup(p + b, e - b));
				break;
			}
		}
	}

	if ((flags & CHK_WS) && (b > 0 || e < len))
		report(st, SEV_WARNING, "whitespace", "%s white space",
			   b > 0 && e < len ? "leading and trailing" :
			   b > 0 ? "leading" : "trailing");

	if (flags & CHK_CTRL)
	{
		int			ulen;
		const char *u = as_utf8(p, len, &ulen);
		int32		first = 0;
		int			at = 0;
		int			n = scan_controls(u, ulen, &first, &at);

		if (n == 1)
			report(st, SEV_WARNING, "control_character",
				   "control or zero-width character U+%04X at character %d",
				   (unsigned int) first, at);
		else if (n > 1)
			report(st, SEV_WARNING, "control_character",
				   "%d control or zero-width characters, the first U+%04X at character %d",
				   n, (unsigned int) first, at);
	}
}

/* check_text on a string value, or invalid_type if it is not one. */
static bool
check_string(VState *st, JsonbValue *v, int flags)
{
	if (!expect_type(st, v, jbvString, false, "a string"))
		return false;
	check_text(st, v->val.string.val, v->val.string.len, flags);
	return true;
}

/* ---------- JSON held in strings ---------- */

/* Whether JSON text nests deeper than ftstore.max_depth, as the type refuses. */
static bool
json_too_deep(const char *p, int len)
{
	int			depth = 0;
	bool		in_string = false;

	for (int i = 0; i < len; i++)
	{
		char		c = p[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > ft_max_depth)
				return true;
		}
		else if (c == '}' || c == ']')
			depth--;
	}
	return false;
}

/*
 * Shape check of a function call held as JSON text: an object with a
 * string "name" and "arguments" (object or string), or a non-empty array of
 * such objects.  Driven by the JSON parser's callbacks.
 */
typedef struct CallShape
{
	int			depth;
	int			objdepth;		/* depth of the call objects */
	bool		ok;
	int			ncalls;
	int			field;			/* 0 other, 1 name, 2 arguments */
	bool		have_name;
	bool		have_args;
} CallShape;

static void
cs_object_start(void *state)
{
	CallShape  *cs = state;

	cs->depth++;
	if (cs->objdepth == 0)
		cs->objdepth = cs->depth;	/* the root is an object */
	if (cs->depth == cs->objdepth)
	{
		cs->have_name = false;
		cs->have_args = false;
		cs->field = 0;
	}
	else if (cs->depth == cs->objdepth + 1 && cs->field == 2)
		cs->have_args = true;	/* arguments as an object */
}

static void
cs_object_end(void *state)
{
	CallShape  *cs = state;

	if (cs->depth == cs->objdepth)
	{
		if (!cs->have_name || !cs->have_args)
			cs->ok = false;
		cs->ncalls++;
	}
	cs->depth--;
}

static void
cs_array_start(void *state)
{
	CallShape  *cs = state;

	cs->depth++;
	if (cs->objdepth == 0)
		cs->objdepth = 2;		/* the root is a list of calls */
	else if (cs->depth == cs->objdepth)
		cs->ok = false;			/* a list where a call belongs */
	else if (cs->depth == cs->objdepth + 1 && cs->field == 2)
		cs->ok = false;			/* arguments as an array */
}

static void
cs_array_end(void *state)
{
	((CallShape *) state)->depth--;
}

static void
cs_field_start(void *state, char *fname, bool isnull)
{
	CallShape  *cs = state;

	if (cs->depth != cs->objdepth)
		return;
	if (fname && strcmp(fname, "name") == 0)
		cs->field = 1;
	else if (fname && strcmp(fname, "arguments") == 0)
		cs->field = 2;
	else
		cs->field = 0;
}

static void
cs_scalar(void *state, char *token, JsonTokenType tokentype)
{
	CallShape  *cs = state;

	if (cs->depth < cs->objdepth)
		cs->ok = false;			/* a scalar where a call belongs */
	else if (cs->depth == cs->objdepth)
	{
		if (cs->field == 1 && tokentype == JSON_TOKEN_STRING)
			cs->have_name = true;
		else if (cs->field == 2 && tokentype == JSON_TOKEN_STRING)
			cs->have_args = true;
	}
}

/*
 * Parse JSON text without raising; NULL when it parses, else a short
 * reason.  With shape, also check the function-call shape.
 */
static const char *
json_problem(const char *p, int len, CallShape *shape)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	JsonParseErrorType err;

	if (json_too_deep(p, len))
		return psprintf("nests deeper than ftstore.max_depth (%d)",
						ft_max_depth);
	memset(&sem, 0, sizeof(sem));
	if (shape)
	{
		memset(shape, 0, sizeof(CallShape));
		shape->ok = true;
		sem.semstate = shape;
		sem.object_start = cs_object_start;
		sem.object_end = cs_object_end;
		sem.array_start = cs_array_start;
		sem.array_end = cs_array_end;
		sem.object_field_start = cs_field_start;
		sem.scalar = cs_scalar;
	}
	lex = makeJsonLexContextCstringLen((char *) p, len, GetDatabaseEncoding(),
									   shape != NULL);
	err = pg_parse_json(lex, &sem);
	if (err != JSON_SUCCESS)
		return "is not valid JSON";
	return NULL;
}

/* A function call held as a string: ShareGPT function_call, tool_call parts. */
static void
check_function_call(VState *st, JsonbValue *v)
{
	CallShape	shape;
	const char *why;

	if (v->type != jbvString)
	{
		report(st, SEV_ERROR, "invalid_function_call",
			   "expected a string holding a JSON function call, found %s",
			   type_name(v));
		return;
	}
	check_text(st, v->val.string.val, v->val.string.len, CHK_CALL);
	if (v->val.string.len == 0)
		return;
	why = json_problem(v->val.string.val, v->val.string.len, &shape);
	if (why)
		report(st, SEV_ERROR, "invalid_function_call", "function call %s",
			   why);
	else if (!shape.ok || shape.ncalls == 0)
		report(st, SEV_ERROR, "invalid_function_call",
			   "expected a JSON object with \"name\" and \"arguments\", or an array of them");
}

/* tools: an array, or (LLaMA-Factory) a string holding a JSON array. */
static void
check_tools(VState *st, JsonbContainer *obj)
{
	JsonbValue *v = get_key(obj, "tools");
	int			saved;

	if (v == NULL || v->type == jbvNull)
		return;
	saved = path_key(st, "tools");
	if (v->type == jbvString)
	{
		const char *p = v->val.string.val;
		int			len = v->val.string.len;
		const char *why = len > 0 ? json_problem(p, len, NULL) : NULL;

		if (why)
			report(st, SEV_ERROR, "invalid_tools", "tools string %s", why);
		else if (len > 0)
		{
			int			i = 0;

			while (i < len && ascii_space(p[i]))
				i++;
			if (p[i] != '[')
				report(st, SEV_ERROR, "invalid_tools",
					   "tools string does not hold a JSON array");
		}
	}
	else
		(void) expect_type(st, v, jbvBinary, true,
						   "an array or a string holding one");
	path_pop(st, saved);
}

/* ---------- keys every format shares ---------- */

static void
check_common_keys(VState *st, JsonbContainer *root)
{
	JsonbValue *label = get_key(root, "label");
	JsonbValue *kto_tag = get_key(root, "kto_tag");

	check_tools(st, root);
	(void) expect_key_type(st, root, "parallel_tool_calls", jbvBool, false,
						   "a boolean", false);
	(void) expect_key_type(st, root, "label", jbvBool, false, "a boolean",
						   false);
	(void) expect_key_type(st, root, "kto_tag", jbvBool, false, "a boolean",
						   false);
	if (label && kto_tag)
		report(st, SEV_ERROR, "conflicting_keys",
			   "both \"label\" and \"kto_tag\" give the KTO label");

	for (int m = 0; m < FT_NUM_MEDIA; m++)
	{
		JsonbValue *v = get_key(root, media_keys[m]);
		int			saved = path_key(st, media_keys[m]);
		int			n = 0;

		if (v != NULL && expect_type(st, v, jbvBinary, true, "an array"))
		{
			JsonbContainer *arr = v->val.binary.data;

			n = JsonContainerSize(arr);
			for (int i = 0; i < n; i++)
			{
				JsonbValue *item = getIthJsonbValueFromContainer(arr, i);
				int			s2 = path_index(st, i);

				(void) expect_type(st, item, jbvString, false, "a string");
				path_pop(st, s2);
			}
		}
		else if (v != NULL)
			n = -1;				/* already reported */
		if (n >= 0 && n != st->media[m])
			report(st, SEV_ERROR, "media_mismatch",
				   "%d %s placeholder%s in the text but %d %s",
				   st->media[m], media_tags[m], st->media[m] == 1 ? "" : "s",
				   n, media_nouns[m][n == 1 ? 0 : 1]);
		path_pop(st, saved);
	}
}

/* ---------- OpenAI messages ---------- */

static Role
openai_role(JsonbValue *v)
{
	if (string_is(v, "system") || string_is(v, "developer"))
		return R_SYSTEM;
	if (string_is(v, "user"))
		return R_USER;
	if (string_is(v, "assistant"))
		return R_ASSISTANT;
	if (string_is(v, "tool") || string_is(v, "function"))
		return R_TOOL;
	return R_NONE;
}

static const char *const openai_keys[] = {
	"role", "content", "name", "tool_calls", "tool_call_id", "weight",
	"function_call", "refusal", "audio", "loss_weight", NULL
};

static bool
key_in(const char *key, int len, const char *const *keys)
{
	for (; *keys; keys++)
		if (strlen(*keys) == len && memcmp(key, *keys, len) == 0)
			return true;
	return false;
}

/* weight: 0 or 1, only on assistant messages. */
static void
check_weight(VState *st, JsonbValue *v, Role role)
{
	Numeric		zero = int64_to_numeric(0);
	Numeric		one = int64_to_numeric(1);

	if (!expect_type(st, v, jbvNumeric, false, "a number"))
		return;
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq,
										  NumericGetDatum(v->val.numeric),
										  NumericGetDatum(zero))) &&
		!DatumGetBool(DirectFunctionCall2(numeric_eq,
										  NumericGetDatum(v->val.numeric),
										  NumericGetDatum(one))))
		report(st, SEV_ERROR, "invalid_weight", "weight must be 0 or 1");
	else if (role != R_ASSISTANT && role != R_NONE)
		report(st, SEV_ERROR, "invalid_weight",
			   "weight is allowed only on assistant messages");
}

/* function.arguments of a tool call, or of a legacy function_call. */
static void
check_arguments(VState *st, JsonbContainer *fobj)
{
	JsonbValue *args = get_key(fobj, "arguments");
	int			saved;

	if (args == NULL)
	{
		report(st, SEV_ERROR, "missing_key", "function has no \"arguments\"");
		return;
	}
	saved = path_key(st, "arguments");
	if (args->type != jbvString)
		report(st, SEV_ERROR, "invalid_arguments",
			   "expected a string holding JSON, found %s", type_name(args));
	else
	{
		const char *why = json_problem(args->val.string.val,
									   args->val.string.len, NULL);

		if (why)
			report(st, SEV_ERROR, "invalid_arguments", "arguments string %s",
				   why);
	}
	path_pop(st, saved);
}

/* The function object of a call: {name, arguments}. */
static void
check_function_object(VState *st, JsonbValue *f)
{
	JsonbContainer *fobj;
	JsonbValue *name;

	if (!expect_type(st, f, jbvBinary, false, "an object"))
		return;
	fobj = f->val.binary.data;
	name = get_key(fobj, "name");
	if (name == NULL)
		report(st, SEV_ERROR, "missing_key", "function has no \"name\"");
	else
		(void) expect_key_type(st, fobj, "name", jbvString, false,
							   "a string", false);
	check_arguments(st, fobj);
}

static uint64
call_hash(const char *id, int len)
{
	return hash_bytes_extended((const unsigned char *) id, len, 0);
}

/* The latest call with this id, a pending one first; NULL if none. */
static ToolCall *
find_call(ChatState *cs, const char *id, int len)
{
	uint64		h = call_hash(id, len);
	CallBucket *b;
	ToolCall   *found = NULL;
	ListCell   *lc;

	if (cs->calls == NULL)
		return NULL;
	b = hash_search(cs->calls, &h, HASH_FIND, NULL);
	if (b == NULL)
		return NULL;
	foreach(lc, b->calls)
	{
		ToolCall   *tc = lfirst(lc);

		if (tc->idlen == len && memcmp(tc->id, id, len) == 0)
		{
			if (tc->pending)
				return tc;
			if (found == NULL)
				found = tc;
		}
	}
	return found;
}

/* Record a call of the current assistant message, its id at the path. */
static void
remember_call(VState *st, ChatState *cs, const char *id, int len)
{
	MemoryContext old = MemoryContextSwitchTo(st->cxt);
	uint64		h = call_hash(id, len);
	ToolCall   *tc = palloc(sizeof(ToolCall));
	CallBucket *b;
	bool		found;

	if (cs->calls == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(CallBucket);
		ctl.hcxt = st->cxt;
		cs->calls = hash_create("ftstore validate tool calls", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	tc->id = pnstrdup(id, len);
	tc->idlen = len;
	tc->path = pstrdup(st->path.data);
	tc->pending = true;
	b = hash_search(cs->calls, &h, HASH_ENTER, &found);
	if (!found)
		b->calls = NIL;
	b->calls = lcons(tc, b->calls);
	cs->pending = lappend(cs->pending, tc);
	MemoryContextSwitchTo(old);
}

/*
 * tool_calls of a message; returns how many calls it holds.  track: the
 * message is an assistant's, so its calls wait for answers.
 */
static int
check_tool_calls(VState *st, ChatState *cs, JsonbValue *v, bool track)
{
	JsonbContainer *arr;
	int			n;

	if (!expect_type(st, v, jbvBinary, true, "an array"))
		return 0;
	arr = v->val.binary.data;
	n = JsonContainerSize(arr);
	for (int j = 0; j < n; j++)
	{
		JsonbValue *call = getIthJsonbValueFromContainer(arr, j);
		int			saved = path_index(st, j);
		JsonbContainer *cobj;
		JsonbValue *id;
		JsonbValue *f;

		if (!expect_type(st, call, jbvBinary, false, "an object"))
		{
			path_pop(st, saved);
			continue;
		}
		cobj = call->val.binary.data;
		id = get_key(cobj, "id");
		if (id == NULL)
			report(st, SEV_ERROR, "missing_key", "tool call has no \"id\"");
		else
		{
			int			s2 = path_key(st, "id");

			if (expect_type(st, id, jbvString, false, "a string") && track)
				remember_call(st, cs, id->val.string.val, id->val.string.len);
			path_pop(st, s2);
		}
		(void) expect_key_type(st, cobj, "type", jbvString, false,
							   "a string", false);
		f = get_key(cobj, "function");
		if (f == NULL)
			report(st, SEV_ERROR, "missing_key",
				   "tool call has no \"function\"");
		else
		{
			int			s2 = path_key(st, "function");

			check_function_object(st, f);
			path_pop(st, s2);
		}
		path_pop(st, saved);
	}
	return n;
}

/*
 * Report the tool calls that no tool message answered, once the
 * conversation has moved on past them.
 */
static void
flush_pending(VState *st, ChatState *cs)
{
	char	   *keep = pstrdup(st->path.data);
	ListCell   *lc;

	foreach(lc, cs->pending)
	{
		ToolCall   *tc = lfirst(lc);

		if (!tc->pending)
			continue;
		tc->pending = false;
		resetStringInfo(&st->path);
		appendStringInfoString(&st->path, tc->path);
		report(st, SEV_WARNING, "tool_call_unanswered",
			   "no tool message answers tool call \"%s\"",
			   quote_value(tc->id, tc->idlen));
	}
	resetStringInfo(&st->path);
	appendStringInfoString(&st->path, keep);
	cs->pending = NIL;
}

/* A tool message: match its tool_call_id with the calls before it. */
static void
answer_tool_call(VState *st, ChatState *cs, JsonbContainer *obj)
{
	JsonbValue *id = get_key(obj, "tool_call_id");
	ToolCall   *tc;
	int			saved;

	if (id == NULL)
	{
		if (cs->pending_ids)
			report(st, SEV_ERROR, "missing_tool_call_id",
				   "tool message has no \"tool_call_id\"");
		return;
	}
	if (id->type != jbvString)
		return;					/* reported as invalid_type */
	tc = find_call(cs, id->val.string.val, id->val.string.len);
	if (tc == NULL)
	{
		saved = path_key(st, "tool_call_id");
		report(st, SEV_ERROR, "unknown_tool_call_id",
			   "tool_call_id \"%s\" matches no earlier tool call",
			   quote_value(id->val.string.val, id->val.string.len));
		path_pop(st, saved);
		return;
	}
	tc->pending = false;
}

/* role_order for OpenAI messages: a warning, OpenAI accepts any order. */
static void
advance_chat(VState *st, ChatState *cs, Role role, bool calls)
{
	const char *problem = NULL;
	int			saved;

	switch (role)
	{
		case R_SYSTEM:
			if (cs->pos != CP_START)
				problem = "system message after the conversation started";
			break;
		case R_USER:
			if (cs->pos == CP_USER)
				problem = "two user messages in a row";
			else if (cs->pos == CP_CALLS)
				problem = "user message before the tool calls were answered";
			else if (cs->pos == CP_TOOL)
				problem = "user message after a tool message, where an assistant message belongs";
			cs->pos = CP_USER;
			break;
		case R_ASSISTANT:
			if (cs->pos == CP_START)
				problem = "assistant message before any user message";
			else if (cs->pos == CP_ASSISTANT)
				problem = "two assistant messages in a row";
			else if (cs->pos == CP_CALLS)
				problem = "assistant message before its tool calls were answered";
			cs->pos = calls ? CP_CALLS : CP_ASSISTANT;
			break;
		case R_TOOL:
			if (cs->pos != CP_CALLS && cs->pos != CP_TOOL)
				problem = "tool message not after an assistant message that calls tools";
			cs->pos = CP_TOOL;
			break;
		case R_NONE:
			break;
	}
	if (problem)
	{
		saved = path_key(st, "role");
		report(st, SEV_WARNING, "role_order", "%s", problem);
		path_pop(st, saved);
	}
}

/*
 * Content parts: [{type, text|value}, ...] or bare strings.  Sets *text_nonempty
 * when some text part has text, *other when a part is not text, *calls when
 * a LLaMA-Factory tool_call part calls a tool.
 */
static void
check_parts(VState *st, JsonbContainer *arr, Role role, bool *text_nonempty,
			bool *other, bool *calls)
{
	int			n = JsonContainerSize(arr);
	int			flags = (role == R_TOOL) ? CHK_TOOL_OUTPUT : CHK_TURN;

	flags &= ~CHK_EMPTY;		/* judged for the whole message */
	for (int j = 0; j < n; j++)
	{
		JsonbValue *part = getIthJsonbValueFromContainer(arr, j);
		int			saved = path_index(st, j);
		JsonbContainer *pobj;
		JsonbValue *type;
		JsonbValue *text;
		const char *tkey = "text";

		if (part->type == jbvString)
		{
			check_text(st, part->val.string.val, part->val.string.len, flags);
			if (has_nonspace(part->val.string.val, part->val.string.len))
				*text_nonempty = true;
			path_pop(st, saved);
			continue;
		}
		if (!expect_type(st, part, jbvBinary, false, "an object or a string"))
		{
			*other = true;		/* reported; not judged empty as well */
			path_pop(st, saved);
			continue;
		}
		pobj = part->val.binary.data;
		type = get_key(pobj, "type");
		if (type == NULL)
		{
			report(st, SEV_ERROR, "missing_key", "content part has no \"type\"");
			*other = true;
			path_pop(st, saved);
			continue;
		}
		if (!expect_key_type(st, pobj, "type", jbvString, false, "a string",
							 false))
		{
			*other = true;
			path_pop(st, saved);
			continue;
		}
		text = get_key(pobj, "text");
		if (text == NULL)
		{
			text = get_key(pobj, "value");
			tkey = "value";
		}

		if (string_is(type, "tool_call"))
		{
			*calls = true;
			if (text == NULL)
				report(st, SEV_ERROR, "missing_content",
					   "tool_call part has no \"value\"");
			else
			{
				int			s2 = path_key(st, tkey);

				check_function_call(st, text);
				path_pop(st, s2);
			}
		}
		else if (string_is(type, "text") || string_is(type, "reasoning"))
		{
			if (text == NULL)
			{
				report(st, SEV_ERROR, "missing_content",
					   "text part has no \"text\" or \"value\"");
				*other = true;
			}
			else
			{
				int			s2 = path_key(st, tkey);

				/* white space alone counts as empty */
				if (!check_string(st, text, flags))
					*other = true;
				else if (has_nonspace(text->val.string.val,
									  text->val.string.len))
					*text_nonempty = true;
				path_pop(st, s2);
			}
		}
		else
			*other = true;		/* image_url, input_audio and the like */
		path_pop(st, saved);
	}
}

/*
 * One OpenAI message at the current path.  completion: it is one of a
 * preference pair's outputs, which must be an assistant message.
 */
static void
check_openai_message(VState *st, ChatState *cs, JsonbValue *mv,
					 bool completion)
{
	JsonbContainer *obj;
	JsonbValue *rv;
	JsonbValue *content;
	JsonbValue *v;
	Role		role = R_NONE;
	bool		calls = false;
	bool		has_content = false;
	bool		call_ids = false;
	JsonbIterator *it;
	JsonbValue	k;
	JsonbIteratorToken tok;
	int			saved;

	st->nturns++;
	if (!expect_type(st, mv, jbvBinary, false, "an object"))
		return;
	obj = mv->val.binary.data;

	/* unknown keys */
	it = JsonbIteratorInit(obj);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		if (!key_in(k.val.string.val, k.val.string.len, openai_keys))
		{
			saved = path_key_len(st, k.val.string.val, k.val.string.len);
			report(st, SEV_ERROR, "unknown_key", "unknown message key \"%s\"",
				   quote_value(k.val.string.val, k.val.string.len));
			path_pop(st, saved);
		}
	}

	/* role */
	rv = get_key(obj, "role");
	if (rv == NULL)
		report(st, SEV_ERROR, "missing_role", "message has no \"role\"");
	else
	{
		saved = path_key(st, "role");
		if (expect_type(st, rv, jbvString, false, "a string"))
		{
			role = openai_role(rv);
			if (role == R_NONE)
				report(st, SEV_ERROR, "unknown_role", "unknown role \"%s\"",
					   quote_value(rv->val.string.val, rv->val.string.len));
			else if (completion && role != R_ASSISTANT)
				report(st, SEV_ERROR, "not_assistant",
					   "a completion must be an assistant message, not \"%s\"",
					   quote_value(rv->val.string.val, rv->val.string.len));
		}
		path_pop(st, saved);
	}
	if (role == R_SYSTEM)
		cs->has_system = true;
	else if (role == R_USER)
		cs->has_user = true;
	else if (role == R_ASSISTANT)
		cs->has_assistant = true;

	/* the conversation moved on past the last calls: who answered them? */
	if (role != R_TOOL && cs->pending != NIL && !completion)
		flush_pending(st, cs);

	/* tool calls, new and legacy */
	v = get_key(obj, "tool_calls");
	if (v != NULL && v->type != jbvNull)
	{
		saved = path_key(st, "tool_calls");
		if (role != R_ASSISTANT && role != R_NONE)
			report(st, SEV_ERROR, "misplaced_key",
				   "only assistant messages call tools");
		if (check_tool_calls(st, cs, v, role == R_ASSISTANT && !completion) > 0)
		{
			calls = true;
			call_ids = true;
		}
		path_pop(st, saved);
	}
	v = get_key(obj, "function_call");
	if (v != NULL && v->type != jbvNull)
	{
		saved = path_key(st, "function_call");
		if (role != R_ASSISTANT && role != R_NONE)
			report(st, SEV_ERROR, "misplaced_key",
				   "only assistant messages call functions");
		check_function_object(st, v);
		calls = true;
		path_pop(st, saved);
	}

	/* content */
	content = get_key(obj, "content");
	if (content != NULL && content->type != jbvNull)
	{
		saved = path_key(st, "content");
		if (content->type == jbvString)
		{
			int			flags = (role == R_TOOL) ? CHK_TOOL_OUTPUT : CHK_TURN;

			if (calls)
				flags &= ~CHK_EMPTY;
			check_text(st, content->val.string.val, content->val.string.len,
					   flags);
			has_content = true;
		}
		else if (is_array(content))
		{
			bool		nonempty = false;
			bool		other = false;
			bool		part_calls = false;
			JsonbContainer *arr = content->val.binary.data;

			check_parts(st, arr, role, &nonempty, &other, &part_calls);
			if (part_calls)
				calls = true;
			has_content = JsonContainerSize(arr) > 0;
			if (has_content && !nonempty && !other && !calls)
				report(st, SEV_WARNING, "empty_turn", "no part has text");
		}
		else
			report(st, SEV_ERROR, "invalid_type",
				   "expected a string, an array of parts or null, found %s",
				   type_name(content));
		path_pop(st, saved);
		if (!has_content && content->type != jbvString && !is_array(content))
			has_content = true; /* already reported as invalid_type */
	}

	/* refusal and audio stand in for content on an assistant message */
	if (!expect_key_type(st, obj, "refusal", jbvString, false, "a string",
						 true))
		has_content = true;
	else if ((v = get_key(obj, "refusal")) != NULL && v->type == jbvString)
		has_content = true;
	if (!expect_key_type(st, obj, "audio", jbvBinary, false, "an object",
						 true))
		has_content = true;
	else if ((v = get_key(obj, "audio")) != NULL && v->type != jbvNull)
		has_content = true;

	if (!has_content && !calls)
		report(st, SEV_ERROR, "missing_content",
			   "message has no content and calls no tool");

	(void) expect_key_type(st, obj, "name", jbvString, false, "a string",
						   false);
	if (expect_key_type(st, obj, "tool_call_id", jbvString, false, "a string",
						false))
	{
		if (get_key(obj, "tool_call_id") != NULL &&
			role != R_TOOL && role != R_NONE)
		{
			saved = path_key(st, "tool_call_id");
			report(st, SEV_ERROR, "misplaced_key",
				   "only tool messages answer tool calls");
			path_pop(st, saved);
		}
	}
	if ((v = get_key(obj, "weight")) != NULL)
	{
		saved = path_key(st, "weight");
		check_weight(st, v, role);
		path_pop(st, saved);
	}
	(void) expect_key_type(st, obj, "loss_weight", jbvNumeric, false,
						   "a number", false);

	if (completion)
		return;

	if (role == R_TOOL)
	{
		answer_tool_call(st, cs, obj);
		if (cs->pos == CP_CALLS || cs->pos == CP_TOOL)
			cs->tool_after_calls = true;
	}
	advance_chat(st, cs, role, calls);
	if (role == R_ASSISTANT)
	{
		cs->pending_ids = call_ids;
		cs->tool_after_calls = false;
	}
}

/*
 * A list of OpenAI messages under key of obj.  Returns false when it is
 * missing, not an array or empty (reported as no_messages or invalid_type).
 */
static bool
check_openai_messages(VState *st, ChatState *cs, JsonbContainer *obj,
					  const char *key, bool completion)
{
	JsonbValue *v = get_key(obj, key);
	int			saved = path_key(st, key);
	JsonbContainer *arr;
	int			n;

	if (v == NULL)
	{
		report(st, SEV_ERROR, "no_messages", "no \"%s\"", key);
		path_pop(st, saved);
		return false;
	}
	if (!expect_type(st, v, jbvBinary, true, "an array"))
	{
		path_pop(st, saved);
		return false;
	}
	arr = v->val.binary.data;
	n = JsonContainerSize(arr);
	if (n == 0)
	{
		report(st, SEV_ERROR, "no_messages", "no messages");
		path_pop(st, saved);
		return false;
	}
	for (int i = 0; i < n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(st->scratch);
		int			s2 = path_index(st, i);

		CHECK_FOR_INTERRUPTS();
		check_openai_message(st, cs, getIthJsonbValueFromContainer(arr, i),
							 completion);
		path_pop(st, s2);
		MemoryContextSwitchTo(old);
		MemoryContextReset(st->scratch);
	}

	/* calls the conversation answered only in part */
	if (!completion && cs->pending != NIL && cs->tool_after_calls)
		flush_pending(st, cs);
	path_pop(st, saved);
	return true;
}

static void
chat_state_init(ChatState *cs)
{
	memset(cs, 0, sizeof(ChatState));
	cs->pos = CP_START;
}

static void
report_roles(VState *st, ChatState *cs, bool need_assistant)
{
	if (need_assistant && !cs->has_assistant)
		report(st, SEV_ERROR, "no_assistant", "no assistant message");
	if (!cs->has_user)
		report(st, SEV_WARNING, "no_user", "no user message");
	if (!cs->has_system)
		report(st, SEV_WARNING, "no_system", "no system message");
}

static void
check_openai(VState *st, JsonbContainer *root)
{
	ChatState	cs;

	chat_state_init(&cs);
	if (check_openai_messages(st, &cs, root, "messages", false))
		report_roles(st, &cs, true);
	check_common_keys(st, root);
}

/* One output list of an OpenAI preference pair, after the prompt. */
static void
check_openai_completion(VState *st, const ChatState *prompt,
						JsonbContainer *root, const char *key)
{
	ChatState	cs = *prompt;
	JsonbValue *v = get_key(root, key);

	/* a completion's calls are never answered: they are not tracked */
	cs.has_assistant = false;
	if (v == NULL)
	{
		report(st, SEV_ERROR, "missing_key", "preference pair has no \"%s\"",
			   key);
		return;
	}
	if (check_openai_messages(st, &cs, root, key, true) && !cs.has_assistant)
	{
		int			saved = path_key(st, key);

		report(st, SEV_ERROR, "no_assistant", "no assistant message");
		path_pop(st, saved);
	}
}

static void
check_openai_preference(VState *st, JsonbContainer *root)
{
	ChatState	cs;
	JsonbValue *input = get_key(root, "input");
	int			saved = path_key(st, "input");

	bool		have_prompt = false;

	chat_state_init(&cs);
	if (expect_type(st, input, jbvBinary, false, "an object"))
	{
		JsonbContainer *inobj = input->val.binary.data;
		JsonbIterator *it = JsonbIteratorInit(inobj);
		JsonbValue	k;
		JsonbIteratorToken tok;

		have_prompt = check_openai_messages(st, &cs, inobj, "messages", false);
		if (have_prompt)
		{
			if (cs.pos != CP_USER && cs.pos != CP_TOOL)
			{
				int			s2 = path_key(st, "messages");

				report(st, SEV_WARNING, "role_order",
					   "the prompt must end with a user or tool message");
				path_pop(st, s2);
			}
		}
		check_tools(st, inobj);
		(void) expect_key_type(st, inobj, "parallel_tool_calls", jbvBool,
							   false, "a boolean", false);
		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			static const char *const input_keys[] = {
				"messages", "tools", "parallel_tool_calls", NULL
			};

			if (tok == WJB_KEY &&
				!key_in(k.val.string.val, k.val.string.len, input_keys))
			{
				int			s2 = path_key_len(st, k.val.string.val,
											  k.val.string.len);

				report(st, SEV_ERROR, "unknown_key",
					   "unknown preference input key \"%s\"",
					   quote_value(k.val.string.val, k.val.string.len));
				path_pop(st, s2);
			}
		}
	}
	path_pop(st, saved);
	if (have_prompt)
		report_roles(st, &cs, false);

	/* the media placeholders of one completion count, not of both */
	check_openai_completion(st, &cs, root, "preferred_output");
	{
		int			media[FT_NUM_MEDIA];

		memcpy(media, st->media, sizeof(media));
		check_openai_completion(st, &cs, root, "non_preferred_output");
		memcpy(st->media, media, sizeof(media));
	}
	check_common_keys(st, root);
}

/* ---------- ShareGPT ---------- */

typedef enum GptTag
{
	G_NONE = 0,
	G_HUMAN,
	G_GPT,
	G_SYSTEM,
	G_CALL,
	G_OBSERVATION
} GptTag;

static GptTag
sharegpt_tag(JsonbValue *v)
{
	if (string_is(v, "human") || string_is(v, "user"))
		return G_HUMAN;
	if (string_is(v, "gpt") || string_is(v, "assistant"))
		return G_GPT;
	if (string_is(v, "system"))
		return G_SYSTEM;
	if (string_is(v, "function_call"))
		return G_CALL;
	if (string_is(v, "observation") || string_is(v, "tool"))
		return G_OBSERVATION;
	return G_NONE;
}

/*
 * One turn {from, value} at the current path.  Returns its tag, G_NONE
 * when missing or unknown.  media: whether its text counts placeholders.
 */
static GptTag
check_sharegpt_turn(VState *st, JsonbValue *tv, bool completion, bool media)
{
	JsonbContainer *obj;
	JsonbValue *from;
	JsonbValue *value;
	GptTag		tag = G_NONE;
	JsonbIterator *it;
	JsonbValue	k;
	JsonbIteratorToken tok;
	int			saved;

	st->nturns++;
	if (!expect_type(st, tv, jbvBinary, false, "an object"))
		return G_NONE;
	obj = tv->val.binary.data;

	it = JsonbIteratorInit(obj);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		static const char *const turn_keys[] = {"from", "value", NULL};

		if (tok == WJB_KEY &&
			!key_in(k.val.string.val, k.val.string.len, turn_keys))
		{
			saved = path_key_len(st, k.val.string.val, k.val.string.len);
			report(st, SEV_WARNING, "unknown_key",
				   "unknown turn key \"%s\"",
				   quote_value(k.val.string.val, k.val.string.len));
			path_pop(st, saved);
		}
	}

	from = get_key(obj, "from");
	if (from == NULL)
		report(st, SEV_ERROR, "missing_role", "turn has no \"from\"");
	else
	{
		saved = path_key(st, "from");
		if (expect_type(st, from, jbvString, false, "a string"))
		{
			tag = sharegpt_tag(from);
			if (tag == G_NONE)
				report(st, SEV_ERROR, "unknown_role", "unknown role \"%s\"",
					   quote_value(from->val.string.val,
								   from->val.string.len));
			else if (completion && tag != G_GPT && tag != G_CALL)
				report(st, SEV_ERROR, "not_assistant",
					   "a completion must come from gpt or function_call, not \"%s\"",
					   quote_value(from->val.string.val,
								   from->val.string.len));
		}
		path_pop(st, saved);
	}

	value = get_key(obj, "value");
	if (value == NULL)
		report(st, SEV_ERROR, "missing_content", "turn has no \"value\"");
	else
	{
		int			flags;

		saved = path_key(st, "value");
		if (tag == G_CALL)
			check_function_call(st, value);
		else
		{
			flags = (tag == G_OBSERVATION) ? CHK_TOOL_OUTPUT : CHK_TURN;
			if (!media)
				flags &= ~CHK_MEDIA;
			(void) check_string(st, value, flags);
		}
		path_pop(st, saved);
	}
	return tag;
}

static void
check_sharegpt(VState *st, JsonbContainer *root)
{
	JsonbValue *conv = get_key(root, "conversations");
	JsonbValue *system = get_key(root, "system");
	JsonbValue *chosen = get_key(root, "chosen");
	JsonbValue *rejected = get_key(root, "rejected");
	bool		preference = (chosen != NULL || rejected != NULL);
	int			saved;

	if (system != NULL && system->type != jbvNull)
	{
		saved = path_key(st, "system");
		st->nturns++;
		(void) check_string(st, system, CHK_WS | CHK_CTRL | CHK_MEDIA);
		path_pop(st, saved);
	}

	saved = path_key(st, "conversations");
	if (expect_type(st, conv, jbvBinary, true, "an array"))
	{
		JsonbContainer *arr = conv->val.binary.data;
		int			n = JsonContainerSize(arr);
		int			slot = 0;	/* position after a leading system turn */
		GptTag		prev = G_NONE;
		bool		has_human = false;
		bool		has_gpt = false;

		if (n == 0)
			report(st, SEV_ERROR, "no_messages", "no turns");
		for (int i = 0; i < n; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(st->scratch);
			int			s2 = path_index(st, i);
			GptTag		tag;
			const char *problem = NULL;

			CHECK_FOR_INTERRUPTS();
			tag = check_sharegpt_turn(st, getIthJsonbValueFromContainer(arr, i),
									  false, true);
			if (tag == G_HUMAN)
				has_human = true;
			else if (tag == G_GPT || tag == G_CALL)
				has_gpt = true;

			if (tag == G_SYSTEM && i == 0)
			{
				/* LLaMA-Factory pulls a leading system turn out */
			}
			else
			{
				if (tag == G_SYSTEM)
					problem = "system turn after the start";
				else if (slot % 2 == 0 && (tag == G_GPT || tag == G_CALL))
					problem = "expected a human or observation turn here";
				else if (slot % 2 == 1 &&
						 (tag == G_HUMAN || tag == G_OBSERVATION))
					problem = "expected a gpt or function_call turn here";
				if (problem)
				{
					int			s3 = path_key(st, "from");

					report(st, SEV_ERROR, "role_order", "%s", problem);
					path_pop(st, s3);
				}
				else if (tag == G_OBSERVATION && prev != G_CALL)
				{
					int			s3 = path_key(st, "from");

					report(st, SEV_ERROR, "orphan_observation",
						   "observation turn not after a function_call turn");
					path_pop(st, s3);
				}
				slot++;
			}
			prev = tag;
			path_pop(st, s2);
			MemoryContextSwitchTo(old);
			MemoryContextReset(st->scratch);
		}

		if (n > 0)
		{
			if (!preference && slot % 2 == 1)
				report(st, SEV_ERROR, "odd_length",
					   "%d turns after the system turn, expected an even number",
					   slot);
			else if (preference && slot % 2 == 0)
				report(st, SEV_ERROR, "odd_length",
					   "%d turns after the system turn, expected an odd number before a preference pair",
					   slot);
		}
		path_pop(st, saved);
		if (n > 0)
		{
			if (!preference && !has_gpt)
				report(st, SEV_ERROR, "no_assistant", "no gpt turn");
			if (!has_human)
				report(st, SEV_WARNING, "no_user", "no human turn");
		}
	}
	else
		path_pop(st, saved);

	if (preference)
	{
		if (chosen == NULL || rejected == NULL)
			report(st, SEV_ERROR, "missing_key",
				   "preference pair has no \"%s\"",
				   chosen == NULL ? "chosen" : "rejected");
		if (chosen)
		{
			saved = path_key(st, "chosen");
			(void) check_sharegpt_turn(st, chosen, true, true);
			path_pop(st, saved);
		}
		if (rejected)
		{
			saved = path_key(st, "rejected");
			(void) check_sharegpt_turn(st, rejected, true, false);
			path_pop(st, saved);
		}
	}
	check_common_keys(st, root);
}

/* ---------- Alpaca ---------- */

/* Push the path of an Alpaca field, inside instances[0] when it is there. */
static int
alpaca_path(VState *st, bool from_instances, const char *key)
{
	int			saved = st->path.len;

	if (from_instances)
	{
		(void) path_key(st, "instances");
		(void) path_index(st, 0);
	}
	(void) path_key(st, key);
	return saved;
}

static void
check_alpaca(VState *st, JsonbContainer *root)
{
	JsonbValue *instruction = get_key(root, "instruction");
	JsonbValue *input = get_key(root, "input");
	JsonbValue *output = get_key(root, "output");
	JsonbValue *system = get_key(root, "system");
	JsonbValue *history = get_key(root, "history");
	JsonbValue *chosen = get_key(root, "chosen");
	JsonbValue *rejected = get_key(root, "rejected");
	JsonbValue *instances = get_key(root, "instances");
	bool		preference = (chosen != NULL || rejected != NULL);
	bool		have_output;
	bool		input_empty = true;
	bool		from_instances = false;
	const char *output_key = "output";
	int			saved;

	/*
	 * The type reads two other spellings, and so must validation:
	 * self-instruct's one-element "instances" list, and "response" for the
	 * output.
	 */
	if (input == NULL && output == NULL && instances != NULL &&
		is_array(instances) &&
		JsonContainerSize(instances->val.binary.data) == 1)
	{
		JsonbValue *inst = getIthJsonbValueFromContainer(instances->val.binary.data, 0);

		if (inst->type == jbvBinary && JsonContainerIsObject(inst->val.binary.data) &&
			JsonContainerSize(inst->val.binary.data) == 2 &&
			get_key(inst->val.binary.data, "input") != NULL &&
			get_key(inst->val.binary.data, "output") != NULL)
		{
			input = get_key(inst->val.binary.data, "input");
			output = get_key(inst->val.binary.data, "output");
			from_instances = true;
		}
	}
	if (output == NULL && (output = get_key(root, "response")) != NULL)
		output_key = "response";
	have_output = (output != NULL && output->type != jbvNull);

	if (system != NULL && system->type != jbvNull)
	{
		saved = path_key(st, "system");
		st->nturns++;
		(void) check_string(st, system, CHK_WS | CHK_CTRL | CHK_MEDIA);
		path_pop(st, saved);
	}

	if (history != NULL && history->type != jbvNull)
	{
		saved = path_key(st, "history");
		if (expect_type(st, history, jbvBinary, true, "an array"))
		{
			JsonbContainer *arr = history->val.binary.data;
			int			n = JsonContainerSize(arr);

			for (int i = 0; i < n; i++)
			{
				JsonbValue *pair = getIthJsonbValueFromContainer(arr, i);
				int			s2 = path_index(st, i);

				if (!is_array(pair) ||
					JsonContainerSize(pair->val.binary.data) != 2)
					report(st, SEV_ERROR, "invalid_type",
						   "expected a [query, answer] pair, found %s",
						   is_array(pair) ? "an array of another length" :
						   type_name(pair));
				else
				{
					JsonbContainer *pc = pair->val.binary.data;

					for (int j = 0; j < 2; j++)
					{
						int			s3 = path_index(st, j);

						st->nturns++;
						(void) check_string(st,
											getIthJsonbValueFromContainer(pc, j),
											CHK_TURN);
						path_pop(st, s3);
					}
				}
				path_pop(st, s2);
			}
		}
		path_pop(st, saved);
	}

	if (input != NULL && input->type != jbvNull)
	{
		saved = alpaca_path(st, from_instances, "input");
		if (!check_string(st, input,
						  CHK_PLACEHOLDER | CHK_WS | CHK_CTRL | CHK_MEDIA) ||
			has_nonspace(input->val.string.val, input->val.string.len))
			input_empty = false;
		path_pop(st, saved);
	}

	/* an empty instruction is fine when the input carries the prompt */
	saved = path_key(st, "instruction");
	st->nturns++;
	(void) check_string(st, instruction,
						input_empty ? CHK_TURN : (CHK_TURN & ~CHK_EMPTY));
	path_pop(st, saved);

	if (have_output)
	{
		saved = alpaca_path(st, from_instances, output_key);
		st->nturns++;
		(void) check_string(st, output, CHK_TURN);
		path_pop(st, saved);
	}

	if (preference)
	{
		if (have_output)
		{
			saved = path_key(st, "output");
			report(st, SEV_ERROR, "conflicting_keys",
				   "a preference pair takes \"chosen\" and \"rejected\", not \"output\"");
			path_pop(st, saved);
		}
		if (chosen == NULL || rejected == NULL)
			report(st, SEV_ERROR, "missing_key",
				   "preference pair has no \"%s\"",
				   chosen == NULL ? "chosen" : "rejected");
		if (chosen)
		{
			saved = path_key(st, "chosen");
			st->nturns++;
			(void) check_string(st, chosen, CHK_TURN);
			path_pop(st, saved);
		}
		if (rejected)
		{
			saved = path_key(st, "rejected");
			st->nturns++;
			(void) check_string(st, rejected, CHK_TURN & ~CHK_MEDIA);
			path_pop(st, saved);
		}
	}
	else if (!have_output)
		report(st, SEV_ERROR, "no_assistant", "no \"output\"");

	check_common_keys(st, root);
}

/* ---------- raw text ---------- */

static void
check_raw_text(VState *st, JsonbContainer *root)
{
	int			saved = path_key(st, "text");

	(void) check_string(st, get_key(root, "text"),
						CHK_EMPTY | CHK_CTRL | CHK_MEDIA);
	path_pop(st, saved);
	check_common_keys(st, root);
}

/* ---------- the record ---------- */

/* Estimated tokens of every string value in the record, keys excluded. */
static int64
record_tokens(Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int64		tokens = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if ((tok == WJB_VALUE || tok == WJB_ELEM) && v.type == jbvString)
		{
			int			len;
			const char *u;

			CHECK_FOR_INTERRUPTS();
			u = as_utf8(v.val.string.val, v.val.string.len, &len);
			tokens += ft_estimate_tokens(u, len);
		}
	}
	return tokens;
}

static void
validate_record(VState *st, Jsonb *jb, int max_tokens)
{
	JsonbContainer *root = &jb->root;
	int64		tokens;

	if (!JB_ROOT_IS_OBJECT(jb))
	{
		const char *found = "an array";

		if (JB_ROOT_IS_SCALAR(jb))
			found = type_name(getIthJsonbValueFromContainer(root, 0));
		report(st, SEV_ERROR, "not_object",
			   "a record must be a JSON object, not %s", found);
		return;
	}

	/* the same detection, in the same order, as the sample type's */
	if (get_key(root, "messages"))
		check_openai(st, root);
	else if (get_key(root, "input") &&
			 (get_key(root, "preferred_output") ||
			  get_key(root, "non_preferred_output")))
		check_openai_preference(st, root);
	else if (get_key(root, "conversations"))
		check_sharegpt(st, root);
	else if (get_key(root, "instruction"))
		check_alpaca(st, root);
	else if (get_key(root, "text"))
		check_raw_text(st, root);
	else
	{
		report(st, SEV_ERROR, "unknown_format",
			   "no \"messages\", \"conversations\", \"instruction\", \"text\", or \"input\" with \"preferred_output\"");
		return;
	}

	tokens = record_tokens(jb) + TOKENS_PER_TURN * st->nturns +
		TOKENS_PER_RECORD;
	if (tokens > max_tokens)
		report(st, SEV_WARNING, "too_long",
			   "about " INT64_FORMAT " tokens, over the limit of %d",
			   tokens, max_tokens);
}

/*
 * SQL: ftstore.validate(doc jsonb, max_tokens integer DEFAULT 16385)
 * RETURNS TABLE (severity text, code text, path text, message text)
 */
/*
 * An error row means that the type refuses the record, so the type is
 * asked too: when the rules above found no error but the type's parser
 * refuses the record (a rule of its own, such as a hint of the "ftstore"
 * key that contradicts the sample), that refusal becomes the error row,
 * with the parser's field path.  The parse runs in a subtransaction, so
 * that its error can be caught; that is why validate() is not parallel
 * safe.
 */
static void
encode_work(void *arg)
{
	(void) ft_encode(ft_parse_jsonb((Jsonb *) arg, FT_FORMAT_AUTO));
}

static void
check_type_accepts(VState *st, Jsonb *jb)
{
	ErrorData  *edata = ft_run_in_subxact(encode_work, jb, true);

	if (edata != NULL)
	{
		const char *msg = edata->message ? edata->message : "refused";

		/* the parser's messages all open so; the row needs no prefix */
		if (strncmp(msg, "invalid sample: ", 16) == 0)
			msg += 16;
		resetStringInfo(&st->path);
		if (edata->column_name && strcmp(edata->column_name, "$") != 0)
			appendStringInfoString(&st->path, edata->column_name);
		report(st, SEV_ERROR, "invalid_sample", "%s", msg);
		FreeErrorData(edata);
	}
}

Datum
ftstore_validate(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = PG_GETARG_JSONB_P(0);
	int32		max_tokens = PG_GETARG_INT32(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VState		st;

	if (max_tokens <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens must be positive"),
				 errdetail("The value given was %d.", max_tokens)));

	InitMaterializedSRF(fcinfo, 0);

	memset(&st, 0, sizeof(st));
	st.ts = rsinfo->setResult;
	st.desc = rsinfo->setDesc;
	st.cxt = CurrentMemoryContext;
	st.scratch = AllocSetContextCreate(CurrentMemoryContext,
									   "ftstore validate scratch",
									   ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&st.path);

	validate_record(&st, jb, max_tokens);
	if (st.nerrors == 0)
		check_type_accepts(&st, jb);

	MemoryContextDelete(st.scratch);
	return (Datum) 0;
}
