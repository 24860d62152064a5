/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *	  The exact-duplicate fingerprint of a sample: a hash of its normalised
 *	  content that ignores key order, ids, labels and the format it came in.
 *
 * The fingerprint is the first 16 bytes of SHA-256 over a byte string that
 * docs/dedup.md specifies exactly, so that it can be recomputed outside the
 * database (the tests do, in Python).  In short: every field is written as
 * its byte length, a colon and its bytes; the fields are the kind, then
 * for each message its section, role, normalised text, normalised tool
 * calls (function name and arguments, without call ids) and whole-JSON
 * content parts, then the normalised tools and the media references.
 *
 * Normalising text means: Unicode NFC, removal of the invisible U+200B,
 * U+2060 and U+FEFF, every run of white space (what Python's str.isspace
 * calls white space) folded to one space, and leading and trailing white
 * space removed; optionally ASCII letters lowered.
 *
 * Top-level keys no format knows (ids, sources) are left out, as are the
 * KTO label, message weights and names: they describe a sample, not what
 * the model is shown.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "common/unicode_norm.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "sample/ftsample.h"

PG_FUNCTION_INFO_V1(ftsample_fingerprint);
PG_FUNCTION_INFO_V1(ftsample_fingerprint_opts);
PG_FUNCTION_INFO_V1(ftstore_normalize_text);

#define FP_TAG "ftfp1"

/* Python's str.isspace() set, which the tests' reference uses. */
static inline bool
is_space(pg_wchar c)
{
	return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) ||
		c == 0x85 || c == 0xA0 || c == 0x1680 ||
		(c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
		c == 0x202F || c == 0x205F || c == 0x3000;
}

/*
 * Writes one ASCII byte of normalised text at out and returns the new end.
 * White space is not written but held as one pending space, which goes out
 * before the next visible character only, so runs fold to one space and
 * none is left at either end.  Every ASCII space is a control character or
 * the space, so one comparison rules out the rest.
 */
static inline char *
put_ascii(char *out, unsigned char c, bool fold_case, bool *pending_space,
		  bool *any)
{
	if (c <= 0x20 && is_space(c))
	{
		*pending_space = *any;
		return out;
	}
	if (*pending_space)
		*out++ = ' ';
	*pending_space = false;
	*any = true;
	if (fold_case && c >= 'A' && c <= 'Z')
		c += 'a' - 'A';
	*out++ = (char) c;
	return out;
}

static bool
is_invisible(pg_wchar c)
{
	return c == 0x200B || c == 0x2060 || c == 0xFEFF;
}

/*
 * Whether c is ASCII or lies in a range where PostgreSQL's Unicode tables
 * (common/unicode_normprops_table.h and unicode_norm_table.h, as of
 * PostgreSQL 15) give NFC_QC=Yes and combining class 0: Latin-1 to the
 * spacing modifiers, the dashes and quotation marks, CJK symbols and
 * punctuation, kana, CJK unified ideographs, the fullwidth forms, and
 * emoji.  Text of such code points alone is in NFC in any order, so
 * unicode_is_normalized_quickcheck() would answer yes: most non-ASCII text
 * of the corpus (a curly quote, an accented letter, Chinese with its
 * punctuation) is known to be NFC without the per-character table lookups.
 * The ranges were checked against those two tables code point by code
 * point (combining marks 0x302A-0x302F and 0x3099-0x309A lie outside).
 */
static inline bool
nfc_without_check_char(pg_wchar c)
{
	return c < 0x300 ||
		(c >= 0x2010 && c <= 0x2027) ||
		(c >= 0x3000 && c <= 0x3029) ||
		(c >= 0x3030 && c <= 0x303F) ||
		(c >= 0x3041 && c <= 0x3096) ||
		(c >= 0x30A0 && c <= 0x30FF) ||
		(c >= 0x4E00 && c <= 0x9FFF) ||
		(c >= 0xFF01 && c <= 0xFF60) ||
		(c >= 0x1F300 && c <= 0x1FAFF);
}

/* The same for every code point of the NUL-terminated s. */
static bool
nfc_without_check(const pg_wchar *s)
{
	for (; *s; s++)
	{
		if (!nfc_without_check_char(*s))
			return false;
	}
	return true;
}

/* SWAR: eight bytes at a time, as one uint64 */
#define BYTES_HIGH		UINT64CONST(0x8080808080808080)
#define BYTES_EACH(b)	(UINT64CONST(0x0101010101010101) * (b))

