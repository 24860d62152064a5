/*-------------------------------------------------------------------------
 *
 * parse.c
 *	  Reading a sample from JSON, in any of the fine-tuning formats, into
 *	  the canonical model.
 *
 * The JSON text is first made into jsonb: in one pass by jsontext.c when
 * it can, else by PostgreSQL's own jsonb parser after a cheap pre-scan
 * (ft_check_json_limits) that refuses oversized and too deeply nested
 * input, so that neither memory nor stack can be exhausted by one record.
 * The jsonb is then walked once.  Every fault is reported with the JSON
 * path of the field that holds it, in errdetail and in the error's column
 * name field (PG_DIAG_COLUMN_NAME), where import and client drivers can
 * read it.
 *
 * Keys that no format defines are kept, never dropped: at the top level in
 * the sample's "extra" object, inside a message in the message's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "sample/ftsample.h"

/* The key that carries what the canonical shape cannot say by itself. */
#define FT_META_KEY "ftstore"

typedef struct FtParse
{
	FtSample   *sample;
	StringInfoData path;		/* JSON path of the field being read */
	/* messages being collected, in section order */
	FtMessage  *messages;
	int			nmessages;
	int			maxmessages;
	/* unknown top-level keys, gathered as a jsonb object */
	JsonbParseState *extra;
	bool		have_extra;
	int			meta_format;	/* format named by the "ftstore" key, or 0 */
} FtParse;

static void parse_openai(FtParse *ps, JsonbContainer *root);
static void parse_openai_preference(FtParse *ps, JsonbContainer *root);
static void parse_sharegpt(FtParse *ps, JsonbContainer *root);
static void parse_alpaca(FtParse *ps, JsonbContainer *root);
static void parse_text(FtParse *ps, JsonbContainer *root);

/*
 * Report a fault in the input.  The path is that of the field being read
 * when the fault is found.
 */
static void
pg_attribute_printf(3, 4)
pg_attribute_noreturn()
fail(FtParse *ps, int sqlerrcode, const char *fmt,...)
{
	char		msg[256];
	va_list		ap;
	const char *path = ps->path.len > 0 ? ps->path.data : "$";

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	ereport(ERROR,
			(errcode(sqlerrcode),
			 errmsg("invalid sample: %s", msg),
			 errdetail("The fault is at field path %s.", path),
			 err_generic_string(PG_DIAG_COLUMN_NAME, path)));
	pg_unreachable();
}

/* Path handling: push a key or an index, pop back to a saved length. */
static int
path_key(FtParse *ps, const char *key)
{
	int			saved = ps->path.len;
	bool		plain = (*key != '\0');

	for (const char *c = key; *c; c++)
	{
		if (!(isalnum((unsigned char) *c) || *c == '_'))
		{
			plain = false;
			break;
		}
	}
	if (plain)
	{
		if (ps->path.len > 0)
			appendStringInfoChar(&ps->path, '.');
		appendStringInfoString(&ps->path, key);
	}
	else
	{
		appendStringInfoChar(&ps->path, '[');
		ft_write_json_string(&ps->path, key, strlen(key));
		appendStringInfoChar(&ps->path, ']');
	}
	return saved;
}

static int
path_index(FtParse *ps, int i)
{
	int			saved = ps->path.len;

	appendStringInfo(&ps->path, "[%d]", i);
	return saved;
}

static void
path_pop(FtParse *ps, int saved)
{
	ps->path.len = saved;
	ps->path.data[saved] = '\0';
}

/*
 * Pre-scan of JSON text: refuse input that is too large, nested too deeply
 * or holding a NUL byte (which would cut a C string short) before any
 * parser recurses into it.  Inside strings only quotes and backslashes
 * matter, so the scan skips to them.
 */
void
ft_check_json_limits(const char *json, size_t len)
{
	const char *p = json;
	const char *end = json + len;
	int			depth = 0;

	if (len > (size_t) ft_max_sample_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sample is too large"),
				 errdetail("The sample has %zu bytes; ftstore.max_sample_bytes allows %d.",
						   len, ft_max_sample_bytes)));

	while (p < end)
	{
		char		c = *p++;

		switch (c)
		{
			case '"':
				/* skip the string body */
				while (p < end)
				{
					c = *p++;
					if (c == '"')
						break;
					if (c == '\\')
						p++;
					else if (c == '\0')
						goto nul;
				}
				break;
			case '{':
			case '[':
				if (++depth > ft_max_depth)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("sample is nested too deeply"),
							 errdetail("JSON nesting deeper than ftstore.max_depth (%d) is refused, found at byte %zu.",
									   ft_max_depth, (size_t) (p - json - 1))));
				break;
			case '}':
			case ']':
				depth--;
				break;
			case '\0':
				goto nul;
			default:
				break;
		}
	}
	return;

nul:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid sample: the text contains a NUL byte"),
			 errdetail("The NUL byte is at byte %zu.", (size_t) (p - json - 1))));
}

/*
 * Canonical JSON text of a jsonb value, as stored for tool calls, tools and
 * unknown keys.  jsonb's own ordering of object keys makes it canonical.
 */
static FtStr
canonical_text(JsonbValue *v)
{
	StringInfoData buf;
	FtStr		result;
	Jsonb	   *jb = JsonbValueToJsonb(v);

	initStringInfo(&buf);
	JsonbToCString(&buf, &jb->root, VARSIZE(jb));
	result.p = buf.data;
	result.len = buf.len;
	return result;
}

static FtStr
string_of(JsonbValue *v)
{
	FtStr		s;

	s.p = v->val.string.val;
	s.len = v->val.string.len;
	return s;
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
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "a JSON value";
	}
}

static void
expect_string(FtParse *ps, JsonbValue *v)
{
	if (v->type != jbvString)
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "field must be a string, not %s", type_name(v));
}

static bool
expect_bool(FtParse *ps, JsonbValue *v)
{
	if (v->type != jbvBool)
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "field must be a boolean, not %s", type_name(v));
	return v->val.boolean;
}

static JsonbContainer *
expect_container(FtParse *ps, JsonbValue *v, bool array)
{
	if (v->type != jbvBinary ||
		(array ? !JsonContainerIsArray(v->val.binary.data) :
		 !JsonContainerIsObject(v->val.binary.data)))
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "field must be %s, not %s", array ? "an array" : "an object",
			 type_name(v));
	return v->val.binary.data;
}

