/*-------------------------------------------------------------------------
 *
 * facets.c
 *	  Facets derived from a sample: what curators slice their data by
 *	  (format, kind, roles, tools, media, turns, length, system prompt,
 *	  writing system and language), as jsonb, as text[] for BI tools, and
 *	  the operators @>, ?, ?| and ?& that answer over them.
 *
 * The keys and their values are a stable interface documented in
 * docs/facets.md.  A key is present only when it says something: the
 * booleans appear only when true and the media keys only when the sample
 * has media, so that key existence (?) means "has" and containment of
 * {"tools": true} agrees with it.
 *
 * The operators answer exactly as jsonb's would on ftstore.facets(sample).
 * The GIN operator class (gin.c) does not index that jsonb: it indexes a
 * packed signature of the facets plus the turn count and media counts,
 * and this file compiles a query into a predicate on the signature and
 * exact entries for the rest (see "Index entries" below).  Keeping both
 * here keeps the vocabulary in one place.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "facets/facets.h"
#include "sample/ftsample.h"

PG_FUNCTION_INFO_V1(ftsample_facets);
PG_FUNCTION_INFO_V1(ftsample_facet_array);
PG_FUNCTION_INFO_V1(ftsample_facets_contains);
PG_FUNCTION_INFO_V1(ftsample_facets_exists);
PG_FUNCTION_INFO_V1(ftsample_facets_exists_any);
PG_FUNCTION_INFO_V1(ftsample_facets_exists_all);

/* Writing systems, in the order that breaks ties between equal counts. */
enum
{
	SCRIPT_NONE = 0,
	SCRIPT_LATIN,
	SCRIPT_HAN,
	SCRIPT_KANA,
	SCRIPT_HANGUL,
	SCRIPT_CYRILLIC,
	SCRIPT_ARABIC,
	SCRIPT_DEVANAGARI,
	SCRIPT_OTHER,
	NUM_SCRIPTS
};

static const char *const script_names[NUM_SCRIPTS] = {
	"none", "latin", "han", "kana", "hangul", "cyrillic", "arabic",
	"devanagari", "other"
};

enum
{
	LANG_UND = 0,
	LANG_EN,
	LANG_ZH,
	LANG_JA,
	LANG_KO,
	LANG_RU,
	LANG_AR,
	LANG_HI,
	NUM_LANGS
};

static const char *const lang_names[NUM_LANGS] = {
	"und", "en", "zh", "ja", "ko", "ru", "ar", "hi"
};

#define NUM_LENGTHS 4
static const char *const length_names[NUM_LENGTHS] = {
	"short", "medium", "long", "xlong"
};

/* Upper bounds (exclusive) of the length buckets, in estimated tokens. */
static const int length_limits[NUM_LENGTHS - 1] = {512, 2048, 8192};

static const char *const media_kind_names[FT_NUM_MEDIA] = {
	"image", "video", "audio"
};

/*
 * English function words.  Latin text is English when at least one word
 * in ten is one of these; docs/facets.md lists them, and the tests carry
 * their own copy.  Grouped by length so a word is compared only with
 * words as long as it.
 */
static const char *const stopwords_1[] = {"a", "i", NULL};
static const char *const stopwords_2[] = {
	"an", "as", "at", "be", "by", "do", "he", "if", "in", "is", "it",
	"no", "of", "on", "or", "so", "to", "we", NULL
};
static const char *const stopwords_3[] = {
	"all", "and", "are", "but", "can", "for", "had", "has", "her", "his",
	"how", "its", "not", "one", "she", "the", "was", "who", "you", NULL
};
static const char *const stopwords_4[] = {
	"also", "been", "does", "from", "have", "into", "more", "some", "than",
	"that", "them", "they", "this", "what", "when", "will", "with", "your",
	NULL
};
static const char *const stopwords_5[] = {
	"about", "other", "their", "there", "these", "which", "would", NULL
};
static const char *const *const stopwords_by_len[] = {
	NULL, stopwords_1, stopwords_2, stopwords_3, stopwords_4, stopwords_5
};

#define MAX_STOPWORD_LEN 5

StaticAssertDecl(NUM_SCRIPTS == FT_FACETS_SCRIPTS &&
				 NUM_LANGS == FT_FACETS_LANGS &&
				 NUM_LENGTHS == FT_FACETS_LENGTHS,
				 "facets.c and the stored facet block disagree");

/* Counters kept while reading a sample's text. */
typedef struct TextScan
{
	int64		letters[NUM_SCRIPTS];
	int64		words;
	int64		stopwords;
	int			wordlen;		/* ASCII letters in the current word */
	uint64		word;			/* its first letters, lower case, one a byte */
} TextScan;

/*
 * The stop words packed as scan_text packs a word (one lower-case letter a
 * byte, so that words of different lengths never pack alike), in an
 * open-addressed hash table: every word of every sample is looked up, and
 * a multiply and one or two integer compares cost less than walking the
 * list of its length.  Zero marks an empty slot; no word packs to zero.
 */
#define STOPWORD_SLOTS 256
static uint64 stopword_table[STOPWORD_SLOTS];
static bool stopwords_packed_ready = false;

static inline int
stopword_slot(uint64 word)
{
	return (int) ((word * UINT64CONST(0x9E3779B97F4A7C15)) >> 56);
}

static inline bool
is_stopword(uint64 word)
{
	for (int i = stopword_slot(word);; i = (i + 1) & (STOPWORD_SLOTS - 1))
	{
		if (stopword_table[i] == word)
			return true;
		if (stopword_table[i] == 0)
			return false;
	}
}

/*
 * ASCII bytes in the classes of the token estimate (ft_char_class), and
 * whether a byte is an ASCII letter (the word class, among ASCII), for
 * scan_text_tokens(); filled by pack_stopwords(), on first use too.
 */
