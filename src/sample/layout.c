/*-------------------------------------------------------------------------
 *
 * layout.c
 *	  The stored form of ftsample: compact, versioned, and checked on every
 *	  read.
 *
 * After the varlena header:
 *
 *	  uint8 version (FT_LAYOUT_VERSION), uint8 format, uint8 kind,
 *	  uint8 flags (FT_SAMPLE_*), [uint8 hints if FT_SAMPLE_HAS_HINTS],
 *	  varint nprompt, varint nchosen, varint nrejected,
 *	  each message:
 *		uint8 role, uint8 flags (FT_MSG_*),
 *		content: parts (varint n, each uint8 kind 0 = typed text with str
 *		type and str text, 1 = str json) if FT_MSG_CONTENT_PARTS, else str
 *		unless FT_MSG_CONTENT_NULL,
 *		[str name] [str tool_call_id] [str tool_calls] [str extra],
 *	  [str tools], [for each media kind: varint n, n strs], [str extra],
 *	  [varint input_offset if FT_SAMPLE_HAS_HINTS]
 *
 * where str is a varint byte length then the bytes, and varint an unsigned
 * LEB128 number.  Keys are never stored, roles are one byte, and there is
 * no per-field overhead beyond the length; that is what makes the form
 * smaller than jsonb.  Text is stored as it came, so TOAST compresses it
 * as usual (the type keeps the default extended storage).
 *
 * A reader that meets a newer version refuses the value instead of
 * guessing.  Every length is checked against the end of the value, so a
 * corrupted value gives an error, never a read past its end.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "sample/ftsample.h"

/* Sane upper bound on counts, far above anything max_sample_bytes allows. */
#define FT_MAX_COUNT (1 << 26)

static void
put_varint(StringInfo buf, uint32 v)
{
	while (v >= 0x80)
	{
		appendStringInfoChar(buf, (char) ((v & 0x7F) | 0x80));
		v >>= 7;
	}
	appendStringInfoChar(buf, (char) v);
}

static void
put_str(StringInfo buf, FtStr s)
{
	put_varint(buf, (uint32) s.len);
	appendBinaryStringInfo(buf, s.p, s.len);
}

/*
 * Encode a sample.  The result is a palloc'd varlena ready to be returned
 * as a datum.
 */
struct varlena *
ft_encode(const FtSample *s)
{
	StringInfoData buf;
	int			n = FtSampleMessageCount(s);

	initStringInfo(&buf);
	/* room for the varlena header, filled in at the end */
	appendBinaryStringInfo(&buf, "\0\0\0\0", VARHDRSZ);
	appendStringInfoChar(&buf, (char) FT_LAYOUT_VERSION);
	appendStringInfoChar(&buf, (char) s->format);
	appendStringInfoChar(&buf, (char) s->kind);
	appendStringInfoChar(&buf, (char) s->flags);
	if (s->flags & FT_SAMPLE_HAS_HINTS)
		appendStringInfoChar(&buf, (char) s->hints);
	put_varint(&buf, s->nprompt);
	put_varint(&buf, s->nchosen);
	put_varint(&buf, s->nrejected);

	for (int i = 0; i < n; i++)
	{
		const FtMessage *m = &s->messages[i];

		appendStringInfoChar(&buf, (char) m->role);
		appendStringInfoChar(&buf, (char) m->flags);
		if (m->flags & FT_MSG_CONTENT_PARTS)
		{
			put_varint(&buf, m->nparts);
			for (int j = 0; j < m->nparts; j++)
			{
				const FtPart *p = &m->parts[j];

				if (FtStrIsSet(p->json))
				{
					appendStringInfoChar(&buf, 1);
					put_str(&buf, p->json);
				}
				else
				{
					appendStringInfoChar(&buf, 0);
					put_str(&buf, p->type);
					put_str(&buf, p->text);
				}
			}
		}
		else if (!(m->flags & FT_MSG_CONTENT_NULL))
			put_str(&buf, m->content);
		if (m->flags & FT_MSG_HAS_NAME)
			put_str(&buf, m->name);
		if (m->flags & FT_MSG_HAS_TOOL_CALL_ID)
			put_str(&buf, m->tool_call_id);
		if (m->flags & FT_MSG_HAS_TOOL_CALLS)
			put_str(&buf, m->tool_calls);
		if (m->flags & FT_MSG_HAS_EXTRA)
			put_str(&buf, m->extra);
	}

	if (s->flags & FT_SAMPLE_HAS_TOOLS)
		put_str(&buf, s->tools);
	if (s->flags & FT_SAMPLE_HAS_MEDIA)
	{
		for (int k = 0; k < FT_NUM_MEDIA; k++)
		{
			put_varint(&buf, s->nmedia[k]);
			for (int j = 0; j < s->nmedia[k]; j++)
				put_str(&buf, s->media[k][j]);
		}
	}
	if (s->flags & FT_SAMPLE_HAS_EXTRA)
		put_str(&buf, s->extra);
	if (s->flags & FT_SAMPLE_HAS_HINTS)
		put_varint(&buf, (uint32) s->input_offset);

	if (buf.len > MaxAllocSize - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sample is too large to store")));
	SET_VARSIZE(buf.data, buf.len);
	return (struct varlena *) buf.data;
}

/* Decoding */

typedef struct Reader
{
	const char *p;
	const char *end;
} Reader;

static void
pg_attribute_noreturn()
corrupt(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupt ftsample value"),
			 errdetail("The stored value is damaged near its %s.", what)));
	pg_unreachable();
}