/* Look a key up in an object; NULL when absent. */
static JsonbValue *
get_key(JsonbContainer *obj, const char *key)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

/* Weight 0 or 1 from a JSON number; -1 when it is neither. */
static int
binary_weight(JsonbValue *v)
{
	Datum		n;

	if (v->type != jbvNumeric)
		return -1;
	n = NumericGetDatum(v->val.numeric);
	if (DatumGetBool(DirectFunctionCall2(numeric_eq, n,
										 NumericGetDatum(int64_to_numeric(0)))))
		return 0;
	if (DatumGetBool(DirectFunctionCall2(numeric_eq, n,
										 NumericGetDatum(int64_to_numeric(1)))))
		return 1;
	return -1;
}

/*
 * The object's keys in jsonb order.  Values of nested containers come back
 * as jbvBinary.
 */
typedef struct KeyIter
{
	JsonbIterator *it;
	char	   *key;
	JsonbValue	value;
} KeyIter;

static void
key_iter_init(KeyIter *ki, JsonbContainer *obj)
{
	ki->it = JsonbIteratorInit(obj);
	(void) JsonbIteratorNext(&ki->it, &ki->value, true);	/* WJB_BEGIN_OBJECT */
}

static bool
key_iter_next(KeyIter *ki)
{
	JsonbValue	k;
	JsonbIteratorToken tok;

	tok = JsonbIteratorNext(&ki->it, &k, true);
	if (tok != WJB_KEY)
		return false;
	ki->key = pnstrdup(k.val.string.val, k.val.string.len);
	tok = JsonbIteratorNext(&ki->it, &ki->value, true);
	Assert(tok == WJB_VALUE);
	return true;
}

static bool
key_in(const char *key, const char *const *keys)
{
	for (; *keys; keys++)
		if (strcmp(key, *keys) == 0)
			return true;
	return false;
}

/* Add an unknown key to an extra object being built. */
static void
extra_add(JsonbParseState **state, bool *have, const char *key,
		  JsonbValue *value)
{
	JsonbValue	k;

	if (!*have)
	{
		pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
		*have = true;
	}
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
	pushJsonbValue(state, WJB_VALUE, value);
}

static FtStr
extra_finish(JsonbParseState **state, bool have)
{
	FtStr		none = {NULL, 0};

	if (!have)
		return none;
	return canonical_text(pushJsonbValue(state, WJB_END_OBJECT, NULL));
}

static FtMessage *
new_message(FtParse *ps, int role)
{
	FtMessage  *m;

	if (ps->nmessages >= ps->maxmessages)
	{
		ps->maxmessages = ps->maxmessages ? ps->maxmessages * 2 : 8;
		ps->messages = ps->messages ?
			repalloc(ps->messages, sizeof(FtMessage) * ps->maxmessages) :
			palloc(sizeof(FtMessage) * ps->maxmessages);
	}
	m = &ps->messages[ps->nmessages++];
	memset(m, 0, sizeof(FtMessage));
	m->role = role;
	return m;
}

static FtMessage *
new_text_message(FtParse *ps, int role, const char *p, int len)
{
	FtMessage  *m = new_message(ps, role);

	m->content.p = p;
	m->content.len = len;
	return m;
}

/*
 * Typed content parts: a list of {type, text|value} objects, or of other
 * objects (image_url and the like), kept whole.
 */
static void
parse_parts(FtParse *ps, FtMessage *m, JsonbContainer *arr)
{
	int			n = JsonContainerSize(arr);

	m->flags |= FT_MSG_CONTENT_PARTS;
	m->nparts = n;
	m->parts = palloc0(sizeof(FtPart) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		int			saved = path_index(ps, i);
		JsonbValue *part = getIthJsonbValueFromContainer(arr, i);
		JsonbContainer *obj;
		JsonbValue *type;
		JsonbValue *text;
		int			nkeys;

		if (part->type == jbvString)
		{
			/* a bare string part is a text part */
			m->parts[i].type.p = "text";
			m->parts[i].type.len = 4;
			m->parts[i].text = string_of(part);
			path_pop(ps, saved);
			continue;
		}
		obj = expect_container(ps, part, false);
		nkeys = JsonContainerSize(obj);
		type = get_key(obj, "type");
		if (type == NULL)
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "content part has no \"type\"");
		{
			int			s2 = path_key(ps, "type");

			expect_string(ps, type);
			path_pop(ps, s2);
		}
		text = get_key(obj, "text");
		if (text == NULL)
			text = get_key(obj, "value");
		if (text != NULL && text->type == jbvString && nkeys == 2)
		{
			m->parts[i].type = string_of(type);
			m->parts[i].text = string_of(text);
		}
		else
			m->parts[i].json = canonical_text(part);
		path_pop(ps, saved);
	}
}

/* Content: a string, null, or a list of parts. */
static void
parse_content(FtParse *ps, FtMessage *m, JsonbValue *v)
{
	int			saved = path_key(ps, "content");

	if (v == NULL || v->type == jbvNull)
		m->flags |= FT_MSG_CONTENT_NULL;
	else if (v->type == jbvString)
		m->content = string_of(v);
	else if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
		parse_parts(ps, m, v->val.binary.data);
	else
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "content must be a string, an array of parts or null, not %s",
			 type_name(v));
	path_pop(ps, saved);
}

/*
 * tool_calls of an assistant message: [{id, type, function: {name,
 * arguments}}].  The shape is checked; the array is kept as canonical text.
 */