static uint8 ascii_class[128];
static bool ascii_letter[256];

/* the table must stay at most half full, so that every probe ends soon */
StaticAssertDecl(lengthof(stopwords_1) + lengthof(stopwords_2) +
				 lengthof(stopwords_3) + lengthof(stopwords_4) +
				 lengthof(stopwords_5) <= STOPWORD_SLOTS / 2,
				 "too many stop words for the hash table");

static void
pack_stopwords(void)
{
	for (int len = 1; len <= MAX_STOPWORD_LEN; len++)
	{
		for (const char *const *w = stopwords_by_len[len]; *w; w++)
		{
			uint64		packed = 0;
			int			i;

			for (int k = 0; k < len; k++)
				packed |= (uint64) (unsigned char) (*w)[k] << (8 * k);
			for (i = stopword_slot(packed); stopword_table[i] != 0;
				 i = (i + 1) & (STOPWORD_SLOTS - 1))
				;
			stopword_table[i] = packed;
		}
	}
	for (int c = 0; c < 128; c++)
	{
		ascii_class[c] = (uint8) ft_char_class(c);
		ascii_letter[c] = (ascii_class[c] == FT_CC_WORD);
	}
	stopwords_packed_ready = true;
}

/* SWAR: eight bytes at a time, as one uint64 */
#define BYTES_HIGH		UINT64CONST(0x8080808080808080)
#define BYTES_EACH(b)	(UINT64CONST(0x0101010101010101) * (b))

/*
 * The bytes of w that are not ASCII letters, each flagged by its high bit.
 * With bit 0x20 set, a letter of either case lies in 'a' to 'z'; the high
 * bit is cleared before the two sums, so no byte carries into the next,
 * and put back as a mark of a byte that is not ASCII.
 */
static inline uint64
ascii_non_letters(uint64 w)
{
	uint64		low = (w | BYTES_EACH(0x20)) & ~BYTES_HIGH;
	uint64		from_a = low + BYTES_EACH(0x80 - 'a');
	uint64		past_z = low + BYTES_EACH(0x80 - 'z' - 1);

	return ((~from_a | past_z) | w) & BYTES_HIGH;
}

static int
script_of(pg_wchar cp)
{
	if ((cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) ||
		(cp >= 0x1E00 && cp <= 0x1EFF))
		return SCRIPT_LATIN;
	if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
		(cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2FFFF))
		return SCRIPT_HAN;
	if ((cp >= 0x3041 && cp <= 0x30FF && cp != 0x30FB) ||
		(cp >= 0x31F0 && cp <= 0x31FF) || (cp >= 0xFF66 && cp <= 0xFF9F))
		return SCRIPT_KANA;
	if ((cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) ||
		(cp >= 0x3131 && cp <= 0x318E))
		return SCRIPT_HANGUL;
	if (cp >= 0x400 && cp <= 0x52F)
		return SCRIPT_CYRILLIC;
	if ((cp >= 0x620 && cp <= 0x64A) || (cp >= 0x66E && cp <= 0x6D3) ||
		(cp >= 0x750 && cp <= 0x77F) || (cp >= 0x8A0 && cp <= 0x8FF) ||
		(cp >= 0xFB50 && cp <= 0xFDFF) || (cp >= 0xFE70 && cp <= 0xFEFF))
		return SCRIPT_ARABIC;
	if (cp >= 0x904 && cp <= 0x939)
		return SCRIPT_DEVANAGARI;
	/* Greek, Armenian, Hebrew, other Indic, Thai, Lao, Georgian */
	if ((cp >= 0x370 && cp <= 0x3FF) || (cp >= 0x531 && cp <= 0x5FF) ||
		(cp >= 0x980 && cp <= 0xEFF) || (cp >= 0x10A0 && cp <= 0x10FF))
		return SCRIPT_OTHER;
	return SCRIPT_NONE;
}

static inline void
end_word(TextScan *ts)
{
	if (ts->wordlen == 0)
		return;
	ts->words++;
	if (ts->wordlen <= MAX_STOPWORD_LEN && is_stopword(ts->word))
		ts->stopwords++;
	ts->wordlen = 0;
	ts->word = 0;
}

/*
 * Count the letters of len bytes of UTF-8 by writing system, and the
 * English function words among its ASCII words.  The text comes from the
 * database, so it is valid UTF-8; a truncated sequence at the end is
 * ignored rather than read past.
 */
static void
scan_text(TextScan *ts, const char *p, int len)
{
	const unsigned char *s = (const unsigned char *) p;
	const unsigned char *end = s + len;

	while (s < end)
	{
		unsigned char c = *s;
		int			l;

		if (c < 0x80)
		{
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			{
				ts->letters[SCRIPT_LATIN]++;
				if (ts->wordlen < MAX_STOPWORD_LEN)
					ts->word |= (uint64) (c | 0x20) << (8 * ts->wordlen);
				/* a longer word can only miss the list; keep counting */
				if (ts->wordlen <= MAX_STOPWORD_LEN)
					ts->wordlen++;
			}
			else if (ts->wordlen > 0)
				end_word(ts);
			s++;
			continue;
		}
		end_word(ts);
		l = pg_utf_mblen(s);
		if (l > end - s)
			break;
		ts->letters[script_of(utf8_to_unicode(s))]++;
		s += l;
	}
	end_word(ts);
}

/*
 * scan_text() and ft_estimate_tokens() of the same text in one pass: both
 * run over every message of every sample at load time, and reading the
 * text once costs about half of reading it twice.  Adds the estimate to
 * *tokens.
 *
 * The two rules step over bytes that are not well-formed UTF-8 in
 * different ways, so on meeting such a sequence this gives up, leaves *ts
 * and *tokens as they were and returns false; the caller then applies each
 * rule on its own.  Text that came through the JSON parser never has one.
 */