/*
 * Of eight ASCII bytes (each below 0x80), those at most 0x20, among which
 * every ASCII space lies, flagged by their high bit: a byte below 0x21
 * borrows when 0x21 is taken from it, and a byte below 0x80 has its high
 * bit clear.  A borrow can flag a byte above the first one truly flagged
 * too, so the result is exact only in being zero or not and in its lowest
 * flagged byte.
 */
static inline uint64
control_or_space(uint64 w)
{
	return (w - BYTES_EACH(0x21)) & ~w & BYTES_HIGH;
}

/*
 * Eight ASCII bytes with 'A' to 'Z' lowered: adding 0x3F sets the high bit
 * of a byte from 'A' up, adding 0x25 that of a byte from '['; neither sum
 * carries into the next byte, as every byte is below 0x80.
 */
static inline uint64
fold_ascii(uint64 w)
{
	uint64		upper = (w + BYTES_EACH(0x3F)) & ~(w + BYTES_EACH(0x25)) &
		BYTES_HIGH;

	return w | (upper >> 2);
}

/*
 * Normalise len bytes of UTF-8 text at p, in a UTF-8 database, straight
 * from the UTF-8 when every code point passes nfc_without_check_char():
 * then no code point changes under NFC, none is invisible, and the
 * result is the input with its white space folded, so the bytes are
 * copied as they are instead of going through code points and back.
 * Returns false, with buf as it was, on meeting any other code point;
 * the caller then takes the general path.
 */
static bool
normalize_utf8_nfc(StringInfo buf, const char *p, int len, bool fold_case)
{
	const unsigned char *s = (const unsigned char *) p;
	const unsigned char *end = s + len;
	int			start = buf->len;
	char	   *out;
	bool		pending_space = false;
	bool		any = false;

	/* folded space is never longer than what it replaces */
	enlargeStringInfo(buf, len);
	out = buf->data + buf->len;
	while (s < end)
	{
		unsigned char c = *s;
		int			l;
		pg_wchar	cp;

		if (c < 0x80)
		{
			s++;
			out = put_ascii(out, c, fold_case, &pending_space, &any);
			continue;
		}
		l = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 :
			(c & 0xF8) == 0xF0 ? 4 : 0;
		if (l == 0 || l > end - s)
			break;
		cp = utf8_to_unicode(s);
		if (!nfc_without_check_char(cp))
			break;
		if (is_space(cp))
		{
			pending_space = any;
			s += l;
			continue;
		}
		if (pending_space)
			*out++ = ' ';
		pending_space = false;
		any = true;
		memcpy(out, s, l);
		out += l;
		s += l;
	}
	if (s < end)
	{
		buf->len = start;
		buf->data[start] = '\0';
		return false;
	}
	*out = '\0';
	buf->len = out - buf->data;
	return true;
}

/*
 * Normalise UTF-8 text into buf.  ASCII text, the common case, never needs
 * NFC, so it takes a fast path that never converts to code points, and
 * moves the bytes before each space or control character eight at a time
 * where it can.
 */