static void
parse_tool_calls(FtParse *ps, FtMessage *m, JsonbValue *v)
{
	JsonbContainer *arr = expect_container(ps, v, true);
	int			n = JsonContainerSize(arr);

	for (int i = 0; i < n; i++)
	{
		int			saved = path_index(ps, i);
		JsonbContainer *call = expect_container(ps,
												getIthJsonbValueFromContainer(arr, i),
												false);
		JsonbValue *f = get_key(call, "function");
		JsonbValue *id = get_key(call, "id");
		JsonbValue *type = get_key(call, "type");

		if (id)
		{
			int			s2 = path_key(ps, "id");

			expect_string(ps, id);
			path_pop(ps, s2);
		}
		if (type)
		{
			int			s2 = path_key(ps, "type");

			expect_string(ps, type);
			path_pop(ps, s2);
		}
		if (f == NULL)
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "tool call has no \"function\"");
		{
			int			s2 = path_key(ps, "function");
			JsonbContainer *fobj = expect_container(ps, f, false);
			JsonbValue *name = get_key(fobj, "name");
			JsonbValue *args = get_key(fobj, "arguments");
			int			s3;

			if (name == NULL)
				fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
					 "function has no \"name\"");
			s3 = path_key(ps, "name");
			expect_string(ps, name);
			path_pop(ps, s3);
			if (args != NULL)
			{
				s3 = path_key(ps, "arguments");
				expect_string(ps, args);
				path_pop(ps, s3);
			}
			path_pop(ps, s2);
		}
		path_pop(ps, saved);
	}
	m->flags |= FT_MSG_HAS_TOOL_CALLS;
	m->tool_calls = canonical_text(v);
}

/*
 * One OpenAI-style message object.  allowed_roles, when given, limits the
 * roles (the completions of a preference pair are assistant messages).
 */
static void
parse_openai_message(FtParse *ps, JsonbValue *v, bool assistant_only)
{
	static const char *const known[] = {
		"role", "content", "name", "tool_calls", "tool_call_id", "weight",
		"loss_weight", NULL
	};
	JsonbContainer *obj = expect_container(ps, v, false);
	JsonbValue *role = get_key(obj, "role");
	FtMessage  *m;
	int			code;
	int			saved;
	KeyIter		ki;
	JsonbParseState *extra = NULL;
	bool		have_extra = false;

	if (role == NULL)
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "message has no \"role\"");
	saved = path_key(ps, "role");
	expect_string(ps, role);
	code = ft_role_from_name(role->val.string.val, role->val.string.len);
	if (code == 0)
		fail(ps, ERRCODE_INVALID_PARAMETER_VALUE,
			 "unrecognized role \"%.*s\"",
			 Min(role->val.string.len, 64), role->val.string.val);
	if (assistant_only && code != FT_ROLE_ASSISTANT)
		fail(ps, ERRCODE_INVALID_PARAMETER_VALUE,
			 "a completion must be an assistant message, not \"%s\"",
			 ft_role_name(code));
	path_pop(ps, saved);

	m = new_message(ps, code);
	parse_content(ps, m, get_key(obj, "content"));

	key_iter_init(&ki, obj);
	while (key_iter_next(&ki))
	{
		JsonbValue *val = &ki.value;

		saved = path_key(ps, ki.key);
		if (strcmp(ki.key, "name") == 0)
		{
			expect_string(ps, val);
			m->name = string_of(val);
			m->flags |= FT_MSG_HAS_NAME;
		}
		else if (strcmp(ki.key, "tool_call_id") == 0)
		{
			expect_string(ps, val);
			m->tool_call_id = string_of(val);
			m->flags |= FT_MSG_HAS_TOOL_CALL_ID;
		}
		else if (strcmp(ki.key, "tool_calls") == 0)
		{
			if (val->type != jbvNull)
				parse_tool_calls(ps, m, val);
		}
		else if (strcmp(ki.key, "weight") == 0)
		{
			int			w = binary_weight(val);

			if (val->type != jbvNumeric)
				fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
					 "field must be a number, not %s", type_name(val));
			if (w < 0)
				fail(ps, ERRCODE_INVALID_PARAMETER_VALUE,
					 "weight must be 0 or 1");
			m->flags |= FT_MSG_HAS_WEIGHT | (w ? FT_MSG_WEIGHT_ONE : 0);
		}
		else if (strcmp(ki.key, "loss_weight") == 0)
		{
			/*
			 * LLaMA-Factory's 0.0/1.0 on an assistant turn is OpenAI's
			 * weight.  Other values, and loss weights on other turns (which
			 * OpenAI gives no weight), are kept as they are.
			 */
			int			w = binary_weight(val);

			if (w >= 0 && code == FT_ROLE_ASSISTANT &&
				!(m->flags & FT_MSG_HAS_WEIGHT))
				m->flags |= FT_MSG_HAS_WEIGHT | (w ? FT_MSG_WEIGHT_ONE : 0);
			else
				extra_add(&extra, &have_extra, ki.key, val);
		}
		else if (!key_in(ki.key, known))
			extra_add(&extra, &have_extra, ki.key, val);
		path_pop(ps, saved);
	}
	m->extra = extra_finish(&extra, have_extra);
	if (have_extra)
		m->flags |= FT_MSG_HAS_EXTRA;
}

static void
parse_message_list(FtParse *ps, JsonbContainer *obj, const char *key,
				   bool required, bool assistant_only, int *count)
{
	JsonbValue *v = get_key(obj, key);
	int			saved = path_key(ps, key);
	JsonbContainer *arr;
	int			before = ps->nmessages;

	if (v == NULL)
	{
		if (required)
		{
			path_pop(ps, saved);
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "sample has no \"%s\"", key);
		}
		path_pop(ps, saved);
		*count = 0;
		return;
	}
	arr = expect_container(ps, v, true);
	/* a completion of a preference pair with no message says nothing */
	if (assistant_only && JsonContainerSize(arr) == 0)
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "a completion must hold at least one message");
	for (int i = 0; i < JsonContainerSize(arr); i++)
	{
		int			s2 = path_index(ps, i);

		parse_openai_message(ps, getIthJsonbValueFromContainer(arr, i),
							 assistant_only);
		path_pop(ps, s2);
	}
	path_pop(ps, saved);
	*count = ps->nmessages - before;
}

/*
 * Parse a JSON text held in a string (ShareGPT's tools and function calls)
 * without letting the JSON parser's own error hide the field path.
 */
static Jsonb *
parse_embedded_json(FtParse *ps, const char *p, int len)
{
	JsonLexContext *lex;
	JsonParseErrorType err;
	char	   *copy = pnstrdup(p, len);

	ft_check_json_limits(copy, len);
	lex = makeJsonLexContextCstringLen(copy, len, GetDatabaseEncoding(), true);
	err = pg_parse_json(lex, &nullSemAction);
	if (err != JSON_SUCCESS)
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "string does not hold valid JSON: %s", json_errdetail(err, lex));
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
}