static bool
scan_text_tokens(TextScan *ts, const char *p, int len, int64 *tokens)
{
	const unsigned char *s = (const unsigned char *) p;
	const unsigned char *end = s + len;
	TextScan	saved = *ts;
	FtCharClass run = FT_CC_SPACE;
	int64		runlen = 0;
	int64		tok = 0;

	while (s < end)
	{
		unsigned char c = *s;
		FtCharClass cls;

		if (c < 0x80)
		{
			cls = (FtCharClass) ascii_class[c];
			if (cls == FT_CC_WORD)
			{
				/*
				 * A run of ASCII letters is one whole word of scan_text()
				 * (whatever ends it ends the word) and part of a word run
				 * of the token rule (which non-ASCII letters continue).
				 */
				const unsigned char *w = s;
				uint64		word = 0;
				int			wlen;

#ifndef WORDS_BIGENDIAN
				if (end - s >= 8)
				{
					/* most words end within eight bytes: find where */
					uint64		bytes;
					uint64		others;
					int			n;

					memcpy(&bytes, s, 8);
					others = ascii_non_letters(bytes);
					n = others ? pg_rightmost_one_pos64(others) / 8 : 8;
					if (n < 8)
					{
						/* the letters, lowered, are the packed word */
						word = (bytes | BYTES_EACH(0x20)) &
							((UINT64CONST(1) << (8 * n)) - 1);
						s += n;
					}
				}
				if (s == w)
#endif
				{
					/* pack the first letters, enough to tell a stop word */
					do
					{
						word |= (uint64) (*s | 0x20) << (8 * (s - w));
						s++;
					} while (s - w <= MAX_STOPWORD_LEN && s < end &&
							 ascii_letter[*s]);
					while (s < end && ascii_letter[*s])
						s++;
				}
				wlen = s - w;
				ts->letters[SCRIPT_LATIN] += wlen;
				ts->wordlen = Min(wlen, MAX_STOPWORD_LEN + 1);
				ts->word = word;
				end_word(ts);
				if (run == FT_CC_WORD)
					runlen += wlen;
				else
				{
					tok += ft_run_tokens(run, runlen);
					run = FT_CC_WORD;
					runlen = wlen;
				}
				continue;
			}
			/* no word is open here: each ends with its run of letters */
			s++;
		}
		else
		{
			int32		cp;
			int			n = ft_utf8_next(s, end - s, &cp);

			if (cp < 0)
			{
				*ts = saved;
				return false;
			}
			ts->letters[script_of((pg_wchar) cp)]++;
			cls = ft_char_class(cp);
			s += n;
		}

		/* the token rule, as in ft_estimate_tokens() */
		if (cls == run && (cls == FT_CC_WORD || cls == FT_CC_DIGIT))
		{
			runlen++;
			continue;
		}
		tok += ft_run_tokens(run, runlen);
		run = cls;
		runlen = 0;
		if (cls == FT_CC_WORD || cls == FT_CC_DIGIT)
			runlen = 1;
		else if (cls == FT_CC_CJK || cls == FT_CC_SYMBOL)
			tok++;
	}
	tok += ft_run_tokens(run, runlen);
	*tokens += Min(tok, (int64) PG_INT32_MAX);
	return true;
}

/*
 * The facets of a decoded sample.  layout.c keeps what this computes in
 * the stored form, so a change to these rules must bump FT_FACETS_VERSION.
 */
void
ft_compute_facets(const FtSample *s, FtFacets *f)
{
	int			n = FtSampleMessageCount(s);
	int64		tokens = (s->kind == FT_KIND_TEXT) ? 0 : 3;
	TextScan	ts;
	StringInfoData buf;
	bool		have_buf = false;
	int			best;

	memset(f, 0, sizeof(FtFacets));
	memset(&ts, 0, sizeof(TextScan));
	if (!stopwords_packed_ready)
		pack_stopwords();
	f->format = s->format;
	f->kind = s->kind;

	/* tools offered: an empty list ([] in ShareGPT's string) offers none */
	f->tools = (s->flags & FT_SAMPLE_HAS_TOOLS) != 0 &&
		!(s->tools.len == 2 && memcmp(s->tools.p, "[]", 2) == 0);
	if (f->tools)
		tokens += ft_estimate_tokens(s->tools.p, s->tools.len);
	for (int k = 0; k < FT_NUM_MEDIA; k++)
		f->nmedia[k] = s->nmedia[k];

	for (int i = 0; i < n; i++)
	{
		const FtMessage *m = &s->messages[i];
		const char *text = NULL;
		int			len = 0;

		if (m->role >= 1 && m->role <= FT_ROLE_MAX)
			f->roles |= (uint8) (1 << (m->role - 1));
		if (m->role == FT_ROLE_SYSTEM || m->role == FT_ROLE_DEVELOPER)
			f->system = true;
		/* the same rule as ftstore.turns() */
		if (i < s->nprompt + s->nchosen && m->role != FT_ROLE_SYSTEM &&
			m->role != FT_ROLE_DEVELOPER && m->role != FT_ROLE_TEXT)
			f->turns++;
		if (m->flags & FT_MSG_HAS_TOOL_CALLS)
		{
			if (!(m->tool_calls.len == 2 && memcmp(m->tool_calls.p, "[]", 2) == 0))
				f->tool_calls = true;
			tokens += ft_estimate_tokens(m->tool_calls.p, m->tool_calls.len);
		}
		if (m->role != FT_ROLE_TEXT)
			tokens += 3;

		/* the text of ft_message_text(), copied only when it has parts */
		if (m->flags & FT_MSG_CONTENT_PARTS)
		{
			if (!have_buf)
				initStringInfo(&buf);
			have_buf = true;
			resetStringInfo(&buf);
			ft_message_text(&buf, m);
			text = buf.data;
			len = buf.len;
		}
		else if (!(m->flags & FT_MSG_CONTENT_NULL))
		{
			text = m->content.p;
			len = m->content.len;
		}
		if (!scan_text_tokens(&ts, text, len, &tokens))
		{
			tokens += ft_estimate_tokens(text, len);
			scan_text(&ts, text, len);
		}
	}
	if (have_buf)
		pfree(buf.data);

	/* the same estimate as ftstore.token_count(), bucketed */
	f->length = 0;
	while (f->length < NUM_LENGTHS - 1 && tokens >= length_limits[f->length])
		f->length++;

	/* letters[SCRIPT_NONE] counts what is no letter: it never wins */
	best = SCRIPT_NONE;
	for (int k = SCRIPT_LATIN; k < NUM_SCRIPTS; k++)
	{
		if (ts.letters[k] > (best == SCRIPT_NONE ? 0 : ts.letters[best]))
			best = k;
	}
	f->script = best;

	switch (best)
	{
		case SCRIPT_LATIN:
			f->lang = (ts.words > 0 && ts.stopwords * 10 >= ts.words) ?
				LANG_EN : LANG_UND;
			break;
		case SCRIPT_HAN:
		case SCRIPT_KANA:

			/*
			 * Japanese writes Han and Kana together; Chinese has no Kana.
			 * One Kana letter in ten tells them apart.
			 */
			f->lang = (ts.letters[SCRIPT_KANA] * 10 >=
					   ts.letters[SCRIPT_HAN] + ts.letters[SCRIPT_KANA]) ?
				LANG_JA : LANG_ZH;
			break;
		case SCRIPT_HANGUL:
			f->lang = LANG_KO;
			break;
		case SCRIPT_CYRILLIC:
			f->lang = LANG_RU;
			break;
		case SCRIPT_ARABIC:
			f->lang = LANG_AR;
			break;
		case SCRIPT_DEVANAGARI:
			f->lang = LANG_HI;
			break;
		default:
			f->lang = LANG_UND;
			break;
	}
}

