/*-------------------------------------------------------------------------
 *
 * tokens.c
 *	  An approximate token count for byte-pair-encoding tokenizers such as
 *	  OpenAI's cl100k, without the tokenizer's vocabulary.
 *
 * Fine-tuning services truncate or refuse examples over a token limit, so
 * validation must tell which records are near it.  Shipping a vocabulary
 * and a BPE implementation would be exact but heavy; a character-class
 * estimate is enough to sort records into "far below", "near" and "over".
 * The rule, documented in docs/validation.md, is:
 *
 *	- a Han, Kana or Hangul character is one token;
 *	- a word (a run of letters, Latin or not) is one token per four
 *	  characters, rounded up;
 *	- a run of digits is one token per three digits, rounded up;
 *	- white space is free (BPE merges it into the next word);
 *	- any other character (punctuation, symbols, emoji, control and
 *	  zero-width characters, bytes that are not valid UTF-8) is one token.
 *
 * ft_estimate_tokens(p, len), declared in ftsample.h, reads len bytes of
 * UTF-8 at p, not necessarily NUL-terminated.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "sample/ftsample.h"

PG_FUNCTION_INFO_V1(ftstore_estimate_tokens);

/*
 * Decode one UTF-8 character at p (at most len bytes).  Returns its length
 * in bytes and sets *cp; a byte that does not start a valid sequence comes
 * back as a one-byte character with *cp = -1.
 */
int
ft_utf8_next(const unsigned char *p, int len, int32 *cp)
{
	unsigned char c = p[0];
	int			n;
	int32		v;

	if (c < 0x80)
	{
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
	{
		n = 2;
		v = c & 0x1F;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		v = c & 0x0F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		v = c & 0x07;
	}
	else
	{
		*cp = -1;
		return 1;
	}
	if (n > len)
	{
		*cp = -1;
		return 1;
	}
	for (int i = 1; i < n; i++)
	{
		if ((p[i] & 0xC0) != 0x80)
		{
			*cp = -1;
			return 1;
		}
		v = (v << 6) | (p[i] & 0x3F);
	}
	*cp = v;
	return n;
}

/*
 * The class of code point c, or of an invalid byte when c < 0.  Exported
 * so that the facets scan (src/facets) can estimate tokens in the same
 * pass as it counts letters.
 */
FtCharClass
ft_char_class(int32 c)
{
	if (c < 0)
		return FT_CC_SYMBOL;
	if (c < 0x80)
	{
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			return FT_CC_WORD;
		if (c >= '0' && c <= '9')
			return FT_CC_DIGIT;
		if (c == ' ' || (c >= '\t' && c <= '\r'))
			return FT_CC_SPACE;
		return FT_CC_SYMBOL;
	}

	/* Han, Kana, Hangul: BPE vocabularies hold about one token each */
	if ((c >= 0x3040 && c <= 0x30FF) ||		/* Hiragana, Katakana */
		(c >= 0x31F0 && c <= 0x31FF) ||		/* Katakana extensions */
		(c >= 0x3400 && c <= 0x4DBF) ||		/* CJK extension A */
		(c >= 0x4E00 && c <= 0x9FFF) ||		/* CJK unified ideographs */
		(c >= 0xF900 && c <= 0xFAFF) ||		/* CJK compatibility */
		(c >= 0xFF66 && c <= 0xFF9F) ||		/* half-width Katakana */
		(c >= 0x20000 && c <= 0x3FFFF) ||	/* CJK extensions B and on */
		(c >= 0x1100 && c <= 0x11FF) ||		/* Hangul Jamo */
		(c >= 0x3130 && c <= 0x318F) ||		/* Hangul compatibility Jamo */
		(c >= 0xAC00 && c <= 0xD7AF))		/* Hangul syllables */
		return FT_CC_CJK;

	/* Unicode white space */
	if (c == 0x85 || c == 0xA0 || c == 0x1680 ||
		(c >= 0x2000 && c <= 0x200A) ||
		c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
		c == 0x3000)
		return FT_CC_SPACE;

	/* full-width digits tokenize like digits */
	if (c >= 0xFF10 && c <= 0xFF19)
		return FT_CC_DIGIT;

	/* punctuation and symbol blocks */
	if ((c >= 0x80 && c <= 0xBF) ||
		c == 0xD7 || c == 0xF7 ||
		(c >= 0x200B && c <= 0x2BFF) ||		/* general punctuation to misc
											 * symbols and arrows */
		(c >= 0x2E00 && c <= 0x2E7F) ||		/* supplemental punctuation */
		(c >= 0x3001 && c <= 0x303F) ||		/* CJK symbols and punctuation */
		(c >= 0xFE00 && c <= 0xFE0F) ||		/* variation selectors */
		(c >= 0xFE10 && c <= 0xFE6F) ||		/* CJK compatibility forms */
		c == 0xFEFF ||
		(c >= 0xFF01 && c <= 0xFF0F) ||
		(c >= 0xFF1A && c <= 0xFF20) ||
		(c >= 0xFF3B && c <= 0xFF40) ||
		(c >= 0xFF5B && c <= 0xFF65) ||
		(c >= 0xFFF0 && c <= 0xFFFF) ||		/* specials */
		(c >= 0x1F000 && c <= 0x1FAFF))		/* emoji and pictographs */
		return FT_CC_SYMBOL;

	/*
	 * Everything else is taken for a letter: Latin with diacritics, Greek,
	 * Cyrillic, Arabic, Indic scripts, combining marks.  Scripts written
	 * without spaces (Thai, say) are undercounted by this.
	 */
	return FT_CC_WORD;
}

/*
 * ft_char_class() of each ASCII character, filled on first use: most text is
 * ASCII, and a table lookup costs less than ft_char_class's comparisons.
 */
static FtCharClass ascii_class[128];
static bool ascii_class_ready = false;

static void
fill_ascii_class(void)
{
	for (int c = 0; c < 128; c++)
		ascii_class[c] = ft_char_class(c);
	ascii_class_ready = true;
}

int
ft_estimate_tokens(const char *p, int len)
{
	const unsigned char *s = (const unsigned char *) p;
	int64		tokens = 0;
	FtCharClass	run = FT_CC_SPACE;
	int64		runlen = 0;
	int			i = 0;

	if (unlikely(!ascii_class_ready))
		fill_ascii_class();
	while (i < len)
	{
		int32		c;
		FtCharClass	cls;

		if (s[i] < 0x80)
		{
			cls = ascii_class[s[i]];
			i++;
		}
		else
		{
			i += ft_utf8_next(s + i, len - i, &c);
			cls = ft_char_class(c);
		}

		if (cls == run && (cls == FT_CC_WORD || cls == FT_CC_DIGIT))
		{
			runlen++;
			continue;
		}
		tokens += ft_run_tokens(run, runlen);
		run = cls;
		runlen = 0;
		if (cls == FT_CC_WORD || cls == FT_CC_DIGIT)
			runlen = 1;
		else if (cls == FT_CC_CJK || cls == FT_CC_SYMBOL)
			tokens++;
	}
	tokens += ft_run_tokens(run, runlen);

	return (int) Min(tokens, (int64) PG_INT32_MAX);
}

/*
 * SQL: ftstore.estimate_tokens(text) RETURNS integer.  Text in another
 * server encoding is converted to UTF-8 first.
 */
Datum
ftstore_estimate_tokens(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *p = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	char	   *u;

	u = pg_server_to_any(p, len, PG_UTF8);
	if (u != p)
		len = strlen(u);
	PG_RETURN_INT32(ft_estimate_tokens(u, len));
}