/*
 * XXX: tools held in a string, and ShareGPT preference turns' unknown keys,
 * sit one or two levels deeper in the canonical output than in the input,
 * so a sample within ftstore.max_depth by a level or two can print text
 * that text input refuses at the same setting.
 */
static void
set_tools(FtParse *ps, JsonbValue *v)
{
	FtSample   *s = ps->sample;
	JsonbValue	arr;

	if (v->type == jbvNull)
		return;
	if (v->type == jbvString)
	{
		Jsonb	   *jb;

		/* an empty string offers nothing, and is read as no tools */
		if (v->val.string.len == 0)
			return;
		s->hints |= FT_HINT_TOOLS_AS_STRING;
		jb = parse_embedded_json(ps, v->val.string.val, v->val.string.len);
		if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "tools must hold a JSON array");
		arr.type = jbvBinary;
		arr.val.binary.data = &jb->root;
		arr.val.binary.len = VARSIZE(jb) - VARHDRSZ;
		v = &arr;
	}
	(void) expect_container(ps, v, true);
	s->tools = canonical_text(v);
	s->flags |= FT_SAMPLE_HAS_TOOLS;
}

static void
set_media(FtParse *ps, int media, JsonbValue *v)
{
	FtSample   *s = ps->sample;
	JsonbContainer *arr = expect_container(ps, v, true);
	int			n = JsonContainerSize(arr);

	s->nmedia[media] = n;
	s->media[media] = palloc(sizeof(FtStr) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		int			saved = path_index(ps, i);
		JsonbValue *item = getIthJsonbValueFromContainer(arr, i);

		expect_string(ps, item);
		s->media[media][i] = string_of(item);
		path_pop(ps, saved);
	}
	/* an empty list says nothing, and the output writes none */
	if (n > 0)
		s->flags |= FT_SAMPLE_HAS_MEDIA;
}

static void
set_label(FtParse *ps, JsonbValue *v)
{
	FtSample   *s = ps->sample;

	if (s->flags & FT_SAMPLE_HAS_LABEL)
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "sample has both \"label\" and \"kto_tag\"");
	/* the canonical shape of a raw document has no place for a label */
	if (s->kind == FT_KIND_TEXT)
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "a raw text document cannot have a KTO label");
	s->flags |= FT_SAMPLE_HAS_LABEL;
	if (expect_bool(ps, v))
		s->flags |= FT_SAMPLE_LABEL_TRUE;
	s->kind = FT_KIND_KTO;
}

/*
 * The metadata key written by the canonical output: the format of origin
 * and the hints that render it back faithfully.
 */
static void
parse_meta(FtParse *ps, JsonbValue *v)
{
	FtSample   *s = ps->sample;
	JsonbContainer *obj = expect_container(ps, v, false);
	KeyIter		ki;

	key_iter_init(&ki, obj);
	while (key_iter_next(&ki))
	{
		int			saved = path_key(ps, ki.key);

		if (strcmp(ki.key, "format") == 0)
		{
			char	   *name;
			int			f;

			expect_string(ps, &ki.value);
			name = pnstrdup(ki.value.val.string.val, ki.value.val.string.len);
			f = ft_format_from_name(name);
			if (f <= 0)
				fail(ps, ERRCODE_INVALID_PARAMETER_VALUE,
					 "unrecognized format \"%s\"", name);
			ps->meta_format = f;
		}
		else if (strcmp(ki.key, "input_offset") == 0)
		{
			int32		offset;

			if (ki.value.type != jbvNumeric)
				fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
					 "field must be a number, not %s", type_name(&ki.value));
			/* range-check before numeric_int4, whose error has no path */
			if (DatumGetBool(DirectFunctionCall2(numeric_lt,
												 NumericGetDatum(ki.value.val.numeric),
												 NumericGetDatum(int64_to_numeric(0)))) ||
				DatumGetBool(DirectFunctionCall2(numeric_ge,
												 NumericGetDatum(ki.value.val.numeric),
												 NumericGetDatum(int64_to_numeric(PG_INT32_MAX)))))
				fail(ps, ERRCODE_INVALID_PARAMETER_VALUE,
					 "input_offset must be from 0 to %d",
					 PG_INT32_MAX - 1);
			offset = DatumGetInt32(DirectFunctionCall1(numeric_int4,
													   NumericGetDatum(ki.value.val.numeric)));
			s->input_offset = offset + 1;
		}
		else if (strcmp(ki.key, "tools_as_string") == 0)
		{
			if (expect_bool(ps, &ki.value))
				s->hints |= FT_HINT_TOOLS_AS_STRING;
		}
		else if (strcmp(ki.key, "kto_tag") == 0)
		{
			if (expect_bool(ps, &ki.value))
				s->hints |= FT_HINT_KTO_TAG;
		}
		else if (strcmp(ki.key, "system_field") == 0)
		{
			if (expect_bool(ps, &ki.value))
				s->hints |= FT_HINT_SYSTEM_FIELD;
		}
		else if (strcmp(ki.key, "instances") == 0)
		{
			if (expect_bool(ps, &ki.value))
				s->hints |= FT_HINT_INSTANCES;
		}
		else if (strcmp(ki.key, "response_key") == 0)
		{
			if (expect_bool(ps, &ki.value))
				s->hints |= FT_HINT_RESPONSE_KEY;
		}
		else
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "unrecognized ftstore metadata key \"%s\"", ki.key);
		path_pop(ps, saved);
	}
}

/*
 * Top-level keys that every format shares: tools, media, the KTO label,
 * and the canonical metadata key.  Returns false for a key it does not
 * know.
 */
static bool
parse_common_key(FtParse *ps, const char *key, JsonbValue *v)
{
	FtSample   *s = ps->sample;

	if (strcmp(key, "tools") == 0)
		set_tools(ps, v);
	else if (strcmp(key, "parallel_tool_calls") == 0)
	{
		s->flags |= FT_SAMPLE_HAS_PARALLEL;
		if (expect_bool(ps, v))
			s->flags |= FT_SAMPLE_PARALLEL_TRUE;
	}
	else if (strcmp(key, "label") == 0)
		set_label(ps, v);
	else if (strcmp(key, "kto_tag") == 0)
	{
		set_label(ps, v);
		s->hints |= FT_HINT_KTO_TAG;
	}
	else if (strcmp(key, "images") == 0)
		set_media(ps, FT_MEDIA_IMAGE, v);
	else if (strcmp(key, "videos") == 0)
		set_media(ps, FT_MEDIA_VIDEO, v);
	else if (strcmp(key, "audios") == 0)
		set_media(ps, FT_MEDIA_AUDIO, v);
	else if (strcmp(key, FT_META_KEY) == 0)
		parse_meta(ps, v);
	else
		return false;
	return true;
}