/*
 * The facets of a stored sample: read from the facet block in its first
 * bytes, so only a slice is detoasted and nothing is decompressed, or
 * computed from the whole sample when it was stored without a block of
 * the current facets version.
 */
static void
facets_of_datum(Datum d, FtFacets *f)
{
	struct varlena *head;

	/* padding too: the memo hashes and compares the struct as bytes */
	memset(f, 0, sizeof(FtFacets));
	head = (struct varlena *) PG_DETOAST_DATUM_SLICE(d, 0, FT_HEADER_SLICE);
	if (!ft_header_facets(head, f))
		ft_compute_facets(ft_sample_from_datum(d), f);
	if ((Pointer) head != DatumGetPointer(d))
		pfree(head);
}

/* ----------------------------------------------------------------
 * Spelling the facets as jsonb and as text[]
 * ----------------------------------------------------------------
 */

static void
push_key(JsonbParseState **st, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &v);
}

static void
push_string(JsonbParseState **st, JsonbIteratorToken tok, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	pushJsonbValue(st, tok, &v);
}

static void
push_int(JsonbParseState **st, int n)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(n);
	pushJsonbValue(st, WJB_VALUE, &v);
}

static void
push_true(JsonbParseState **st)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = true;
	pushJsonbValue(st, WJB_VALUE, &v);
}