static uint8
get_byte(Reader *r, const char *what)
{
	if (r->p >= r->end)
		corrupt(what);
	return (uint8) *r->p++;
}

static uint32
get_varint(Reader *r, const char *what)
{
	uint32		v = 0;

	for (int shift = 0; shift < 35; shift += 7)
	{
		uint8		b = get_byte(r, what);

		v |= (uint32) (b & 0x7F) << shift;
		if (!(b & 0x80))
			return v;
	}
	corrupt(what);
}

static FtStr
get_str(Reader *r, const char *what)
{
	FtStr		s;
	uint32		len = get_varint(r, what);

	if (len > (uint32) (r->end - r->p))
		corrupt(what);
	s.p = r->p;
	s.len = (int32) len;
	r->p += len;
	return s;
}

static int
get_count(Reader *r, const char *what)
{
	uint32		n = get_varint(r, what);

	/* every counted item takes at least one byte */
	if (n > FT_MAX_COUNT || n > (uint32) (r->end - r->p))
		corrupt(what);
	return (int) n;
}

/*
 * Decode a detoasted stored value.  Strings in the result point into it.
 */
FtSample *
ft_decode(const struct varlena *stored)
{
	FtSample   *s = palloc0(sizeof(FtSample));
	Reader		r;
	uint8		version;
	int			n;

	r.p = VARDATA_ANY(stored);
	r.end = r.p + VARSIZE_ANY_EXHDR(stored);

	version = get_byte(&r, "header");
	if (version != FT_LAYOUT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unsupported ftsample layout version %d", version),
				 errhint("The value was written by a newer release of ftstore.")));
	s->format = get_byte(&r, "header");
	s->kind = get_byte(&r, "header");
	s->flags = get_byte(&r, "header");
	if (s->format < FT_FORMAT_OPENAI || s->format > FT_FORMAT_MAX ||
		s->kind < 1 || s->kind > FT_KIND_MAX)
		corrupt("header");
	if (s->flags & FT_SAMPLE_HAS_HINTS)
		s->hints = get_byte(&r, "header");
	s->nprompt = get_count(&r, "message counts");
	s->nchosen = get_count(&r, "message counts");
	s->nrejected = get_count(&r, "message counts");
	n = s->nprompt + s->nchosen + s->nrejected;
	if (n > FT_MAX_COUNT || n > (r.end - r.p))
		corrupt("message counts");

	s->messages = palloc0(sizeof(FtMessage) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		FtMessage  *m = &s->messages[i];

		m->role = get_byte(&r, "messages");
		if (m->role < 1 || m->role > FT_ROLE_MAX)
			corrupt("messages");
		m->flags = get_byte(&r, "messages");
		if (m->flags & FT_MSG_CONTENT_PARTS)
		{
			m->nparts = get_count(&r, "content parts");
			m->parts = palloc0(sizeof(FtPart) * Max(m->nparts, 1));
			for (int j = 0; j < m->nparts; j++)
			{
				uint8		kind = get_byte(&r, "content parts");

				if (kind == 1)
					m->parts[j].json = get_str(&r, "content parts");
				else if (kind == 0)
				{
					m->parts[j].type = get_str(&r, "content parts");
					m->parts[j].text = get_str(&r, "content parts");
				}
				else
					corrupt("content parts");
			}
		}
		else if (!(m->flags & FT_MSG_CONTENT_NULL))
			m->content = get_str(&r, "message content");
		if (m->flags & FT_MSG_HAS_NAME)
			m->name = get_str(&r, "message name");
		if (m->flags & FT_MSG_HAS_TOOL_CALL_ID)
			m->tool_call_id = get_str(&r, "tool call id");
		if (m->flags & FT_MSG_HAS_TOOL_CALLS)
			m->tool_calls = get_str(&r, "tool calls");
		if (m->flags & FT_MSG_HAS_EXTRA)
			m->extra = get_str(&r, "message extra keys");
	}

	if (s->flags & FT_SAMPLE_HAS_TOOLS)
		s->tools = get_str(&r, "tools");
	if (s->flags & FT_SAMPLE_HAS_MEDIA)
	{
		for (int k = 0; k < FT_NUM_MEDIA; k++)
		{
			s->nmedia[k] = get_count(&r, "media");
			s->media[k] = palloc(sizeof(FtStr) * Max(s->nmedia[k], 1));
			for (int j = 0; j < s->nmedia[k]; j++)
				s->media[k][j] = get_str(&r, "media");
		}
	}
	if (s->flags & FT_SAMPLE_HAS_EXTRA)
		s->extra = get_str(&r, "extra keys");
	if (s->flags & FT_SAMPLE_HAS_HINTS)
		s->input_offset = (int32) get_varint(&r, "hints");
	if (r.p != r.end)
		corrupt("end");
	return s;
}