/*
 * Walk the top-level keys: those the format reads itself are skipped
 * (format_keys), the shared ones are parsed, the rest kept as extra.
 */
static void
parse_top_keys(FtParse *ps, JsonbContainer *root, const char *const *format_keys)
{
	static const char *const preference_keys[] = {
		"input", "preferred_output", "non_preferred_output", NULL
	};
	KeyIter		ki;

	key_iter_init(&ki, root);
	while (key_iter_next(&ki))
	{
		int			saved;

		if (key_in(ki.key, format_keys))
			continue;
		saved = path_key(ps, ki.key);
		if (parse_common_key(ps, ki.key, &ki.value))
			;
		else if (ps->sample->kind == FT_KIND_PREFERENCE &&
				 key_in(ki.key, preference_keys))
		{
			/* the canonical form of a pair writes these keys itself */
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "a preference sample cannot have the key \"%s\", which the canonical form uses",
				 ki.key);
		}
		else
			extra_add(&ps->extra, &ps->have_extra, ki.key, &ki.value);
		path_pop(ps, saved);
	}
}

static void
parse_openai(FtParse *ps, JsonbContainer *root)
{
	static const char *const keys[] = {"messages", NULL};
	FtSample   *s = ps->sample;

	s->format = FT_FORMAT_OPENAI;
	s->kind = FT_KIND_SFT;
	parse_message_list(ps, root, "messages", true, false, &s->nprompt);
	parse_top_keys(ps, root, keys);
}

static void
parse_openai_preference(FtParse *ps, JsonbContainer *root)
{
	static const char *const keys[] = {
		"input", "preferred_output", "non_preferred_output", NULL
	};
	FtSample   *s = ps->sample;
	JsonbValue *input = get_key(root, "input");
	int			saved = path_key(ps, "input");
	JsonbContainer *inobj = expect_container(ps, input, false);
	KeyIter		ki;

	s->format = FT_FORMAT_OPENAI;
	s->kind = FT_KIND_PREFERENCE;
	parse_message_list(ps, inobj, "messages", true, false, &s->nprompt);

	/*
	 * input holds the prompt and what goes with it.  Keys of its own that
	 * we do not know have no place in the model, so they are refused rather
	 * than silently moved.
	 */
	key_iter_init(&ki, inobj);
	while (key_iter_next(&ki))
	{
		int			s2;

		if (strcmp(ki.key, "messages") == 0)
			continue;
		s2 = path_key(ps, ki.key);
		if (strcmp(ki.key, "tools") == 0 ||
			strcmp(ki.key, "parallel_tool_calls") == 0)
			(void) parse_common_key(ps, ki.key, &ki.value);
		else
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "unrecognized key in preference input");
		path_pop(ps, s2);
	}
	path_pop(ps, saved);

	parse_message_list(ps, root, "preferred_output", true, true, &s->nchosen);
	parse_message_list(ps, root, "non_preferred_output", true, true,
					   &s->nrejected);
	parse_top_keys(ps, root, keys);
}

/* ShareGPT's function_call value: {name, arguments} or a list of them. */
static void
sharegpt_function_call(FtParse *ps, FtMessage *m, JsonbValue *value)
{
	Jsonb	   *jb;
	JsonbParseState *st = NULL;
	JsonbValue *calls;
	JsonbIterator *it;
	JsonbValue	item;
	JsonbIteratorToken tok;
	bool		single;
	int			n = 0;

	expect_string(ps, value);
	jb = parse_embedded_json(ps, value->val.string.val, value->val.string.len);
	single = JB_ROOT_IS_OBJECT(jb);
	if (!single && !(JB_ROOT_IS_ARRAY(jb) && !JB_ROOT_IS_SCALAR(jb)))
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "function call must be a JSON object or array of objects");

	/* Rebuild it as OpenAI tool_calls, arguments as a JSON string. */
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	it = JsonbIteratorInit(&jb->root);
	tok = JsonbIteratorNext(&it, &item, true);
	if (single)
	{
		/* re-read the root object as one element */
		item.type = jbvBinary;
		item.val.binary.data = &jb->root;
		item.val.binary.len = VARSIZE(jb) - VARHDRSZ;
		tok = WJB_ELEM;
	}
	else
		tok = JsonbIteratorNext(&it, &item, true);
	while (tok == WJB_ELEM)
	{
		JsonbContainer *call;
		JsonbValue *name;
		JsonbValue *args;
		JsonbValue	k,
					v,
					argstr;

		if (item.type != jbvBinary || !JsonContainerIsObject(item.val.binary.data))
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "function call %d must be an object", n);
		call = item.val.binary.data;
		name = get_key(call, "name");
		args = get_key(call, "arguments");
		if (name == NULL || name->type != jbvString)
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "function call %d has no string \"name\"", n);
		if (args == NULL)
		{
			argstr.type = jbvString;
			argstr.val.string.val = "{}";
			argstr.val.string.len = 2;
		}
		else if (args->type == jbvString)
			argstr = *args;
		else
		{
			FtStr		t = canonical_text(args);

			argstr.type = jbvString;
			argstr.val.string.val = (char *) t.p;
			argstr.val.string.len = t.len;
		}
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		k.type = jbvString;
		k.val.string.val = "type";
		k.val.string.len = 4;
		pushJsonbValue(&st, WJB_KEY, &k);
		v.type = jbvString;
		v.val.string.val = "function";
		v.val.string.len = 8;
		pushJsonbValue(&st, WJB_VALUE, &v);
		k.val.string.val = "function";
		k.val.string.len = 8;
		pushJsonbValue(&st, WJB_KEY, &k);
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		k.val.string.val = "name";
		k.val.string.len = 4;
		pushJsonbValue(&st, WJB_KEY, &k);
		pushJsonbValue(&st, WJB_VALUE, name);
		k.val.string.val = "arguments";
		k.val.string.len = 9;
		pushJsonbValue(&st, WJB_KEY, &k);
		pushJsonbValue(&st, WJB_VALUE, &argstr);
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		n++;
		if (single)
			break;
		tok = JsonbIteratorNext(&it, &item, true);
	}
	calls = pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	m->tool_calls = canonical_text(calls);
	m->flags |= FT_MSG_HAS_TOOL_CALLS | FT_MSG_CONTENT_NULL;
}