static Jsonb *
facets_jsonb(const FtFacets *f)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;
	bool		has_media = false;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	push_key(&st, "format");
	push_string(&st, WJB_VALUE, ft_format_name(f->format));
	push_key(&st, "kind");
	push_string(&st, WJB_VALUE, ft_kind_name(f->kind));
	if (f->roles)
	{
		push_key(&st, "roles");
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (int r = 1; r <= FT_ROLE_MAX; r++)
			if (f->roles & (1 << (r - 1)))
				push_string(&st, WJB_ELEM, ft_role_name(r));
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	}
	push_key(&st, "turns");
	push_int(&st, f->turns);
	push_key(&st, "length");
	push_string(&st, WJB_VALUE, length_names[f->length]);
	push_key(&st, "script");
	push_string(&st, WJB_VALUE, script_names[f->script]);
	push_key(&st, "lang");
	push_string(&st, WJB_VALUE, lang_names[f->lang]);
	if (f->tools)
	{
		push_key(&st, "tools");
		push_true(&st);
	}
	if (f->tool_calls)
	{
		push_key(&st, "tool_calls");
		push_true(&st);
	}
	if (f->system)
	{
		push_key(&st, "system");
		push_true(&st);
	}
	for (int k = 0; k < FT_NUM_MEDIA; k++)
	{
		if (f->nmedia[k] > 0)
		{
			push_key(&st, ft_media_key(k));
			push_int(&st, f->nmedia[k]);
			has_media = true;
		}
	}
	if (has_media)
	{
		push_key(&st, "media");
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (int k = 0; k < FT_NUM_MEDIA; k++)
			if (f->nmedia[k] > 0)
				push_string(&st, WJB_ELEM, media_kind_names[k]);
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* ftstore.facets(ftsample): the facets as jsonb. */
/*
 * Spelled facets, memoised.  Samples share few distinct facet values (some
 * thousands on the shared corpus, against millions of samples), and the
 * jsonb and text[] of a value cost several times what reading it from the
 * stored form does, so each backend keeps those it spelled, keyed by the
 * whole FtFacets.  The memo is dropped when it reaches MEMO_MAX entries, so
 * it never holds more than a few megabytes.
 */
#define MEMO_MAX	8192

typedef struct MemoEntry
{
	FtFacets	key;			/* zero-padded: hashed and compared as bytes */
	Jsonb	   *jsonb;			/* NULL until first asked for */
	ArrayType  *array;			/* likewise */
} MemoEntry;

static HTAB *memo = NULL;
static MemoryContext memo_cxt = NULL;

static MemoEntry *
memo_entry(const FtFacets *f)
{
	MemoEntry  *e;
	bool		found;

	if (memo != NULL && hash_get_num_entries(memo) >= MEMO_MAX)
	{
		MemoryContextReset(memo_cxt);
		memo = NULL;
	}
	if (memo == NULL)
	{
		HASHCTL		ctl;

		if (memo_cxt == NULL)
			memo_cxt = AllocSetContextCreate(TopMemoryContext,
											 "ftstore facets memo",
											 ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = sizeof(FtFacets);
		ctl.entrysize = sizeof(MemoEntry);
		ctl.hcxt = memo_cxt;
		memo = hash_create("ftstore facets memo", 256, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(memo, f, HASH_ENTER, &found);
	if (!found)
	{
		e->jsonb = NULL;
		e->array = NULL;
	}
	return e;
}

/* A copy of p, of size bytes, in the current memory context. */
static void *
copy_out(const void *p, Size size)
{
	void	   *r = palloc(size);

	memcpy(r, p, size);
	return r;
}

/* ftstore.facets(ftsample): the facets as jsonb. */
Datum
ftsample_facets(PG_FUNCTION_ARGS)
{
	FtFacets	f;
	MemoEntry  *e;

	facets_of_datum(PG_GETARG_DATUM(0), &f);
	e = memo_entry(&f);
	if (e->jsonb == NULL)
	{
		Jsonb	   *j = facets_jsonb(&f);

		e->jsonb = MemoryContextAlloc(memo_cxt, VARSIZE(j));
		memcpy(e->jsonb, j, VARSIZE(j));
	}
	PG_RETURN_JSONB_P(copy_out(e->jsonb, VARSIZE(e->jsonb)));
}

static void
add_pair(ArrayBuildState *astate, const char *key, const char *value)
{
	char	   *s = psprintf("%s=%s", key, value);

	accumArrayResult(astate, PointerGetDatum(cstring_to_text(s)), false,
					 TEXTOID, CurrentMemoryContext);
	pfree(s);
}

/*
 * ftstore.facet_array(ftsample): the same facets as 'key=value' strings,
 * one per array element, in the order of the keys in docs/facets.md.
 */
static ArrayType *
facet_array(const FtFacets *fp)
{
	FtFacets	f = *fp;
	ArrayBuildState *astate;
	char		num[32];

	astate = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	add_pair(astate, "format", ft_format_name(f.format));
	add_pair(astate, "kind", ft_kind_name(f.kind));
	for (int r = 1; r <= FT_ROLE_MAX; r++)
		if (f.roles & (1 << (r - 1)))
			add_pair(astate, "roles", ft_role_name(r));
	snprintf(num, sizeof(num), "%d", f.turns);
	add_pair(astate, "turns", num);
	add_pair(astate, "length", length_names[f.length]);
	add_pair(astate, "script", script_names[f.script]);
	add_pair(astate, "lang", lang_names[f.lang]);
	if (f.tools)
		add_pair(astate, "tools", "true");
	if (f.tool_calls)
		add_pair(astate, "tool_calls", "true");
	if (f.system)
		add_pair(astate, "system", "true");
	for (int k = 0; k < FT_NUM_MEDIA; k++)
	{
		if (f.nmedia[k] > 0)
		{
			snprintf(num, sizeof(num), "%d", f.nmedia[k]);
			add_pair(astate, ft_media_key(k), num);
		}
	}
	for (int k = 0; k < FT_NUM_MEDIA; k++)
		if (f.nmedia[k] > 0)
			add_pair(astate, "media", media_kind_names[k]);
	return DatumGetArrayTypeP(makeArrayResult(astate, CurrentMemoryContext));
}

Datum
ftsample_facet_array(PG_FUNCTION_ARGS)
{
	FtFacets	f;
	MemoEntry  *e;

	facets_of_datum(PG_GETARG_DATUM(0), &f);
	e = memo_entry(&f);
	if (e->array == NULL)
	{
		ArrayType  *a = facet_array(&f);

		e->array = MemoryContextAlloc(memo_cxt, VARSIZE(a));
		memcpy(e->array, a, VARSIZE(a));
	}
	PG_RETURN_ARRAYTYPE_P(copy_out(e->array, VARSIZE(e->array)));
}

/* ----------------------------------------------------------------
 * Index entries
 *
 * A sample gives the GIN index at most five int8 entries:
 *
 *	- its signature: every facet but the counts, packed into one value
 *	  (layout below).  Samples share few signatures (a few hundred on the
 *	  shared corpus), so one entry per sample stands for a dozen facets.
 *	- its turn count;
 *	- one count per kind of media it has.
 *
 * A query on the signature is a partial match over the range of signature
 * entries: the index visits each distinct signature once, keeps those
 * the predicate accepts and reads only their posting lists.  The entries
 * are exact, not hashes, so no answer needs a recheck.
 * ----------------------------------------------------------------
 */

#define TAG_SHIFT		56
#define TAG_SIGNATURE	UINT64CONST(1)
#define TAG_TURNS		UINT64CONST(2)
#define TAG_MEDIA		UINT64CONST(3)
#define TAG_BITS(tag)	((tag) << TAG_SHIFT)
#define TAG_OF(e)		((uint64) (e) >> TAG_SHIFT)

#define SIG_FORMAT_SHIFT	0	/* 3 bits */
#define SIG_KIND_SHIFT		3	/* 3 bits */
#define SIG_ROLES_SHIFT		6	/* 7 bits, one per role */
#define SIG_TOOLS			(UINT64CONST(1) << 13)
#define SIG_TOOL_CALLS		(UINT64CONST(1) << 14)
#define SIG_SYSTEM			(UINT64CONST(1) << 15)
#define SIG_MEDIA_SHIFT		16	/* 3 bits, one per kind of media */
#define SIG_LENGTH_SHIFT	19	/* 2 bits */
#define SIG_SCRIPT_SHIFT	21	/* 4 bits */
#define SIG_LANG_SHIFT		25	/* 4 bits */
#define SIG_ALWAYS			TAG_BITS(TAG_SIGNATURE)

#define FIELD(shift, bits)	(((UINT64CONST(1) << (bits)) - 1) << (shift))
#define SIG_ROLES			FIELD(SIG_ROLES_SHIFT, 7)
#define SIG_MEDIA			FIELD(SIG_MEDIA_SHIFT, 3)

StaticAssertDecl(FT_FORMAT_MAX < 8 && FT_KIND_MAX < 8 && FT_ROLE_MAX <= 7,
				 "signature fields too narrow");
StaticAssertDecl(NUM_SCRIPTS <= 16 && NUM_LANGS <= 16 && NUM_LENGTHS <= 4,
				 "signature fields too narrow");

/* Strategy numbers: jsonb's, so that the operators read alike. */
#define FT_FACETS_CONTAINS		7
#define FT_FACETS_EXISTS		9
#define FT_FACETS_EXISTS_ANY	10
#define FT_FACETS_EXISTS_ALL	11

#define MAX_CONDS				16

/*
 * A query on the signature: (sig & mask) == value, and then each of the
 * conditions (sig & cond) != 0, all of them or, for ?|, any.
 */
struct FtFacetQuery
{
	uint64		mask;
	uint64		value;
	bool		any;
	int			nconds;
	uint64		conds[MAX_CONDS];
};


static uint64
signature_of(const FtFacets *f)
{
	uint64		sig = SIG_ALWAYS;

	sig |= (uint64) f->format << SIG_FORMAT_SHIFT;
	sig |= (uint64) f->kind << SIG_KIND_SHIFT;
	sig |= (uint64) f->roles << SIG_ROLES_SHIFT;
	if (f->tools)
		sig |= SIG_TOOLS;
	if (f->tool_calls)
		sig |= SIG_TOOL_CALLS;
	if (f->system)
		sig |= SIG_SYSTEM;
	for (int k = 0; k < FT_NUM_MEDIA; k++)
		if (f->nmedia[k] > 0)
			sig |= UINT64CONST(1) << (SIG_MEDIA_SHIFT + k);
	sig |= (uint64) f->length << SIG_LENGTH_SHIFT;
	sig |= (uint64) f->script << SIG_SCRIPT_SHIFT;
	sig |= (uint64) f->lang << SIG_LANG_SHIFT;
	return sig;
}

static Datum
turns_entry(int64 turns)
{
	return Int64GetDatum((int64) (TAG_BITS(TAG_TURNS) | (uint64) turns));
}

static Datum
media_entry(int kind, int64 count)
{
	return Int64GetDatum((int64) (TAG_BITS(TAG_MEDIA) |
								  ((uint64) kind << 32) | (uint64) count));
}

/* The entries of one sample; entries has room for FT_FACETS_MAX_ENTRIES. */
int
ft_facets_entries(Datum sample, Datum *entries)
{
	FtFacets		f;
	int			n = 0;

	facets_of_datum(sample, &f);
	entries[n++] = Int64GetDatum((int64) signature_of(&f));
	entries[n++] = turns_entry(f.turns);
	for (int k = 0; k < FT_NUM_MEDIA; k++)
		if (f.nmedia[k] > 0)
			entries[n++] = media_entry(k, f.nmedia[k]);
	return n;
}

static bool
signature_matches(const FtFacetQuery *q, uint64 sig)
{
	if ((sig & q->mask) != q->value)
		return false;
	for (int i = 0; i < q->nconds; i++)
	{
		bool		ok = (sig & q->conds[i]) != 0;

		if (q->any && ok)
			return true;
		if (!q->any && !ok)
			return false;
	}
	return !q->any;
}

/*
 * comparePartial for the signature range: 0 when the signature matches,
 * -1 to go on, 1 once past the last signature.
 */
int
ft_facets_compare_partial(const FtFacetQuery *q, Datum key)
{
	uint64		e = (uint64) DatumGetInt64(key);

	if (TAG_OF(e) != TAG_SIGNATURE)
		return 1;
	return signature_matches(q, e) ? 0 : -1;
}

static void
add_cond(FtFacetQuery *q, uint64 cond)
{
	for (int i = 0; i < q->nconds; i++)
		if (q->conds[i] == cond)
			return;
	/* there are fewer distinct conditions than facet keys */
	if (q->nconds >= MAX_CONDS)
		elog(ERROR, "too many facet conditions");
	q->conds[q->nconds++] = cond;
}

/* Index of a name in a table of n names; -1 when absent. */
static int
lookup(const char *const *names, int first, int n, const JsonbValue *v)
{
	if (v->type != jbvString)
		return -1;
	for (int i = first; i < n; i++)
	{
		if (names[i] && strlen(names[i]) == v->val.string.len &&
			memcmp(names[i], v->val.string.val, v->val.string.len) == 0)
			return i;
	}
	return -1;
}

static bool
key_is(const JsonbValue *k, const char *name)
{
	return strlen(name) == k->val.string.len &&
		memcmp(name, k->val.string.val, k->val.string.len) == 0;
}

/*
 * The condition on the signature under which a key is present in the
 * facets, or 0 when no facet has that key.
 */
static uint64
key_condition(const char *key, int len)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = len;
	if (key_is(&k, "format") || key_is(&k, "kind") || key_is(&k, "turns") ||
		key_is(&k, "length") || key_is(&k, "script") || key_is(&k, "lang"))
		return SIG_ALWAYS;
	if (key_is(&k, "roles"))
		return SIG_ROLES;
	if (key_is(&k, "tools"))
		return SIG_TOOLS;
	if (key_is(&k, "tool_calls"))
		return SIG_TOOL_CALLS;
	if (key_is(&k, "system"))
		return SIG_SYSTEM;
	if (key_is(&k, "media"))
		return SIG_MEDIA;
	for (int m = 0; m < FT_NUM_MEDIA; m++)
		if (key_is(&k, ft_media_key(m)))
			return UINT64CONST(1) << (SIG_MEDIA_SHIFT + m);
	return 0;
}

/*
 * A positive whole number that fits an int32 (facet counts are int), else
 * -1: a number that no facet can equal.
 */
static int64
whole_number(const JsonbValue *v)
{
	char	   *s;
	char	   *end;
	long long	n;

	if (v->type != jbvNumeric)
		return -1;
	/* normalized: no trailing zeros after the point, so 3.0 reads "3" */
	s = numeric_normalize(v->val.numeric);
	errno = 0;
	n = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0 || n < 0 || n > PG_INT32_MAX)
		return -1;
	return n;
}

/*
 * Read an array of names (roles, media) of a containment query into bits.
 * False when some element can be in no facet array.
 */
static bool
array_bits(const JsonbValue *v, const char *const *names, int first, int n,
		   int shift, uint64 *bits)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	bool		ok = true;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return false;
	*bits = 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		int			i;

		if (tok != WJB_ELEM)
			continue;
		i = lookup(names, first, n, &elem);
		if (i < 0)
			ok = false;
		else
			*bits |= UINT64CONST(1) << (shift + i - first);
	}
	return ok;
}

