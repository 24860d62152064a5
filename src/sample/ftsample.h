/*-------------------------------------------------------------------------
 *
 * ftsample.h
 *	  The dataset-sample type: its in-memory model and the C interface the
 *	  other capabilities (validation, import, dedup) build on.
 *
 * A sample is held in one canonical model whatever format it came in:
 * a list of messages split into sections (prompt, chosen, rejected), the
 * tools offered, media references, a KTO label and whatever top-level keys
 * no format knows.  The on-disk form is described in layout.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FTSAMPLE_H
#define FTSAMPLE_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* Version byte of the stored form; readers refuse anything newer. */
#define FT_LAYOUT_VERSION	1
/* Set in the version byte when the body is zstd-compressed (layout.c). */
#define FT_LAYOUT_ZSTD		0x80
/* Set in the version byte when a facet block follows the header (layout.c). */
#define FT_LAYOUT_FACETS	0x40
/* The bits of the version byte that are the version proper. */
#define FT_LAYOUT_VERSION_MASK	0x3F

typedef enum FtRole
{
	FT_ROLE_SYSTEM = 1,
	FT_ROLE_DEVELOPER,
	FT_ROLE_USER,
	FT_ROLE_ASSISTANT,
	FT_ROLE_TOOL,
	FT_ROLE_FUNCTION,			/* OpenAI's legacy function-result role */
	FT_ROLE_TEXT				/* the single body of a raw text document */
} FtRole;

#define FT_ROLE_MAX FT_ROLE_TEXT

/* Format a sample was written in; kept so it can be rendered back. */
typedef enum FtFormat
{
	FT_FORMAT_AUTO = 0,			/* only as an input hint */
	FT_FORMAT_OPENAI,
	FT_FORMAT_ALPACA,
	FT_FORMAT_SHAREGPT,
	FT_FORMAT_TEXT
} FtFormat;

#define FT_FORMAT_MAX FT_FORMAT_TEXT

/* What the sample trains: plain SFT, a preference pair, KTO, raw text. */
typedef enum FtKind
{
	FT_KIND_SFT = 1,
	FT_KIND_PREFERENCE,
	FT_KIND_KTO,
	FT_KIND_TEXT
} FtKind;

#define FT_KIND_MAX FT_KIND_TEXT

typedef enum FtMedia
{
	FT_MEDIA_IMAGE = 0,
	FT_MEDIA_VIDEO,
	FT_MEDIA_AUDIO
} FtMedia;

#define FT_NUM_MEDIA 3

/* A string that points into someone else's memory; not NUL-terminated. */
typedef struct FtStr
{
	const char *p;
	int32		len;
} FtStr;

#define FtStrIsSet(s) ((s).p != NULL)

/*
 * A typed content part.  The common {type, text|value: string} shape is
 * kept as type and text; any other part (image_url objects and the like)
 * is kept whole as canonical JSON text in "json".
 */
typedef struct FtPart
{
	FtStr		type;
	FtStr		text;
	FtStr		json;
} FtPart;

/* Message flags, stored. */
#define FT_MSG_HAS_NAME			0x01
#define FT_MSG_HAS_TOOL_CALL_ID	0x02
#define FT_MSG_HAS_TOOL_CALLS	0x04
#define FT_MSG_HAS_WEIGHT		0x08
#define FT_MSG_WEIGHT_ONE		0x10
#define FT_MSG_CONTENT_NULL		0x20	/* "content": null, or absent */
#define FT_MSG_CONTENT_PARTS	0x40
#define FT_MSG_HAS_EXTRA		0x80

typedef struct FtMessage
{
	uint8		role;			/* FtRole */
	uint8		flags;
	FtStr		content;		/* when neither NULL nor parts */
	int			nparts;
	FtPart	   *parts;
	FtStr		name;
	FtStr		tool_call_id;
	FtStr		tool_calls;		/* canonical JSON array */
	FtStr		extra;			/* canonical JSON object of unknown keys */
} FtMessage;

/* Sample flags, stored. */
#define FT_SAMPLE_HAS_TOOLS			0x01
#define FT_SAMPLE_HAS_PARALLEL		0x02
#define FT_SAMPLE_PARALLEL_TRUE		0x04
#define FT_SAMPLE_HAS_LABEL			0x08
#define FT_SAMPLE_LABEL_TRUE		0x10
#define FT_SAMPLE_HAS_EXTRA			0x20
#define FT_SAMPLE_HAS_MEDIA			0x40
#define FT_SAMPLE_HAS_HINTS			0x80

/*
 * Rendering hints: how the source spelled things that the canonical model
 * folds together, so that rendering back to that format is faithful.
 */
#define FT_HINT_TOOLS_AS_STRING		0x01	/* ShareGPT keeps tools as a string */
#define FT_HINT_KTO_TAG				0x02	/* Alpaca spells the label kto_tag */
#define FT_HINT_SYSTEM_FIELD		0x04	/* system prompt was a top-level key */
#define FT_HINT_INSTANCES			0x08	/* self-instruct: instances[0] held
											 * input and output */
#define FT_HINT_RESPONSE_KEY		0x10	/* Alpaca's output was "response" */

typedef struct FtSample
{
	uint8		format;			/* FtFormat */
	uint8		kind;			/* FtKind */
	uint8		flags;
	uint8		hints;
	int			nprompt;		/* messages[0 .. nprompt-1] */
	int			nchosen;		/* then the chosen completion */
	int			nrejected;		/* then the rejected one */
	FtMessage  *messages;
	FtStr		tools;			/* canonical JSON array */
	int			nmedia[FT_NUM_MEDIA];
	FtStr	   *media[FT_NUM_MEDIA];
	FtStr		extra;			/* canonical JSON object of unknown keys */
	int32		input_offset;	/* Alpaca: where "input" starts in the last
								 * user turn, plus one; 0 when none */
} FtSample;