/* One ShareGPT turn {from, value}. */
static void
parse_sharegpt_turn(FtParse *ps, JsonbValue *turn, bool assistant_only)
{
	static const char *const known[] = {"from", "value", NULL};
	JsonbContainer *obj = expect_container(ps, turn, false);
	JsonbValue *from = get_key(obj, "from");
	JsonbValue *value = get_key(obj, "value");
	FtMessage  *m;
	int			saved;
	int			role;
	bool		is_call = false;
	KeyIter		ki;
	JsonbParseState *extra = NULL;
	bool		have_extra = false;

	if (from == NULL)
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION, "turn has no \"from\"");
	saved = path_key(ps, "from");
	expect_string(ps, from);
#define FROM_IS(s) (from->val.string.len == strlen(s) && \
					memcmp(from->val.string.val, s, strlen(s)) == 0)
	if (FROM_IS("human") || FROM_IS("user"))
		role = FT_ROLE_USER;
	else if (FROM_IS("gpt") || FROM_IS("assistant"))
		role = FT_ROLE_ASSISTANT;
	else if (FROM_IS("system"))
		role = FT_ROLE_SYSTEM;
	else if (FROM_IS("function_call"))
	{
		role = FT_ROLE_ASSISTANT;
		is_call = true;
	}
	else if (FROM_IS("observation") || FROM_IS("tool"))
		role = FT_ROLE_TOOL;
	else
		fail(ps, ERRCODE_INVALID_PARAMETER_VALUE,
			 "unrecognized ShareGPT role \"%.*s\"",
			 Min(from->val.string.len, 64), from->val.string.val);
#undef FROM_IS
	if (assistant_only && role != FT_ROLE_ASSISTANT)
		fail(ps, ERRCODE_INVALID_PARAMETER_VALUE,
			 "a completion must come from gpt or function_call");
	path_pop(ps, saved);

	if (value == NULL)
		fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION, "turn has no \"value\"");
	saved = path_key(ps, "value");
	m = new_message(ps, role);
	if (is_call)
		sharegpt_function_call(ps, m, value);
	else
	{
		expect_string(ps, value);
		m->content = string_of(value);
	}
	path_pop(ps, saved);

	key_iter_init(&ki, obj);
	while (key_iter_next(&ki))
	{
		/* the canonical message spells these itself; kept, they would clash */
		static const char *const openai_keys[] = {
			"role", "content", "name", "tool_calls", "tool_call_id", "weight",
			"loss_weight", NULL
		};

		if (key_in(ki.key, known))
			continue;
		if (key_in(ki.key, openai_keys))
		{
			saved = path_key(ps, ki.key);
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "a ShareGPT turn cannot have the key \"%s\", which a canonical message uses",
				 ki.key);
		}
		extra_add(&extra, &have_extra, ki.key, &ki.value);
	}
	m->extra = extra_finish(&extra, have_extra);
	if (have_extra)
		m->flags |= FT_MSG_HAS_EXTRA;
}

static void
parse_sharegpt(FtParse *ps, JsonbContainer *root)
{
	static const char *const keys[] = {
		"conversations", "system", "chosen", "rejected", NULL
	};
	FtSample   *s = ps->sample;
	JsonbValue *conv = get_key(root, "conversations");
	JsonbValue *system = get_key(root, "system");
	JsonbValue *chosen = get_key(root, "chosen");
	JsonbValue *rejected = get_key(root, "rejected");
	JsonbContainer *arr;
	int			saved;

	s->format = FT_FORMAT_SHAREGPT;
	s->kind = FT_KIND_SFT;

	if (system != NULL && system->type != jbvNull)
	{
		saved = path_key(ps, "system");
		expect_string(ps, system);
		new_text_message(ps, FT_ROLE_SYSTEM, system->val.string.val,
						 system->val.string.len);
		s->hints |= FT_HINT_SYSTEM_FIELD;
		path_pop(ps, saved);
	}

	saved = path_key(ps, "conversations");
	arr = expect_container(ps, conv, true);
	for (int i = 0; i < JsonContainerSize(arr); i++)
	{
		int			s2 = path_index(ps, i);

		parse_sharegpt_turn(ps, getIthJsonbValueFromContainer(arr, i), false);
		path_pop(ps, s2);
	}
	path_pop(ps, saved);
	s->nprompt = ps->nmessages;

	if (chosen != NULL || rejected != NULL)
	{
		if (chosen == NULL || rejected == NULL)
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "preference sample needs both \"chosen\" and \"rejected\"");
		s->kind = FT_KIND_PREFERENCE;
		saved = path_key(ps, "chosen");
		parse_sharegpt_turn(ps, chosen, true);
		path_pop(ps, saved);
		saved = path_key(ps, "rejected");
		parse_sharegpt_turn(ps, rejected, true);
		path_pop(ps, saved);
		s->nchosen = 1;
		s->nrejected = 1;
	}
	parse_top_keys(ps, root, keys);
}

/*
 * Path of Alpaca's input or output, which self-instruct's spelling holds
 * in instances[0].
 */
static int
alpaca_path(FtParse *ps, int hints, const char *key)
{
	int			saved = ps->path.len;

	if ((hints & FT_HINT_INSTANCES) && strcmp(key, "response") != 0)
	{
		(void) path_key(ps, "instances");
		(void) path_index(ps, 0);
	}
	(void) path_key(ps, key);
	return saved;
}