static void
normalize_text(StringInfo buf, const char *p, int len, bool fold_case)
{
	bool		ascii = true;
	bool		pending_space = false;
	bool		any = false;
	int			i = 0;

	for (; i + 8 <= len; i += 8)
	{
		uint64		w;

		memcpy(&w, p + i, 8);
		if (w & BYTES_HIGH)
		{
			ascii = false;
			break;
		}
	}
	for (; ascii && i < len; i++)
	{
		if ((unsigned char) p[i] >= 0x80)
			ascii = false;
	}

	if (ascii)
	{
		char	   *out;

		/* the result is never longer than the input */
		enlargeStringInfo(buf, len);
		out = buf->data + buf->len;
		i = 0;
		while (i < len)
		{
			char		c;

			if (i + 8 <= len)
			{
				uint64		w;
				uint64		stops;
				int			n = 8;

				memcpy(&w, p + i, 8);
				stops = control_or_space(w);
#ifndef WORDS_BIGENDIAN
				/* the first byte at most 0x20 is the lowest one flagged */
				if (stops != 0)
					n = pg_rightmost_one_pos64(stops) / 8;
#else
				if (stops != 0)
					n = 0;
#endif
				if (n > 0)
				{
					if (pending_space)
						*out++ = ' ';
					pending_space = false;
					any = true;
					if (fold_case)
						w = fold_ascii(w);

					/*
					 * All eight go out, though only n count: the output
					 * is never longer than the input read, so the room
					 * made for len bytes holds them.
					 */
					memcpy(out, &w, 8);
					out += n;
					i += n;
					continue;
				}
			}

			c = p[i++];
			out = put_ascii(out, (unsigned char) c, fold_case,
							&pending_space, &any);
		}
		*out = '\0';
		buf->len = out - buf->data;
		return;
	}
	else if (GetDatabaseEncoding() == PG_UTF8 &&
			 normalize_utf8_nfc(buf, p, len, fold_case))
		return;
	else
	{
		pg_wchar   *wide = palloc((len + 1) * sizeof(pg_wchar));
		pg_wchar   *norm;
		int			nw;
		bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);

		nw = pg_encoding_mb2wchar_with_len(GetDatabaseEncoding(), p, wide, len);
		wide[nw] = 0;
		/* NFC is defined on Unicode; in other encodings it is skipped */
		if (utf8 && !nfc_without_check(wide) &&
			unicode_is_normalized_quickcheck(UNICODE_NFC, wide) !=
			UNICODE_NORM_QC_YES)
		{
			norm = unicode_normalize(UNICODE_NFC, wide);
			if (norm == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("out of memory")));
		}
		else
			norm = wide;

		/*
		 * In UTF-8 a code point takes four bytes at most, and a space is
		 * written only for spaces read: make room once, write in place.
		 */
		if (utf8)
		{
			int			n = 0;

			for (pg_wchar *c = norm; *c; c++)
				n++;
			enlargeStringInfo(buf, 4 * n + 1);
		}
		for (pg_wchar *c = norm; *c; c++)
		{
			unsigned char out[8];
			pg_wchar	ch = *c;

			if (utf8 && is_invisible(ch))
				continue;
			if (is_space(ch))
			{
				pending_space = any;
				continue;
			}
			if (pending_space)
			{
				/* in UTF-8 the room was made above: a space, then the char */
				if (utf8)
					buf->data[buf->len++] = ' ';
				else
					appendStringInfoChar(buf, ' ');
			}
			pending_space = false;
			any = true;
			if (fold_case && ch >= 'A' && ch <= 'Z')
				ch += 'a' - 'A';
			if (utf8)
			{
				unsigned char *dst = (unsigned char *) buf->data + buf->len;

				if (ch < 0x80)
				{
					*dst = (unsigned char) ch;
					buf->len++;
				}
				else
				{
					unicode_to_utf8(ch, dst);
					buf->len += (ch < 0x800) ? 2 : (ch < 0x10000) ? 3 : 4;
				}
			}
			else
			{
				int			l = pg_encoding_wchar2mb_with_len(GetDatabaseEncoding(),
															  &ch, (char *) out, 1);

				appendBinaryStringInfo(buf, (char *) out, l);
			}
		}
		buf->data[buf->len] = '\0';
		if (norm != wide)
			pfree(norm);
		pfree(wide);
	}
}

typedef struct FpState
{
	pg_cryptohash_ctx *ctx;
	StringInfoData scratch;
	bool		fold_case;
} FpState;

static void
fp_field(FpState *st, const char *p, int len)
{
	char		head[16];
	int			hl;

	/* "length:" in decimal; snprintf's format parsing cost 4% here */
	Assert(len >= 0);
	hl = pg_ultoa_n((uint32) len, head);
	head[hl++] = ':';

	if (pg_cryptohash_update(st->ctx, (uint8 *) head, hl) < 0 ||
		pg_cryptohash_update(st->ctx, (const uint8 *) p, len) < 0)
		elog(ERROR, "could not update SHA-256 context: %s",
			 pg_cryptohash_error(st->ctx));
}

static void
fp_cstr(FpState *st, const char *s)
{
	fp_field(st, s, strlen(s));
}

/* Hash the normalised form of text as one field. */
static void
fp_text(FpState *st, const char *p, int len)
{
	resetStringInfo(&st->scratch);
	normalize_text(&st->scratch, p, len, st->fold_case);
	fp_field(st, st->scratch.data, st->scratch.len);
}

/*
 * Tool calls as "name(arguments)" lines: the ids that tie a call to its
 * result are generated by whoever wrote the data and say nothing of it.
 */