#define FtSampleMessageCount(s) ((s)->nprompt + (s)->nchosen + (s)->nrejected)

/*
 * The facets of a sample (docs/facets.md), computed by src/facets/facets.c
 * when the sample is encoded and kept in the clear part of the stored form
 * (layout.c), so that reading them needs neither decoding nor
 * decompression.  FT_FACETS_VERSION numbers the rules that compute them:
 * a stored block of another version is ignored and the facets recomputed
 * from the body, so a change of the rules must bump it.
 */
#define FT_FACETS_VERSION	1	/* 1 to 15: a nibble of the block */
#define FT_FACETS_LENGTHS	4	/* length buckets */
#define FT_FACETS_SCRIPTS	9	/* writing systems, "none" included */
#define FT_FACETS_LANGS		8	/* languages, "und" included */

typedef struct FtFacets
{
	uint8		format;			/* FtFormat */
	uint8		kind;			/* FtKind */
	uint8		roles;			/* bit (role - 1) per role present */
	bool		tools;
	bool		tool_calls;
	bool		system;
	uint8		length;			/* < FT_FACETS_LENGTHS */
	uint8		script;			/* < FT_FACETS_SCRIPTS */
	uint8		lang;			/* < FT_FACETS_LANGS */
	int32		turns;
	int32		nmedia[FT_NUM_MEDIA];
} FtFacets;

/*
 * Bytes at the start of a stored value that always hold its clear header
 * and facet block: what a reader of facets detoasts (a slice).
 */
#define FT_HEADER_SLICE		32

/* Upper bounds that keep hostile input from exhausting the server. */
extern int	ft_max_sample_bytes;
extern int	ft_max_depth;

/* names.c */
extern const char *ft_role_name(int role);
extern int	ft_role_from_name(const char *name, int len);
extern const char *ft_format_name(int format);
extern int	ft_format_from_name(const char *name);
extern const char *ft_kind_name(int kind);
extern const char *ft_media_key(int media);
extern const char *ft_media_placeholder(int media);

/* parse.c: JSON to the model; ereports with the field path on bad input */
extern void ft_check_json_limits(const char *json, size_t len);
extern FtSample *ft_parse_jsonb(Jsonb *jb, FtFormat hint);

/* jsontext.c: JSON text to jsonb in one pass; NULL: take jsonb_in */
extern Jsonb *ft_jsonb_from_text(const char *json, size_t len);

/* layout.c: the stored form */
extern struct varlena *ft_encode(const FtSample *sample);
extern FtSample *ft_decode(const struct varlena *stored);
extern struct varlena *ft_raw(struct varlena *stored);
extern uint64 ft_body_hash(const struct varlena *stored);
extern bool ft_header_facets(const struct varlena *head, FtFacets *facets);

/* bodycache.c: bodies of values just compressed, to skip decompressing */
extern void ft_body_cache_put(const char *stored, Size stored_len,
							  const char *body, Size body_len);
extern char *ft_body_cache_get(const char *stored, Size stored_len,
							   Size *body_len);

/* output.c: canonical JSON text and renderings */
extern void ft_write_canonical(StringInfo buf, const FtSample *sample);
extern void ft_write_rendered(StringInfo buf, const FtSample *sample,
							  FtFormat format);
extern void ft_write_json_string(StringInfo buf, const char *p, int len);

/* ftsample.c: entry points for other modules */
extern Datum ft_sample_from_text(const char *json, size_t len, FtFormat hint);
extern FtSample *ft_sample_from_datum(Datum d);

/* facets.c (src/facets): the facets of a decoded sample */
extern void ft_compute_facets(const FtSample *sample, FtFacets *facets);

/* fingerprint.c (src/dedup) */
#define FT_FINGERPRINT_LEN 16
extern void ft_fingerprint(const FtSample *sample, bool fold_case,
						   uint8 *out);

/* accessors.c: text views used by accessors, validation and dedup */
extern void ft_message_text(StringInfo buf, const FtMessage *msg);

/* tokens.c: approximate BPE token count of UTF-8 text */
extern int	ft_estimate_tokens(const char *p, int len);

/*
 * The character classes of that estimate and the tokens a run of one
 * class costs, for scans that estimate tokens while doing other work in
 * the same pass (ft_compute_facets).  Only word and digit characters form
 * runs; a CJK or symbol character is one token, white space none.
 */
typedef enum FtCharClass
{
	FT_CC_SPACE,
	FT_CC_WORD,
	FT_CC_DIGIT,
	FT_CC_CJK,
	FT_CC_SYMBOL
} FtCharClass;

extern int	ft_utf8_next(const unsigned char *p, int len, int32 *cp);
extern FtCharClass ft_char_class(int32 c);

static inline int64
ft_run_tokens(FtCharClass cls, int64 nchars)
{
	if (nchars == 0)
		return 0;
	if (cls == FT_CC_WORD)
		return (nchars + 3) / 4;
	return (nchars + 2) / 3;	/* FT_CC_DIGIT */
}

#define DatumGetFtSampleP(X) ((struct varlena *) PG_DETOAST_DATUM(X))
#define PG_GETARG_FTSAMPLE_P(n) DatumGetFtSampleP(PG_GETARG_DATUM(n))

#endif							/* FTSAMPLE_H */