static void
parse_alpaca(FtParse *ps, JsonbContainer *root)
{
	const char *format_keys[] = {
		"instruction", "input", "output", "system", "history", "chosen",
		"rejected", NULL, NULL, NULL
	};
	int			nkeys = 7;		/* format_keys in use */
	FtSample   *s = ps->sample;
	JsonbValue *instruction = get_key(root, "instruction");
	JsonbValue *input = get_key(root, "input");
	JsonbValue *output = get_key(root, "output");
	JsonbValue *instances = get_key(root, "instances");
	JsonbValue *system = get_key(root, "system");
	JsonbValue *history = get_key(root, "history");
	JsonbValue *chosen = get_key(root, "chosen");
	JsonbValue *rejected = get_key(root, "rejected");
	StringInfoData prompt;
	int			saved;

	s->format = FT_FORMAT_ALPACA;
	s->kind = FT_KIND_SFT;

	/*
	 * Two spellings of the same thing: self-instruct's seed tasks hold input
	 * and output in a one-element "instances" list, and some instruction
	 * files call the output "response".
	 */
	if (input == NULL && output == NULL && instances != NULL &&
		instances->type == jbvBinary &&
		JsonContainerIsArray(instances->val.binary.data) &&
		JsonContainerSize(instances->val.binary.data) == 1)
	{
		JsonbValue *inst = getIthJsonbValueFromContainer(instances->val.binary.data, 0);

		if (inst->type == jbvBinary && JsonContainerIsObject(inst->val.binary.data) &&
			JsonContainerSize(inst->val.binary.data) == 2)
		{
			input = get_key(inst->val.binary.data, "input");
			output = get_key(inst->val.binary.data, "output");
			if (input != NULL && output != NULL)
			{
				s->hints |= FT_HINT_INSTANCES;
				format_keys[nkeys++] = "instances";
			}
			else
				input = output = NULL;
		}
	}
	if (output == NULL && (output = get_key(root, "response")) != NULL)
	{
		s->hints |= FT_HINT_RESPONSE_KEY;
		format_keys[nkeys++] = "response";
	}

	if (system != NULL && system->type != jbvNull)
	{
		saved = path_key(ps, "system");
		expect_string(ps, system);
		new_text_message(ps, FT_ROLE_SYSTEM, system->val.string.val,
						 system->val.string.len);
		s->hints |= FT_HINT_SYSTEM_FIELD;
		path_pop(ps, saved);
	}

	if (history != NULL && history->type != jbvNull)
	{
		JsonbContainer *arr;

		saved = path_key(ps, "history");
		arr = expect_container(ps, history, true);
		for (int i = 0; i < JsonContainerSize(arr); i++)
		{
			int			s2 = path_index(ps, i);
			JsonbContainer *pair = expect_container(ps,
													getIthJsonbValueFromContainer(arr, i),
													true);

			if (JsonContainerSize(pair) != 2)
				fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
					 "history entry must be a [query, answer] pair");
			for (int j = 0; j < 2; j++)
			{
				int			s3 = path_index(ps, j);
				JsonbValue *t = getIthJsonbValueFromContainer(pair, j);

				expect_string(ps, t);
				new_text_message(ps, j == 0 ? FT_ROLE_USER : FT_ROLE_ASSISTANT,
								 t->val.string.val, t->val.string.len);
				path_pop(ps, s3);
			}
			path_pop(ps, s2);
		}
		path_pop(ps, saved);
	}

	/* The prompt is the instruction, then a newline and the input. */
	saved = path_key(ps, "instruction");
	expect_string(ps, instruction);
	path_pop(ps, saved);
	initStringInfo(&prompt);
	appendBinaryStringInfo(&prompt, instruction->val.string.val,
						   instruction->val.string.len);
	if (input != NULL && input->type != jbvNull)
	{
		saved = alpaca_path(ps, s->hints, "input");
		expect_string(ps, input);
		path_pop(ps, saved);
		if (input->val.string.len > 0)
		{
			appendStringInfoChar(&prompt, '\n');
			s->input_offset = prompt.len + 1;
			appendBinaryStringInfo(&prompt, input->val.string.val,
								   input->val.string.len);
		}
	}
	new_text_message(ps, FT_ROLE_USER, prompt.data, prompt.len);

	if (output != NULL && output->type != jbvNull)
	{
		saved = alpaca_path(ps, s->hints,
							(s->hints & FT_HINT_RESPONSE_KEY) ? "response" : "output");
		expect_string(ps, output);
		new_text_message(ps, FT_ROLE_ASSISTANT, output->val.string.val,
						 output->val.string.len);
		path_pop(ps, saved);
	}
	s->nprompt = ps->nmessages;

	if (chosen != NULL || rejected != NULL)
	{
		if (chosen == NULL || rejected == NULL)
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "preference sample needs both \"chosen\" and \"rejected\"");
		if (output != NULL && output->type != jbvNull)
			fail(ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "preference sample must not also have \"output\"");
		s->kind = FT_KIND_PREFERENCE;
		saved = path_key(ps, "chosen");
		expect_string(ps, chosen);
		new_text_message(ps, FT_ROLE_ASSISTANT, chosen->val.string.val,
						 chosen->val.string.len);
		path_pop(ps, saved);
		saved = path_key(ps, "rejected");
		expect_string(ps, rejected);
		new_text_message(ps, FT_ROLE_ASSISTANT, rejected->val.string.val,
						 rejected->val.string.len);
		path_pop(ps, saved);
		s->nchosen = 1;
		s->nrejected = 1;
	}
	parse_top_keys(ps, root, format_keys);
}

static void
parse_text(FtParse *ps, JsonbContainer *root)
{
	static const char *const keys[] = {"text", NULL};
	FtSample   *s = ps->sample;
	JsonbValue *text = get_key(root, "text");
	int			saved = path_key(ps, "text");

	s->format = FT_FORMAT_TEXT;
	s->kind = FT_KIND_TEXT;
	expect_string(ps, text);
	new_text_message(ps, FT_ROLE_TEXT, text->val.string.val,
					 text->val.string.len);
	path_pop(ps, saved);
	s->nprompt = 1;
	parse_top_keys(ps, root, keys);
}

/*
 * The "ftstore" key of canonical output says what its shape cannot; it
 * must not contradict what the shape does say, or two unequal values would
 * render alike.  The hints that native keys set are consistent by
 * construction, so these checks only ever refuse a hand-written key.
 */
/* A fault in a hint of the "ftstore" key, reported at its path. */
#define fail_hint(ps, key, ...) \
	do { \
		(void) path_key((ps), FT_META_KEY); \
		(void) path_key((ps), (key)); \
		fail((ps), __VA_ARGS__); \
	} while (0)