static void
fp_tool_calls(FpState *st, const FtMessage *m)
{
	StringInfoData calls;
	Jsonb	   *jb;
	int			n;

	initStringInfo(&calls);
	if (m->flags & FT_MSG_HAS_TOOL_CALLS)
	{
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												CStringGetDatum(pnstrdup(m->tool_calls.p,
																		 m->tool_calls.len))));
		n = JsonContainerSize(&jb->root);
		for (int i = 0; i < n; i++)
		{
			JsonbValue *call = getIthJsonbValueFromContainer(&jb->root, i);
			JsonbValue *f;
			JsonbValue *name = NULL;
			JsonbValue *args = NULL;

			if (call->type != jbvBinary)
				continue;
			f = getKeyJsonValueFromContainer(call->val.binary.data, "function", 8, NULL);
			if (f != NULL && f->type == jbvBinary)
			{
				name = getKeyJsonValueFromContainer(f->val.binary.data, "name", 4, NULL);
				args = getKeyJsonValueFromContainer(f->val.binary.data, "arguments", 9, NULL);
			}
			if (i > 0)
				appendStringInfoChar(&calls, '\n');
			if (name && name->type == jbvString)
				appendBinaryStringInfo(&calls, name->val.string.val, name->val.string.len);
			appendStringInfoChar(&calls, '(');
			if (args && args->type == jbvString)
				appendBinaryStringInfo(&calls, args->val.string.val, args->val.string.len);
			appendStringInfoChar(&calls, ')');
		}
	}
	fp_text(st, calls.data, calls.len);
	pfree(calls.data);
}

void
ft_fingerprint(const FtSample *s, bool fold_case, uint8 *out)
{
	FpState		st;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	int			n = FtSampleMessageCount(s);
	StringInfoData text;

	st.ctx = pg_cryptohash_create(PG_SHA256);
	st.fold_case = fold_case;
	initStringInfo(&st.scratch);
	initStringInfo(&text);
	if (pg_cryptohash_init(st.ctx) < 0)
		elog(ERROR, "could not initialize SHA-256 context: %s",
			 pg_cryptohash_error(st.ctx));

	fp_cstr(&st, FP_TAG);
	fp_cstr(&st, ft_kind_name(s->kind));
	for (int i = 0; i < n; i++)
	{
		const FtMessage *m = &s->messages[i];

		fp_cstr(&st, i < s->nprompt ? "prompt" :
				i < s->nprompt + s->nchosen ? "chosen" : "rejected");
		fp_cstr(&st, ft_role_name(m->role));
		resetStringInfo(&text);
		ft_message_text(&text, m);
		fp_text(&st, text.data, text.len);
		fp_tool_calls(&st, m);
		resetStringInfo(&text);
		for (int j = 0; j < m->nparts; j++)
		{
			if (!FtStrIsSet(m->parts[j].json))
				continue;
			if (text.len > 0)
				appendStringInfoChar(&text, '\n');
			appendBinaryStringInfo(&text, m->parts[j].json.p, m->parts[j].json.len);
		}
		fp_text(&st, text.data, text.len);
	}
	fp_cstr(&st, "tools");
	if (s->flags & FT_SAMPLE_HAS_TOOLS)
		fp_text(&st, s->tools.p, s->tools.len);
	else
		fp_field(&st, "", 0);
	for (int k = 0; k < FT_NUM_MEDIA; k++)
	{
		fp_cstr(&st, ft_media_key(k));
		for (int j = 0; j < s->nmedia[k]; j++)
			fp_field(&st, s->media[k][j].p, s->media[k][j].len);
	}

	if (pg_cryptohash_final(st.ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not finalize SHA-256 context: %s",
			 pg_cryptohash_error(st.ctx));
	pg_cryptohash_free(st.ctx);
	memcpy(out, digest, FT_FINGERPRINT_LEN);
}

static Datum
fingerprint_datum(Datum sample, bool fold_case)
{
	bytea	   *result = palloc(VARHDRSZ + FT_FINGERPRINT_LEN);

	SET_VARSIZE(result, VARHDRSZ + FT_FINGERPRINT_LEN);
	ft_fingerprint(ft_sample_from_datum(sample), fold_case,
				   (uint8 *) VARDATA(result));
	return PointerGetDatum(result);
}

/* ftstore.fingerprint(ftsample): the default, case-sensitive fingerprint. */
Datum
ftsample_fingerprint(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(fingerprint_datum(PG_GETARG_DATUM(0), false));
}

/* ftstore.fingerprint(ftsample, fold_case boolean) */
Datum
ftsample_fingerprint_opts(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(fingerprint_datum(PG_GETARG_DATUM(0), PG_GETARG_BOOL(1)));
}

/* ftstore.normalize_text(text, fold_case): the normalisation, for checking. */
Datum
ftstore_normalize_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	StringInfoData buf;

	initStringInfo(&buf);
	normalize_text(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), PG_GETARG_BOOL(1));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
