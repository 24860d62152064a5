/*-------------------------------------------------------------------------
 *
 * layout.c
 *	  The stored form of ftsample: compact, versioned, and checked on every
 *	  read.
 *
 * After the varlena header:
 *
 *	  uint8 version (FT_LAYOUT_VERSION, with the FT_LAYOUT_ZSTD and
 *	  FT_LAYOUT_FACETS bits), uint8 format, uint8 kind, uint8 flags
 *	  (FT_SAMPLE_*),
 *	  [facet block if FT_LAYOUT_FACETS],
 *	  then the body:
 *	  [uint8 hints if FT_SAMPLE_HAS_HINTS],
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
 * smaller than jsonb.
 *
 * The facet block holds the sample's facets (docs/facets.md) as
 * ft_compute_facets() gives them when the sample is encoded, so that
 * ftstore.facets(), the facet operators and the GIN index read a slice of
 * the first FT_HEADER_SLICE bytes and never the body:
 *
 *	  uint8 n, the block's length in bytes, this one included,
 *	  uint8 facets version (FT_FACETS_VERSION) in the high nibble; in the
 *	  low one 0x1 tools, 0x2 tool_calls, 0x4 system,
 *	  uint8 roles, bit (role - 1) for each role present,
 *	  uint8 length bucket (bits 0-1), kinds of media present (bits 2-4),
 *	  uint8 script (low nibble), lang (high nibble),
 *	  varint turns, then a varint count for each kind of media present.
 *
 * Format and kind are the header's own bytes.  Only n and the version
 * nibble are fixed for good: a reader skips n bytes to reach the body
 * whatever the version, and when the version is not the one it computes
 * it ignores the block and recomputes the facets from the body.  A value
 * without the block (FT_LAYOUT_FACETS clear) is read the same way.
 *
 * A value whose body is large enough is compressed with zstd: the version
 * byte then has FT_LAYOUT_ZSTD set, the format, kind and flags bytes and
 * the facet block stay in the clear (so format(), kind() and facets need
 * not decompress), and then come an 8-byte hash of the uncompressed body,
 * the varint length of that body and its zstd frame.  The type has
 * STORAGE external, so TOAST neither compresses it a second time nor
 * needs to read more than the first chunk of an out-of-line value for a
 * slice of its header.
 *
 * zstd's output may change between library releases, so equality, ordering
 * and hashing are defined on the uncompressed body; the stored hash lets
 * them tell most unequal values apart without decompressing (ft_body_hash).
 * The facet block is outside the body, hence outside the hash and the
 * comparison (ft_raw() leaves it out): facets are derived from the body,
 * and a value stored with facets of an older version must still equal the
 * same sample stored today.
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
 * The facet block: its length byte and four bytes of bits, then varints,
 * five bytes at most each, for the turns and the three media counts.
 */
#define FT_FACETS_FIXED		5
#define FT_FACETS_BLOCK_MAX	(FT_FACETS_FIXED + 5 * (1 + FT_NUM_MEDIA))
#define FB_TOOLS			0x01
#define FB_TOOL_CALLS		0x02
#define FB_SYSTEM			0x04

StaticAssertDecl(FT_CLEAR_HEADER + FT_FACETS_BLOCK_MAX <= FT_HEADER_SLICE,
				 "FT_HEADER_SLICE does not cover the facet block");
StaticAssertDecl(FT_FACETS_VERSION >= 1 && FT_FACETS_VERSION <= 15,
				 "the facets version is a nibble");
StaticAssertDecl(FT_FACETS_SCRIPTS <= 16 && FT_FACETS_LANGS <= 16 &&
				 FT_FACETS_LENGTHS <= 4 && FT_ROLE_MAX <= 8,
				 "facet block fields too narrow");

/*
 * Bodies shorter than this are left alone: zstd's frame overhead and the
 * lack of repetition in a short record make the gain too small to pay for
 * the compression at load and the decompression on every read.  On the
 * benchmark corpus, 512 rather than 256 takes about a third off the time
 * spent compressing for 2% more table (docs/benchmarks.md).
 */