static void
check_hints(FtParse *ps)
{
	FtSample   *s = ps->sample;

	if (ps->meta_format != 0)
	{
		int			saved = path_key(ps, FT_META_KEY);
		int			s2 = path_key(ps, "format");

		/* only the canonical shape needs to be told its format */
		if (s->format != (s->kind == FT_KIND_TEXT ? FT_FORMAT_TEXT : FT_FORMAT_OPENAI))
			fail(ps, ERRCODE_INVALID_PARAMETER_VALUE,
				 "a sample in %s keys cannot be said to be in %s format",
				 ft_format_name(s->format), ft_format_name(ps->meta_format));
		if ((ps->meta_format == FT_FORMAT_TEXT) != (s->kind == FT_KIND_TEXT))
			fail(ps, ERRCODE_INVALID_PARAMETER_VALUE,
				 "only a raw text document is in text format");
		s->format = ps->meta_format;
		path_pop(ps, s2);
		path_pop(ps, saved);
	}

	if ((s->hints & FT_HINT_TOOLS_AS_STRING) && !(s->flags & FT_SAMPLE_HAS_TOOLS))
		fail_hint(ps, "tools_as_string", ERRCODE_INVALID_PARAMETER_VALUE,
			 "tools_as_string is set on a sample without tools");
	if ((s->hints & FT_HINT_KTO_TAG) && !(s->flags & FT_SAMPLE_HAS_LABEL))
		fail_hint(ps, "kto_tag", ERRCODE_INVALID_PARAMETER_VALUE,
			 "kto_tag is set on a sample without a label");
	if ((s->hints & FT_HINT_SYSTEM_FIELD) &&
		(ps->nmessages == 0 || ps->messages[0].role != FT_ROLE_SYSTEM))
		fail_hint(ps, "system_field", ERRCODE_INVALID_PARAMETER_VALUE,
			 "system_field is set on a sample without a leading system message");
	if ((s->hints & (FT_HINT_INSTANCES | FT_HINT_RESPONSE_KEY)) &&
		s->format != FT_FORMAT_ALPACA)
		fail_hint(ps, (s->hints & FT_HINT_INSTANCES) ? "instances" : "response_key",
			 ERRCODE_INVALID_PARAMETER_VALUE,
			 "instances and response_key are Alpaca spellings, and the sample is in %s format",
			 ft_format_name(s->format));
	if (s->input_offset > 0)
	{
		/* input_offset: where the input starts in the last user turn */
		FtMessage  *last = NULL;
		int			pos = s->input_offset - 1;

		for (int i = Min(ps->nmessages, s->nprompt) - 1; i >= 0; i--)
			if (ps->messages[i].role == FT_ROLE_USER)
			{
				last = &ps->messages[i];
				break;
			}
		if (s->format != FT_FORMAT_ALPACA)
			fail_hint(ps, "input_offset", ERRCODE_INVALID_PARAMETER_VALUE,
				 "input_offset is an Alpaca hint, and the sample is in %s format",
				 ft_format_name(s->format));
		if (last == NULL || (last->flags & (FT_MSG_CONTENT_NULL | FT_MSG_CONTENT_PARTS)) ||
			pos < 1 || pos > last->content.len ||
			last->content.p[pos - 1] != '\n')
			fail_hint(ps, "input_offset", ERRCODE_INVALID_PARAMETER_VALUE,
				 "input_offset does not follow a line break in the last user turn");
	}
}

/* Which format an object is in, by the keys it has. */
static FtFormat
detect_format(JsonbContainer *root, bool *preference)
{
	*preference = false;
	if (get_key(root, "messages"))
		return FT_FORMAT_OPENAI;
	if (get_key(root, "input") &&
		(get_key(root, "preferred_output") || get_key(root, "non_preferred_output")))
	{
		*preference = true;
		return FT_FORMAT_OPENAI;
	}
	if (get_key(root, "conversations"))
		return FT_FORMAT_SHAREGPT;
	if (get_key(root, "instruction"))
		return FT_FORMAT_ALPACA;
	if (get_key(root, "text"))
		return FT_FORMAT_TEXT;
	return FT_FORMAT_AUTO;
}

/*
 * Read a sample from jsonb.  hint names the format the caller expects;
 * FT_FORMAT_AUTO detects it.  The result points into the jsonb, which must
 * outlive it.
 */
FtSample *
ft_parse_jsonb(Jsonb *jb, FtFormat hint)
{
	FtParse		ps;
	FtSample   *s = palloc0(sizeof(FtSample));
	JsonbContainer *root = &jb->root;
	FtFormat	format;
	bool		preference;

	memset(&ps, 0, sizeof(ps));
	ps.sample = s;
	initStringInfo(&ps.path);

	if (!JB_ROOT_IS_OBJECT(jb))
		fail(&ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "a sample must be a JSON object");

	format = detect_format(root, &preference);
	if (format == FT_FORMAT_AUTO)
		fail(&ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "unrecognized sample format: no \"messages\", \"conversations\", \"instruction\", \"text\", or \"input\" with \"preferred_output\"");
	if (hint != FT_FORMAT_AUTO && hint != format)
		fail(&ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "sample is in %s format, not %s",
			 ft_format_name(format), ft_format_name(hint));

	switch (format)
	{
		case FT_FORMAT_OPENAI:
			if (preference)
				parse_openai_preference(&ps, root);
			else
				parse_openai(&ps, root);
			break;
		case FT_FORMAT_SHAREGPT:
			parse_sharegpt(&ps, root);
			break;
		case FT_FORMAT_ALPACA:
			parse_alpaca(&ps, root);
			break;
		case FT_FORMAT_TEXT:
			parse_text(&ps, root);
			break;
		default:
			elog(ERROR, "unexpected format %d", format);
	}

	if (s->kind == FT_KIND_KTO && s->nchosen + s->nrejected > 0)
		fail(&ps, ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "a sample cannot be both a preference pair and KTO");
	check_hints(&ps);

	s->messages = ps.messages;
	s->extra = extra_finish(&ps.extra, ps.have_extra);
	if (ps.have_extra)
		s->flags |= FT_SAMPLE_HAS_EXTRA;
	if (s->hints || s->input_offset > 0)
		s->flags |= FT_SAMPLE_HAS_HINTS;
	return s;
}
