/*-------------------------------------------------------------------------
 *
 * bodycache.c
 *	  The uncompressed bodies of the samples this backend compressed last,
 *	  so that a value read back soon after it was written is not
 *	  decompressed again.
 *
 * Loading the managed store encodes each sample and then, for the same
 * row, decodes it again: the generated fingerprint column calls
 * ftstore.fingerprint(sample) on the value just written.  INSERT ... SELECT
 * does so row by row; an import parses a batch of samples and inserts the
 * batch, so the fingerprints are asked for in the order the samples were
 * encoded, a batch later.  Decompressing each value again took about a
 * fifth of the fingerprint's time.
 *
 * Each entry keeps a copy of the stored (compressed) value and of the body
 * it was compressed from.  A lookup compares the whole stored value byte
 * for byte, so a hit gives exactly the body decompression would: the
 * cache can change how fast a value is decoded, never what it decodes to.
 * The entries form a ring in the order they were written; a lookup tries
 * the few entries after its last hit, then the newest, which covers both
 * patterns above in constant time.  Memory is bounded by the entry count
 * and a byte budget; the oldest entries go first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "sample/ftsample.h"

/*
 * More entries than an import puts in one batch (BATCH_RECORDS in
 * src/etl/import.c), so that a whole batch's bodies are still here when
 * its insert asks for their fingerprints.
 */
#define CACHE_ENTRIES	1024

/* Bytes of copies kept at most, and the largest value worth keeping. */
#define CACHE_BUDGET	(8 * 1024 * 1024)
#define CACHE_MAX_VALUE	(256 * 1024)

/* Entries after the last hit that a lookup tries before the newest. */
#define CACHE_WINDOW	16

typedef struct BodyEntry
{
	char	   *stored;			/* the stored value's data, no header */
	Size		stored_len;
	char	   *body;			/* the body it was compressed from */
	Size		body_len;
} BodyEntry;

static MemoryContext cache_cxt = NULL;
static BodyEntry ring[CACHE_ENTRIES];
static int	newest = -1;		/* index of the newest entry */
static int	nentries = 0;
static Size cache_bytes = 0;
static int	last_hit = -1;

static void
evict_oldest(void)
{
	int			oldest;
	BodyEntry  *e;

	oldest = (newest - nentries + 1 + CACHE_ENTRIES) % CACHE_ENTRIES;
	e = &ring[oldest];

	cache_bytes -= e->stored_len + e->body_len;
	pfree(e->stored);
	e->stored = NULL;
	e->body = NULL;
	nentries--;
}

/*
 * Remember that the stored value whose data (varlena header excluded) is
 * the stored_len bytes at stored was compressed from the body_len bytes at
 * body.  Both are copied.
 */
void
ft_body_cache_put(const char *stored, Size stored_len,
				  const char *body, Size body_len)
{
	BodyEntry  *e;

	if (stored_len + body_len > CACHE_MAX_VALUE)
		return;
	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext,
										  "ftstore body cache",
										  ALLOCSET_DEFAULT_SIZES);
	while (nentries > 0 &&
		   (nentries == CACHE_ENTRIES ||
			cache_bytes + stored_len + body_len > CACHE_BUDGET))
		evict_oldest();

	newest = (newest + 1) % CACHE_ENTRIES;
	e = &ring[newest];
	e->stored = MemoryContextAlloc(cache_cxt, stored_len + body_len);
	e->body = e->stored + stored_len;
	memcpy(e->stored, stored, stored_len);
	memcpy(e->body, body, body_len);
	e->stored_len = stored_len;
	e->body_len = body_len;
	nentries++;
	cache_bytes += stored_len + body_len;
}

static inline bool
entry_matches(int i, const char *stored, Size stored_len)
{
	const BodyEntry *e = &ring[i];

	return e->stored != NULL && e->stored_len == stored_len &&
		memcmp(e->stored, stored, stored_len) == 0;
}

/*
 * The body the stored value (its data, header excluded) was compressed
 * from, as a palloc'd copy in the current memory context that the caller
 * may keep as long as it likes, with its length in *body_len; NULL when
 * the cache does not hold it.
 */
char *
ft_body_cache_get(const char *stored, Size stored_len, Size *body_len)
{
	int			hit = -1;
	char	   *copy;

	if (nentries == 0)
		return NULL;
	if (last_hit >= 0)
	{
		for (int k = 1; k <= CACHE_WINDOW && k <= nentries; k++)
		{
			int			i = (last_hit + k) % CACHE_ENTRIES;

			if (entry_matches(i, stored, stored_len))
			{
				hit = i;
				break;
			}
		}
	}
	if (hit < 0 && entry_matches(newest, stored, stored_len))
		hit = newest;
	if (hit < 0)
		return NULL;

	last_hit = hit;
	*body_len = ring[hit].body_len;
	copy = palloc(Max(ring[hit].body_len, 1));
	memcpy(copy, ring[hit].body, ring[hit].body_len);
	return copy;
}
