/*-------------------------------------------------------------------------
 *
 * jsontext.c
 *	  JSON text straight to jsonb for sample input, without the general
 *	  JSON lexer's copy of every string byte by byte.
 *
 * Sample input (ftsample_in, COPY, import) parsed each text with jsonb_in
 * after a pre-scan for the size, nesting and NUL limits; the lexer behind
 * jsonb_in appends each character of each string to a buffer one call at a
 * time, which made it the largest single cost of a load.  This parser
 * reads the common case, a well-formed JSON object of modest depth in a
 * UTF-8 database, in one pass: unescaped strings (nearly all of them) are
 * pointed at where they lie in the input, and the value is built with the
 * same pushJsonbValue() calls jsonb_in makes, so the jsonb is the same.
 *
 * It never raises an error of its own.  On anything outside that common
 * case (a syntax error, a NUL byte, an escape it does not decode, a number
 * it does not vouch for, nesting beyond its limit, a top level that is not
 * an object, another database encoding) it gives up and returns NULL, and
 * the caller takes the general path, whose errors are therefore exactly
 * those of before: the same codes, messages and positions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "sample/ftsample.h"
#include "util/hex.h"

/*
 * Deeper nesting is left to the general path, which enforces
 * ftstore.max_depth and guards its recursion; samples nest a few levels.
 */
#define FAST_MAX_DEPTH 64

/*
 * Longer texts are left to the general path too: below this no string,
 * element count or total size can reach one of jsonb's own limits, whose
 * errors must keep their place after ft_check_json_limits()'s.
 */
#define FAST_MAX_BYTES (16 * 1024 * 1024)

/*
 * A number is converted with numeric_in, as jsonb_in does, only when it
 * cannot fail there: at most this many characters and an exponent of at
 * most three digits.
 */
#define FAST_MAX_NUMBER 64

/* Bytes that end the plain run of a string: quote, backslash, controls. */
static bool string_stop[256];
static bool string_stop_ready = false;

static void
fill_string_stop(void)
{
	for (int c = 0; c < 0x20; c++)
		string_stop[c] = true;
	string_stop['"'] = true;
	string_stop['\\'] = true;
	string_stop_ready = true;
}

static inline const char *
skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* Four hex digits at p (end bounds it) as a number, or -1. */
static int
hex4(const char *p, const char *end)
{
	int			v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++)
	{
		int			h = ft_hex_value(p[i]);

		if (h < 0)
			return -1;
		v = (v << 4) | h;
	}
	return v;
}

/*
 * Decode the escapes of a string whose first escape is at p, the string
 * having started at start; the decoded string goes in *v.  Returns where
 * the string's closing quote ends, or NULL to give up: an escape that
 * jsonb_in refuses (or, for \u0000 and unpaired surrogates, refuses to
 * store) is left to it, so that it reports it.
 */
static const char *
decode_string(const char *start, const char *p, const char *end,
			  JsonbValue *v)
{
	const char *close = p;
	char	   *buf;
	char	   *out;

	/*
	 * Find the closing quote first, so that the buffer is as long as the
	 * raw string (never shorter than the decoded one), not as the rest of
	 * the text: a text of many escaped strings must not cost the square of
	 * its length.  A quote closes the string when an even number of
	 * backslashes precede it.  memchr() finds the candidates many bytes at
	 * a time, where stepping over the escapes one by one took most of
	 * this function's time on text full of \n.  No backslash precedes p in
	 * the string, so the count never needs to go back past start.
	 */
	for (;;)
	{
		const char *b;

		close = memchr(close, '"', end - close);
		if (close == NULL)
			return NULL;
		for (b = close; b > start && b[-1] == '\\'; b--)
			;
		if (((close - b) & 1) == 0)
			break;
		close++;
	}
	buf = palloc(close - start + 1);
	out = buf;
	memcpy(out, start, p - start);
	out += p - start;
	while (p < end)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '"')
		{
			v->type = jbvString;
			v->val.string.val = buf;
			v->val.string.len = out - buf;
			return p + 1;
		}
		if (c < 0x20)
			return NULL;
		if (c != '\\')
		{
			/* copy the plain run up to the next escape or quote at once */
			const char *run = p;

			while (run < end && !string_stop[(unsigned char) *run])
				run++;
			memcpy(out, p, run - p);
			out += run - p;
			p = run;
			continue;
		}
		if (++p >= end)
			return NULL;
		switch (*p++)
		{
			case '"':
				*out++ = '"';
				break;
			case '\\':
				*out++ = '\\';
				break;
			case '/':
				*out++ = '/';
				break;
			case 'b':
				*out++ = '\b';
				break;
			case 'f':
				*out++ = '\f';
				break;
			case 'n':
				*out++ = '\n';
				break;
			case 'r':
				*out++ = '\r';
				break;
			case 't':
				*out++ = '\t';
				break;
			case 'u':
				{
					int			cp = hex4(p, end);

					if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
						return NULL;
					p += 4;
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						int			lo;

						if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
							return NULL;
						lo = hex4(p + 2, end);
						if (lo < 0xDC00 || lo > 0xDFFF)
							return NULL;
						p += 6;
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					/* \uXXXX is six bytes, its UTF-8 three at most */
					out = (char *) unicode_to_utf8((pg_wchar) cp,
												   (unsigned char *) out);
					out += pg_utf_mblen((unsigned char *) out);
					break;
				}
			default:
				return NULL;
		}
	}
	return NULL;
}

/*
 * A string whose opening quote is at p: into *v, pointing into the input
 * when it holds no escape.  Returns where it ends, or NULL to give up.
 */