static const char *const role_table[FT_ROLE_MAX + 1] = {
	NULL, "system", "developer", "user", "assistant", "tool", "function",
	"text"
};

/*
 * Compile a containment query.  False when no sample's facets can
 * contain it.  The rules are jsonb's for a flat object: each query key
 * must be a facet key; a scalar must equal the facet's scalar (numbers by
 * value); an array must be matched by an array facet holding each of its
 * elements; an empty array asks only that the array be there.
 */
static bool
compile_contains(Jsonb *query, FtFacetQuery *q, Datum *entries,
				 int *nexact)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(query))
		return false;
	it = JsonbIteratorInit(&query->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		int			i;
		uint64		bits;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);

		if (key_is(&k, "format") || key_is(&k, "kind") ||
			key_is(&k, "length") || key_is(&k, "script") ||
			key_is(&k, "lang"))
		{
			uint64		field;
			int			shift;

			if (key_is(&k, "format"))
			{
				/* "auto" is an input hint, never a sample's format */
				i = -1;
				for (int f = FT_FORMAT_OPENAI; f <= FT_FORMAT_MAX; f++)
				{
					const char *name = ft_format_name(f);

					if (v.type == jbvString && strlen(name) == v.val.string.len &&
						memcmp(name, v.val.string.val, v.val.string.len) == 0)
						i = f;
				}
				shift = SIG_FORMAT_SHIFT;
				field = FIELD(shift, 3);
			}
			else if (key_is(&k, "kind"))
			{
				i = -1;
				for (int f = 1; f <= FT_KIND_MAX; f++)
				{
					const char *name = ft_kind_name(f);

					if (v.type == jbvString && strlen(name) == v.val.string.len &&
						memcmp(name, v.val.string.val, v.val.string.len) == 0)
						i = f;
				}
				shift = SIG_KIND_SHIFT;
				field = FIELD(shift, 3);
			}
			else if (key_is(&k, "length"))
			{
				i = lookup(length_names, 0, NUM_LENGTHS, &v);
				shift = SIG_LENGTH_SHIFT;
				field = FIELD(shift, 2);
			}
			else if (key_is(&k, "script"))
			{
				i = lookup(script_names, 0, NUM_SCRIPTS, &v);
				shift = SIG_SCRIPT_SHIFT;
				field = FIELD(shift, 4);
			}
			else
			{
				i = lookup(lang_names, 0, NUM_LANGS, &v);
				shift = SIG_LANG_SHIFT;
				field = FIELD(shift, 4);
			}
			if (i < 0)
				return false;
			q->mask |= field;
			q->value |= (uint64) i << shift;
		}
		else if (key_is(&k, "roles"))
		{
			if (!array_bits(&v, role_table, 1, FT_ROLE_MAX + 1,
							SIG_ROLES_SHIFT, &bits))
				return false;
			q->mask |= bits;
			q->value |= bits;
			add_cond(q, SIG_ROLES);
		}
		else if (key_is(&k, "media"))
		{
			if (!array_bits(&v, media_kind_names, 0, FT_NUM_MEDIA,
							SIG_MEDIA_SHIFT, &bits))
				return false;
			q->mask |= bits;
			q->value |= bits;
			add_cond(q, SIG_MEDIA);
		}
		else if (key_is(&k, "tools") || key_is(&k, "tool_calls") ||
				 key_is(&k, "system"))
		{
			/* present only when true */
			if (v.type != jbvBool || !v.val.boolean)
				return false;
			bits = key_condition(k.val.string.val, k.val.string.len);
			q->mask |= bits;
			q->value |= bits;
		}
		else if (key_is(&k, "turns"))
		{
			int64		n = whole_number(&v);

			if (n < 0)
				return false;
			entries[(*nexact)++] = turns_entry(n);
		}
		else
		{
			int			m;

			for (m = 0; m < FT_NUM_MEDIA; m++)
				if (key_is(&k, ft_media_key(m)))
					break;
			/* a key no facet has, or a media count of 0, which is omitted */
			if (m == FT_NUM_MEDIA || whole_number(&v) <= 0)
				return false;
			entries[(*nexact)++] = media_entry(m, whole_number(&v));
		}
	}
	return true;
}

