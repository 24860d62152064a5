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
 * A value whose body is large enough is compressed with zstd: the version
 * byte then has FT_LAYOUT_ZSTD set, the format, kind and flags bytes stay
 * in the clear (so format() and kind() need not decompress), and then come
 * an 8-byte hash of the uncompressed body, the varint length of that body
 * and its zstd frame.  The type has STORAGE external, so TOAST does not try
 * to compress it a second time.
 *
 * zstd's output may change between library releases, so equality, ordering
 * and hashing are defined on the uncompressed body; the stored hash lets
 * them tell most unequal values apart without decompressing (ft_body_hash).
 *
 * A reader that meets a newer version refuses the value instead of
 * guessing.  Every length is checked against the end of the value, so a
 * corrupted value gives an error, never a read past its end.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "sample/ftsample.h"

/* Sane upper bound on counts, far above anything max_sample_bytes allows. */
#define FT_MAX_COUNT (1 << 26)

/* Bytes of header kept in the clear: version, format, kind, flags. */
#define FT_CLEAR_HEADER 4

/*
 * Bodies shorter than this are left alone: zstd's frame overhead and the
 * lack of repetition in a short record make the gain too small to pay for
 * the decompression on every read.
 */
#define FT_COMPRESS_MIN 256

/*
 * Level 1: on fine-tuning text it gives most of level 3's ratio at about
 * twice the speed, and loading is where the cost is felt.
 */
#define FT_COMPRESS_LEVEL 1

typedef struct Reader
{
	const char *p;
	const char *end;
} Reader;

static uint32 get_varint(Reader *r, const char *what);
static void corrupt(const char *what) pg_attribute_noreturn();

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
 * Compress a raw encoded value when that pays; returns it unchanged when
 * not.
 */
/*
 * zstd contexts are costly to set up, so each backend keeps one of each for
 * its lifetime.  They hold no state between calls that an error could
 * leave inconsistent: every call starts a new frame.
 */
static ZSTD_CCtx *cctx = NULL;
static ZSTD_DCtx *dctx = NULL;

static void
store_hash(char *dst, uint64 h)
{
	for (int i = 0; i < 8; i++)
		dst[i] = (char) (h >> (8 * i));
}

static uint64
load_hash(const char *src)
{
	uint64		h = 0;

	for (int i = 0; i < 8; i++)
		h |= (uint64) (uint8) src[i] << (8 * i);
	return h;
}

static uint64
body_hash(const char *body, size_t len)
{
	return DatumGetUInt64(hash_any_extended((const unsigned char *) body,
											len, 0));
}

/*
 * The hash of a value's uncompressed body: stored in compressed values,
 * computed for the others.  Equal samples have equal hashes.
 */
uint64
ft_body_hash(const struct varlena *stored)
{
	const char *p = VARDATA_ANY(stored);
	size_t		len = VARSIZE_ANY_EXHDR(stored);

	if (len < FT_CLEAR_HEADER)
		corrupt("header");
	if (p[0] & FT_LAYOUT_ZSTD)
	{
		if (len < FT_CLEAR_HEADER + 8)
			corrupt("header");
		return load_hash(p + FT_CLEAR_HEADER);
	}
	return body_hash(p + FT_CLEAR_HEADER, len - FT_CLEAR_HEADER);
}

static struct varlena *
compress(struct varlena *raw)
{
	const char *body = VARDATA(raw) + FT_CLEAR_HEADER;
	size_t		body_len = VARSIZE(raw) - VARHDRSZ - FT_CLEAR_HEADER;
	size_t		bound;
	StringInfoData buf;
	size_t		clen;

	if (body_len < FT_COMPRESS_MIN)
		return raw;
	bound = ZSTD_compressBound(body_len);
	initStringInfo(&buf);
	enlargeStringInfo(&buf, VARHDRSZ + FT_CLEAR_HEADER + 8 + 5 + bound);
	appendBinaryStringInfo(&buf, (char *) raw, VARHDRSZ + FT_CLEAR_HEADER);
	buf.data[VARHDRSZ] |= FT_LAYOUT_ZSTD;
	store_hash(buf.data + buf.len, body_hash(body, body_len));
	buf.len += 8;
	put_varint(&buf, (uint32) body_len);
	if (cctx == NULL && (cctx = ZSTD_createCCtx()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a zstd compression context.")));
	clen = ZSTD_compressCCtx(cctx, buf.data + buf.len, bound, body, body_len,
							 FT_COMPRESS_LEVEL);
	if (ZSTD_isError(clen))
		elog(ERROR, "zstd compression failed: %s", ZSTD_getErrorName(clen));
	/* keep the raw form unless compression saves at least an eighth */
	if (buf.len + clen > VARSIZE(raw) - (VARSIZE(raw) >> 3))
	{
		pfree(buf.data);
		return raw;
	}
	buf.len += clen;
	SET_VARSIZE(buf.data, buf.len);
	pfree(raw);
	return (struct varlena *) buf.data;
}

/*
 * The uncompressed form of a detoasted stored value: the value itself when
 * it is not compressed, else a palloc'd copy.
 */
struct varlena *
ft_raw(struct varlena *stored)
{
	const char *p = VARDATA_ANY(stored);
	const char *end = p + VARSIZE_ANY_EXHDR(stored);
	Reader		r;
	uint32		raw_len;
	struct varlena *raw;
	size_t		got;

	if (end - p < FT_CLEAR_HEADER || !(p[0] & FT_LAYOUT_ZSTD))
		return stored;
	if (end - p < FT_CLEAR_HEADER + 8)
		corrupt("compressed body");
	r.p = p + FT_CLEAR_HEADER + 8;
	r.end = end;
	raw_len = get_varint(&r, "compressed body");
	if (raw_len > MaxAllocSize - VARHDRSZ - FT_CLEAR_HEADER - 1)
		corrupt("compressed body");
	raw = palloc(VARHDRSZ + FT_CLEAR_HEADER + raw_len);
	SET_VARSIZE(raw, VARHDRSZ + FT_CLEAR_HEADER + raw_len);
	memcpy(VARDATA(raw), p, FT_CLEAR_HEADER);
	VARDATA(raw)[0] &= ~FT_LAYOUT_ZSTD;
	if (dctx == NULL && (dctx = ZSTD_createDCtx()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a zstd decompression context.")));
	got = ZSTD_decompressDCtx(dctx, VARDATA(raw) + FT_CLEAR_HEADER, raw_len,
							  r.p, r.end - r.p);
	if (ZSTD_isError(got) || got != raw_len ||
		body_hash(VARDATA(raw) + FT_CLEAR_HEADER, raw_len) != load_hash(p + FT_CLEAR_HEADER))
		corrupt("compressed body");
	return raw;
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
	return compress((struct varlena *) buf.data);
}

/* Decoding */

static void
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

	stored = ft_raw((struct varlena *) stored);
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