#define FT_COMPRESS_MIN 512

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
 * Where the body (or, compressed, its hash) starts in the len bytes of a
 * stored value at p: after the clear header and the facet block, if any.
 * The block's length byte is trusted for any facets version, so that a
 * block of another version is skipped too.
 */
static size_t
body_offset(const char *p, size_t len)
{
	uint8		n;

	if (len < FT_CLEAR_HEADER)
		corrupt("header");
	if (!(p[0] & FT_LAYOUT_FACETS))
		return FT_CLEAR_HEADER;
	if (len < FT_CLEAR_HEADER + 2)
		corrupt("facets");
	n = (uint8) p[FT_CLEAR_HEADER];
	if (n < 2 || n > len - FT_CLEAR_HEADER)
		corrupt("facets");
	return FT_CLEAR_HEADER + n;
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
	size_t		off = body_offset(p, len);

	if (p[0] & FT_LAYOUT_ZSTD)
	{
		if (len < off + 8)
			corrupt("header");
		return load_hash(p + off);
	}
	return body_hash(p + off, len - off);
}

/*
 * Compress a raw encoded value, whose body starts off bytes into its data,
 * when that pays; returns it unchanged when not.
 */
static struct varlena *
compress(struct varlena *raw, size_t off)
{
	const char *body = VARDATA(raw) + off;
	size_t		body_len = VARSIZE(raw) - VARHDRSZ - off;
	size_t		bound;
	StringInfoData buf;
	size_t		clen;

	if (body_len < FT_COMPRESS_MIN)
		return raw;
	bound = ZSTD_compressBound(body_len);
	initStringInfo(&buf);
	enlargeStringInfo(&buf, VARHDRSZ + off + 8 + 5 + bound);
	appendBinaryStringInfo(&buf, (char *) raw, VARHDRSZ + off);
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
	/* a load reads the value straight back, for its fingerprint */
	ft_body_cache_put(buf.data + VARHDRSZ, buf.len - VARHDRSZ,
					  body, body_len);
	pfree(raw);
	return (struct varlena *) buf.data;
}

/*
 * The length of the uncompressed body of a compressed value (len bytes at
 * p, body hash at off) and, in *frame, where its zstd frame lies.
 */
static uint32
frame_of(const char *p, size_t len, size_t off, Reader *frame)
{
	uint32		raw_len;

	if (len < off + 8)
		corrupt("compressed body");
	frame->p = p + off + 8;
	frame->end = p + len;
	raw_len = get_varint(frame, "compressed body");
	if (raw_len > MaxAllocSize - VARHDRSZ - FT_CLEAR_HEADER - 1)
		corrupt("compressed body");
	return raw_len;
}