/*
 * Compile a query for strategy into GIN entries.  Returns NULL, with no
 * entries, when nothing can match.  Otherwise the exact entries come
 * first and, when *partial, the last entry opens the range of signatures
 * and the returned predicate selects among them.
 */
FtFacetQuery *
ft_facets_query(int strategy, Datum query, Datum *entries, int *nentries,
				bool *partial)
{
	FtFacetQuery *q = palloc0(sizeof(FtFacetQuery));
	int			n = 0;

	*partial = false;
	*nentries = 0;
	if (strategy == FT_FACETS_CONTAINS)
	{
		if (!compile_contains(DatumGetJsonbP(query), q, entries, &n))
			return NULL;
		/* the signature range is needed unless exact entries say it all */
		if (q->mask == 0 && q->nconds == 0 && n > 0)
		{
			*nentries = n;
			return q;
		}
	}
	else if (strategy == FT_FACETS_EXISTS)
	{
		text	   *key = DatumGetTextPP(query);
		uint64		cond = key_condition(VARDATA_ANY(key),
										 VARSIZE_ANY_EXHDR(key));

		if (cond == 0)
			return NULL;
		add_cond(q, cond);
	}
	else if (strategy == FT_FACETS_EXISTS_ANY ||
			 strategy == FT_FACETS_EXISTS_ALL)
	{
		ArrayType  *keys = DatumGetArrayTypeP(query);
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;

		deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &nelems);
		q->any = (strategy == FT_FACETS_EXISTS_ANY);
		for (int i = 0; i < nelems; i++)
		{
			uint64		cond;

			/* jsonb's ?| and ?& pass over NULL keys */
			if (nulls[i])
				continue;
			cond = key_condition(VARDATA_ANY(DatumGetTextPP(elems[i])),
								 VARSIZE_ANY_EXHDR(DatumGetTextPP(elems[i])));
			if (cond == 0 && !q->any)
				return NULL;
			if (cond != 0)
				add_cond(q, cond);
		}
		/* ?| of no key that exists matches nothing; ?& of none, all */
		if (q->any && q->nconds == 0)
			return NULL;
	}
	else
		elog(ERROR, "unrecognized ftsample facet strategy %d", strategy);

	entries[n++] = Int64GetDatum((int64) TAG_BITS(TAG_SIGNATURE));
	*partial = true;
	*nentries = n;
	return q;
}