static inline const char *
parse_string(const char *p, const char *end, JsonbValue *v)
{
	const char *start = ++p;

	while (p < end && !string_stop[(unsigned char) *p])
		p++;
	if (p >= end)
		return NULL;
	if (*p == '"')
	{
		v->type = jbvString;
		v->val.string.val = (char *) start;
		v->val.string.len = p - start;
		return p + 1;
	}
	if (*p != '\\')
		return NULL;			/* a control character, NUL included */
	return decode_string(start, p, end, v);
}

static inline bool
is_digit(const char *p, const char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

/*
 * A number at p, in JSON's grammar, into *v.  Returns where it ends, or
 * NULL to give up (whatever follows it is checked by the caller).
 */
static const char *
parse_number(const char *p, const char *end, JsonbValue *v)
{
	const char *start = p;
	char		token[FAST_MAX_NUMBER + 1];

	if (p < end && *p == '-')
		p++;
	if (!is_digit(p, end))
		return NULL;
	if (*p++ != '0')
	{
		while (is_digit(p, end))
			p++;
	}
	if (p < end && *p == '.')
	{
		p++;
		if (!is_digit(p, end))
			return NULL;
		while (is_digit(p, end))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		const char *digits;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		digits = p;
		while (is_digit(p, end))
			p++;
		if (p == digits || p - digits > 3)
			return NULL;
	}
	if (p - start > FAST_MAX_NUMBER)
		return NULL;
	memcpy(token, start, p - start);
	token[p - start] = '\0';
	v->type = jbvNumeric;
	v->val.numeric =
		DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(token),
											ObjectIdGetDatum(InvalidOid),
											Int32GetDatum(-1)));
	return p;
}

/* A scalar value at p into *v; returns where it ends, or NULL. */
static const char *
parse_scalar(const char *p, const char *end, JsonbValue *v)
{
	switch (*p)
	{
		case '"':
			return parse_string(p, end, v);
		case 't':
			if (end - p < 4 || memcmp(p, "true", 4) != 0)
				return NULL;
			v->type = jbvBool;
			v->val.boolean = true;
			return p + 4;
		case 'f':
			if (end - p < 5 || memcmp(p, "false", 5) != 0)
				return NULL;
			v->type = jbvBool;
			v->val.boolean = false;
			return p + 5;
		case 'n':
			if (end - p < 4 || memcmp(p, "null", 4) != 0)
				return NULL;
			v->type = jbvNull;
			return p + 4;
		default:
			return parse_number(p, end, v);
	}
}

/*
 * An object key at p (after any white space), then its colon: pushed as
 * WJB_KEY.  Returns where the value may start, or NULL.
 */
static const char *
parse_key(const char *p, const char *end, JsonbParseState **state)
{
	JsonbValue	key;

	if (p >= end || *p != '"')
		return NULL;
	p = parse_string(p, end, &key);
	if (p == NULL)
		return NULL;
	p = skip_space(p, end);
	if (p >= end || *p != ':')
		return NULL;
	pushJsonbValue(state, WJB_KEY, &key);
	return p + 1;
}

/*
 * The jsonb of len bytes of JSON text at json, exactly as jsonb_in gives
 * it, or NULL when the text is outside what this parser reads (see the
 * file header); then the caller must take the general path.  The result
 * may point into the text, which must outlive it.
 */
Jsonb *
ft_jsonb_from_text(const char *json, size_t len)
{
	const char *p = json;
	const char *end = json + len;
	JsonbParseState *state = NULL;
	JsonbValue *res = NULL;
	char		open[FAST_MAX_DEPTH];
	int			depth = 0;
	int			max_depth = Min(ft_max_depth, FAST_MAX_DEPTH);

	if (len > FAST_MAX_BYTES || len > (size_t) ft_max_sample_bytes ||
		GetDatabaseEncoding() != PG_UTF8)
		return NULL;
	if (unlikely(!string_stop_ready))
		fill_string_stop();

	p = skip_space(p, end);
	if (p >= end || *p != '{')
		return NULL;

	for (;;)
	{
		/* p is at a value, or white space before it */
		p = skip_space(p, end);
		if (p >= end)
			return NULL;
		if (*p == '{' || *p == '[')
		{
			bool		object = (*p == '{');

			if (depth >= max_depth)
				return NULL;
			open[depth++] = *p++;
			res = pushJsonbValue(&state,
								 object ? WJB_BEGIN_OBJECT : WJB_BEGIN_ARRAY,
								 NULL);
			p = skip_space(p, end);
			if (p >= end)
				return NULL;
			if (*p != (object ? '}' : ']'))
			{
				if (object && (p = parse_key(p, end, &state)) == NULL)
					return NULL;
				continue;		/* to the first value */
			}
			/* an empty container: closed below */
		}
		else
		{
			JsonbValue	v;

			p = parse_scalar(p, end, &v);
			if (p == NULL)
				return NULL;
			res = pushJsonbValue(&state,
								 open[depth - 1] == '{' ? WJB_VALUE : WJB_ELEM,
								 &v);
		}

		/* after a value: a comma, or the close of one or more containers */
		for (;;)
		{
			char		close;

			p = skip_space(p, end);
			if (depth == 0)
				return p == end ? JsonbValueToJsonb(res) : NULL;
			if (p >= end)
				return NULL;
			close = open[depth - 1] == '{' ? '}' : ']';
			if (*p == close)
			{
				p++;
				depth--;
				res = pushJsonbValue(&state, close == '}' ?
									 WJB_END_OBJECT : WJB_END_ARRAY, NULL);
				continue;
			}
			if (*p != ',')
				return NULL;
			p++;
			if (open[depth - 1] == '{')
			{
				p = parse_key(skip_space(p, end), end, &state);
				if (p == NULL)
					return NULL;
			}
			break;
		}
	}
}