/* Decompress a frame into raw_len bytes at dst and check it by its hash. */
static void
decompress_to(char *dst, uint32 raw_len, const Reader *frame, uint64 hash)
{
	size_t		got;

	if (dctx == NULL && (dctx = ZSTD_createDCtx()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a zstd decompression context.")));
	got = ZSTD_decompressDCtx(dctx, dst, raw_len, frame->p,
							  frame->end - frame->p);
	if (ZSTD_isError(got) || got != raw_len || body_hash(dst, raw_len) != hash)
		corrupt("compressed body");
}

/*
 * The canonical form of a detoasted stored value, which equality and
 * ordering compare: the clear header, without the compression and facet
 * bits, then the uncompressed body.  The value itself when it has neither
 * compression nor a facet block, else a palloc'd copy.
 */
struct varlena *
ft_raw(struct varlena *stored)
{
	const char *p = VARDATA_ANY(stored);
	size_t		len = VARSIZE_ANY_EXHDR(stored);
	size_t		off;
	uint32		raw_len;
	Reader		frame;
	struct varlena *raw;

	if (len < FT_CLEAR_HEADER ||
		!(p[0] & (FT_LAYOUT_ZSTD | FT_LAYOUT_FACETS)))
		return stored;
	off = body_offset(p, len);
	if (p[0] & FT_LAYOUT_ZSTD)
		raw_len = frame_of(p, len, off, &frame);
	else
		raw_len = (uint32) (len - off);
	raw = palloc(VARHDRSZ + FT_CLEAR_HEADER + raw_len);
	SET_VARSIZE(raw, VARHDRSZ + FT_CLEAR_HEADER + raw_len);
	memcpy(VARDATA(raw), p, FT_CLEAR_HEADER);
	VARDATA(raw)[0] &= ~(FT_LAYOUT_ZSTD | FT_LAYOUT_FACETS);
	if (p[0] & FT_LAYOUT_ZSTD)
		decompress_to(VARDATA(raw) + FT_CLEAR_HEADER, raw_len, &frame,
					  load_hash(p + off));
	else
		memcpy(VARDATA(raw) + FT_CLEAR_HEADER, p + off, raw_len);
	return raw;
}

/* Append the facet block of f. */
static void
put_facets(StringInfo buf, const FtFacets *f)
{
	int			start = buf->len;
	uint8		media = 0;

	Assert(f->length < FT_FACETS_LENGTHS && f->script < FT_FACETS_SCRIPTS &&
		   f->lang < FT_FACETS_LANGS && f->turns >= 0);
	for (int k = 0; k < FT_NUM_MEDIA; k++)
		if (f->nmedia[k] > 0)
			media |= (uint8) (1 << k);
	appendStringInfoChar(buf, 0);	/* the length, set below */
	appendStringInfoChar(buf, (char) ((FT_FACETS_VERSION << 4) |
									  (f->tools ? FB_TOOLS : 0) |
									  (f->tool_calls ? FB_TOOL_CALLS : 0) |
									  (f->system ? FB_SYSTEM : 0)));
	appendStringInfoChar(buf, (char) f->roles);
	appendStringInfoChar(buf, (char) (f->length | (media << 2)));
	appendStringInfoChar(buf, (char) (f->script | (f->lang << 4)));
	put_varint(buf, (uint32) f->turns);
	for (int k = 0; k < FT_NUM_MEDIA; k++)
		if (f->nmedia[k] > 0)
			put_varint(buf, (uint32) f->nmedia[k]);
	Assert(buf->len - start <= FT_FACETS_BLOCK_MAX);
	buf->data[start] = (char) (buf->len - start);
}

/*
 * Encode a sample, with its facets.  The result is a palloc'd varlena ready
 * to be returned as a datum.
 */
struct varlena *
ft_encode(const FtSample *s)
{
	StringInfoData buf;
	int			n = FtSampleMessageCount(s);
	FtFacets	facets;
	size_t		off;

	ft_compute_facets(s, &facets);

	initStringInfo(&buf);
	/* room for the varlena header, filled in at the end */
	appendBinaryStringInfo(&buf, "\0\0\0\0", VARHDRSZ);
	appendStringInfoChar(&buf, (char) (FT_LAYOUT_VERSION | FT_LAYOUT_FACETS));
	appendStringInfoChar(&buf, (char) s->format);
	appendStringInfoChar(&buf, (char) s->kind);
	appendStringInfoChar(&buf, (char) s->flags);
	put_facets(&buf, &facets);
	off = buf.len - VARHDRSZ;

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
	return compress((struct varlena *) buf.data, off);
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
 * Check the clear header of the len bytes of a stored value at p (all of
 * it, or a slice of its start) and read its format, kind and flags.
 */
static void
read_header(const char *p, size_t len, uint8 *format, uint8 *kind,
			uint8 *flags)
{
	uint8		version;

	if (len < 1)
		corrupt("header");
	version = (uint8) p[0] & FT_LAYOUT_VERSION_MASK;
	if (version != FT_LAYOUT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unsupported ftsample layout version %d", version),
				 errhint("The value was written by a newer release of ftstore.")));
	if (len < FT_CLEAR_HEADER)
		corrupt("header");
	*format = (uint8) p[1];
	*kind = (uint8) p[2];
	*flags = (uint8) p[3];
	if (*format < FT_FORMAT_OPENAI || *format > FT_FORMAT_MAX ||
		*kind < 1 || *kind > FT_KIND_MAX)
		corrupt("header");
}

/*
 * The facets kept in a stored value; head is the value or a slice of at
 * least its first FT_HEADER_SLICE bytes.  False when the value has no
 * facet block or one of another facets version: the caller then computes
 * them from the decoded sample.
 */
bool
ft_header_facets(const struct varlena *head, FtFacets *f)
{
	const char *p = VARDATA_ANY(head);
	size_t		len = VARSIZE_ANY_EXHDR(head);
	uint8		flags;
	uint8		n;
	uint8		b;
	uint8		media;
	uint32		turns;
	Reader		r;

	read_header(p, len, &f->format, &f->kind, &flags);
	if (!(p[0] & FT_LAYOUT_FACETS))
		return false;
	if (len < FT_CLEAR_HEADER + 2)
		corrupt("facets");
	n = (uint8) p[FT_CLEAR_HEADER];
	b = (uint8) p[FT_CLEAR_HEADER + 1];
	if ((b >> 4) != FT_FACETS_VERSION)
		return false;
	if (n < FT_FACETS_FIXED + 1 || n > FT_FACETS_BLOCK_MAX ||
		n > len - FT_CLEAR_HEADER || (b & 0x08))
		corrupt("facets");
	f->tools = (b & FB_TOOLS) != 0;
	f->tool_calls = (b & FB_TOOL_CALLS) != 0;
	f->system = (b & FB_SYSTEM) != 0;
	f->roles = (uint8) p[FT_CLEAR_HEADER + 2];
	b = (uint8) p[FT_CLEAR_HEADER + 3];
	f->length = b & 0x03;
	media = b >> 2;
	b = (uint8) p[FT_CLEAR_HEADER + 4];
	f->script = b & 0x0F;
	f->lang = b >> 4;
	if ((f->roles >> FT_ROLE_MAX) != 0 || (media >> FT_NUM_MEDIA) != 0 ||
		f->script >= FT_FACETS_SCRIPTS || f->lang >= FT_FACETS_LANGS)
		corrupt("facets");

	r.p = p + FT_CLEAR_HEADER + FT_FACETS_FIXED;
	r.end = p + FT_CLEAR_HEADER + n;
	turns = get_varint(&r, "facets");
	if (turns > FT_MAX_COUNT)
		corrupt("facets");
	f->turns = (int32) turns;
	for (int k = 0; k < FT_NUM_MEDIA; k++)
	{
		f->nmedia[k] = 0;
		if (media & (1 << k))
		{
			uint32		c = get_varint(&r, "facets");

			if (c == 0 || c > FT_MAX_COUNT)
				corrupt("facets");
			f->nmedia[k] = (int32) c;
		}
	}
	if (r.p != r.end)
		corrupt("facets");
	return true;
}

/*
 * Decode a detoasted stored value.  Strings in the result point into it,
 * or into its decompressed body.
 */
FtSample *
ft_decode(const struct varlena *stored)
{
	FtSample   *s = palloc0(sizeof(FtSample));
	const char *p = VARDATA_ANY(stored);
	size_t		len = VARSIZE_ANY_EXHDR(stored);
	size_t		off;
	Reader		r;
	int			n;

	read_header(p, len, &s->format, &s->kind, &s->flags);
	off = body_offset(p, len);
	if (p[0] & FT_LAYOUT_ZSTD)
	{
		Reader		frame;
		uint32		raw_len = frame_of(p, len, off, &frame);
		Size		cached_len;
		char	   *body = ft_body_cache_get(p, len, &cached_len);

		if (body == NULL || cached_len != raw_len)
		{
			body = palloc(Max(raw_len, 1));
			decompress_to(body, raw_len, &frame, load_hash(p + off));
		}
		r.p = body;
		r.end = body + raw_len;
	}
	else
	{
		r.p = p + off;
		r.end = p + len;
	}

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