/* ----------------------------------------------------------------
 * Operators
 *
 * They answer as jsonb's operators would on ftstore.facets(sample), but
 * without building that jsonb: the query is compiled once per call site,
 * as for the index, and matched against the sample's index entries, which
 * come from the facet block of its stored form.  So a sequential scan
 * reads a slice of each sample and nothing more, and its answers are the
 * index's by construction; the tests compare both with jsonb's operators
 * on ftstore.facets().
 * ----------------------------------------------------------------
 */

/* A compiled query, kept in fn_extra while the query value stays. */
typedef struct CompiledQuery
{
	struct varlena *query;		/* a copy, to tell when it changes */
	FtFacetQuery *q;			/* NULL when nothing can match */
	Datum		entries[FT_FACETS_MAX_ENTRIES];
	int			nentries;
	bool		partial;		/* the last entry is the signature range */
} CompiledQuery;

static CompiledQuery *
compiled_query(FunctionCallInfo fcinfo, int strategy)
{
	CompiledQuery *cq = (CompiledQuery *) fcinfo->flinfo->fn_extra;
	struct varlena *query = PG_GETARG_VARLENA_PP(1);
	MemoryContext old;

	if (cq != NULL &&
		VARSIZE_ANY(cq->query) == VARSIZE_ANY(query) &&
		memcmp(cq->query, query, VARSIZE_ANY(query)) == 0)
		return cq;

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (cq == NULL)
		cq = palloc0(sizeof(CompiledQuery));
	else
		pfree(cq->query);
	cq->query = palloc(VARSIZE_ANY(query));
	memcpy(cq->query, query, VARSIZE_ANY(query));
	cq->q = ft_facets_query(strategy, PointerGetDatum(cq->query), cq->entries,
							&cq->nentries, &cq->partial);
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = cq;
	return cq;
}

/*
 * Whether the sample has every entry the query asks for: what GIN's
 * consistent function decides from the index (gin.c), for one sample.
 */
static bool
facets_match(FunctionCallInfo fcinfo, int strategy)
{
	CompiledQuery *cq = compiled_query(fcinfo, strategy);
	Datum		have[FT_FACETS_MAX_ENTRIES];
	int			nhave;

	if (cq->q == NULL || cq->nentries == 0)
		return false;
	nhave = ft_facets_entries(PG_GETARG_DATUM(0), have);
	for (int i = 0; i < cq->nentries; i++)
	{
		bool		found = false;

		if (cq->partial && i == cq->nentries - 1)
		{
			/* a sample has one signature entry */
			for (int j = 0; j < nhave && !found; j++)
				found = ft_facets_compare_partial(cq->q, have[j]) == 0;
		}
		else
		{
			for (int j = 0; j < nhave && !found; j++)
				found = DatumGetInt64(have[j]) == DatumGetInt64(cq->entries[i]);
		}
		if (!found)
			return false;
	}
	return true;
}

Datum
ftsample_facets_contains(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(facets_match(fcinfo, FT_FACETS_CONTAINS));
}

Datum
ftsample_facets_exists(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(facets_match(fcinfo, FT_FACETS_EXISTS));
}

Datum
ftsample_facets_exists_any(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(facets_match(fcinfo, FT_FACETS_EXISTS_ANY));
}

Datum
ftsample_facets_exists_all(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(facets_match(fcinfo, FT_FACETS_EXISTS_ALL));
}
