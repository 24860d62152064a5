/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  The local cache of cold blobs: one file per blob, named by its hash,
 *	  in ftstore.blob_cache_dir, kept under ftstore.blob_cache_size by
 *	  evicting the least recently used.
 *
 * A file's modification time is its last use: a hit touches it, and
 * eviction removes the oldest first.  Files are written to a temporary
 * name and renamed, so a reader (another backend) sees a whole file or
 * none; every hit is checked against the blob's hash anyway, and a file
 * that fails is removed and the blob fetched again.  The cache is an
 * optimisation only: a cache that cannot be written (full disk, a
 * directory that went read-only) costs a warning, never a failed read.
 *
 * A blob read from the cold tier is cached later rather than at once: its
 * bytes are kept aside, and the file is written while the service works
 * on the next fetch (the store's wait work), or, at the latest, when the
 * transaction commits.  Written at once, the file added its cost to every
 * cold read; written during the next request, it overlaps the service's
 * time.  A transaction that aborts drops the write it still held: the
 * cache is filled at the blob's next read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <utime.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "tier/tier.h"

typedef struct CacheEntry
{
	char	   *path;
	off_t		size;
	time_t		mtime;
} CacheEntry;

/*
 * What this backend believes the cache holds: the total found by its last
 * scan plus what it has written since.  Scanning the directory costs a
 * stat() per cached blob, so a backend scans only when its estimate passes
 * the limit, and then evicts down to EVICT_TO of the limit, so that a scan
 * pays for a tenth of the limit written at least.  Other backends' writes
 * are not counted, so the cache can outgrow its limit by that tenth for
 * each backend writing to it, until their next scans.
 */
#define EVICT_TO(limit)	((limit) / 10 * 9)

static uint64 cache_estimate = 0;
static char *cache_estimate_dir = NULL; /* the directory it is of */

/*
 * The write kept for later: a blob's bytes, in a buffer kept from blob to
 * blob (a fresh one would cost fresh pages), given back when it grew past
 * PENDING_KEEP.
 */
#define PENDING_KEEP	(64 * 1024 * 1024)
static StringInfoData pending;
static char pending_hex[FT_SHA256_HEX_LEN + 1];
static bool have_pending = false;
static bool xact_callback_set = false;

static char *
cache_dir(void)
{
	if (ft_blob_cache_dir && ft_blob_cache_dir[0])
		return ft_blob_cache_dir;
	return psprintf("%s/ftstore_blob_cache", DataDir);
}

/* Appends the cached bytes of a blob to out; false on a miss. */
bool
ft_cache_get(const char *hex, const uint8 *sha256, StringInfo out)
{
	char	   *path;
	int			fd;
	struct stat st;
	int			start = out->len;
	off_t		done = 0;
	uint8		got[FT_SHA256_LEN];

	if (ft_blob_cache_size <= 0)
		return false;
	if (have_pending && strcmp(pending_hex, hex) == 0)
		ft_cache_write_pending(NULL);
	path = psprintf("%s/%s", cache_dir(), hex);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) != 0 ||
		(Size) st.st_size >= MaxAllocSize - (Size) out->len - 1)
	{
		CloseTransientFile(fd);
		return false;
	}
	enlargeStringInfo(out, (int) st.st_size);
	while (done < st.st_size)
	{
		ssize_t		n = read(fd, out->data + out->len, st.st_size - done);

		if (n <= 0)
			break;
		done += n;
		out->len += n;
	}
	CloseTransientFile(fd);

	ft_sha256(out->data + start, out->len - start, got);
	if (done != st.st_size || memcmp(got, sha256, FT_SHA256_LEN) != 0)
	{
		ereport(LOG,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("removing damaged cache file \"%s\"", path)));
		unlink(path);
		out->len = start;
		out->data[start] = '\0';
		return false;
	}
	out->data[out->len] = '\0';
	/* the least recently used go first: this one was used now */
	(void) utime(path, NULL);
	return true;
}

static int
entry_cmp(const void *a, const void *b)
{
	const CacheEntry *x = a;
	const CacheEntry *y = b;

	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/*
 * Lists the cache and, when it is over its limit, removes the least
 * recently used files until it holds EVICT_TO of the limit.  Sets the
 * backend's estimate to what is left.
 */
static void
evict(const char *dir)
{
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;
	CacheEntry *entries = NULL;
	int			n = 0;
	int			cap = 0;
	uint64		total = 0;
	uint64		limit = (uint64) ft_blob_cache_size * 1024;

	while ((de = ReadDir(d, dir)) != NULL)
	{
		struct stat st;
		char	   *path;

		if (de->d_name[0] == '.')
			continue;
		path = psprintf("%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		{
			pfree(path);
			continue;
		}
		if (n == cap)
		{
			cap = cap ? cap * 2 : 64;
			entries = entries ? repalloc(entries, cap * sizeof(CacheEntry))
				: palloc(cap * sizeof(CacheEntry));
		}
		entries[n].path = path;
		entries[n].size = st.st_size;
		entries[n].mtime = st.st_mtime;
		total += st.st_size;
		n++;
	}
	FreeDir(d);

	if (total > limit)
	{
		qsort(entries, n, sizeof(CacheEntry), entry_cmp);
		for (int i = 0; i < n && total > EVICT_TO(limit); i++)
		{
			if (unlink(entries[i].path) == 0 || errno == ENOENT)
				total -= entries[i].size;
		}
	}
	cache_estimate = total;
}

/*
 * Caches a blob's bytes, then evicts when the cache may be over its limit.
 * Failures are warnings: the caller has the bytes already.  The file is
 * not synced: one damaged by a crash fails its hash at its next use, and
 * is removed and fetched again.
 *
 * XXX Each scan still lists the whole directory: with millions of cached
 * blobs a size counter in shared memory, and an LRU list beside it, would
 * be cheaper.
 */
void
ft_cache_put(const char *hex, const char *data, size_t len)
{
	char	   *dir;
	char	   *path;
	char	   *tmp;
	int			fd;
	size_t		done = 0;

	if (ft_blob_cache_size <= 0 || len > (uint64) ft_blob_cache_size * 1024)
		return;
	dir = cache_dir();
	path = psprintf("%s/%s", dir, hex);
	tmp = psprintf("%s/.tmp-%d-%s", dir, MyProcPid, hex);

	if (mkdir(dir, S_IRWXU) != 0 && errno != EEXIST)
		goto failed;
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		goto failed;
	while (done < len)
	{
		ssize_t		n = write(fd, data + done, len - done);

		if (n <= 0)
		{
			int			save_errno = (n < 0) ? errno : ENOSPC;

			CloseTransientFile(fd);
			unlink(tmp);
			errno = save_errno;
			goto failed;
		}
		done += n;
	}
	if (CloseTransientFile(fd) != 0 || rename(tmp, path) != 0)
	{
		int			save_errno = errno;

		unlink(tmp);
		errno = save_errno;
		goto failed;
	}
	if (cache_estimate_dir == NULL || strcmp(cache_estimate_dir, dir) != 0)
	{
		/* first write here: learn what the cache holds */
		if (cache_estimate_dir)
			pfree(cache_estimate_dir);
		cache_estimate_dir = MemoryContextStrdup(TopMemoryContext, dir);
		evict(dir);
	}
	else
	{
		cache_estimate += len;
		if (cache_estimate > (uint64) ft_blob_cache_size * 1024)
			evict(dir);
	}
	return;

failed:
	ereport(WARNING,
			(errcode_for_file_access(),
			 errmsg("could not cache blob %s in \"%s\": %m", hex, dir),
			 errdetail("The blob was read from the cold tier; only the cache is affected.")));
}

/*
 * Writes the blob kept by ft_cache_put_later, if any.  An FtObjectWaitWork,
 * so that a store runs it while a service works.
 */
void
ft_cache_write_pending(void *arg)
{
	if (!have_pending)
		return;
	have_pending = false;
	ft_cache_put(pending_hex, pending.data, pending.len);
	if (pending.maxlen > PENDING_KEEP)
	{
		pfree(pending.data);
		pending.data = NULL;
	}
}

/* Whether a write is kept for later. */
bool
ft_cache_has_pending(void)
{
	return have_pending;
}

/*
 * The pending write goes before the transaction commits (or prepares),
 * while an error can still abort it cleanly, and is dropped when it
 * aborts.
 */
static void
cache_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			ft_cache_write_pending(NULL);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			have_pending = false;
			break;
		default:
			break;
	}
}

/*
 * Caches a blob's bytes later: a copy is kept, and written by
 * ft_cache_write_pending, which a fetch gives the store as its wait work,
 * or at the latest before the transaction commits.  A write kept already
 * is done first.
 *
 * XXX The bytes are copied, since the caller's buffer becomes the row's
 * value; for a blob stored plain, pointing at the fetch's receive buffer
 * (with a second one to alternate with) would spare the copy.
 */
void
ft_cache_put_later(const char *hex, const char *data, size_t len)
{
	if (ft_blob_cache_size <= 0 || len > (uint64) ft_blob_cache_size * 1024)
		return;
	ft_cache_write_pending(NULL);
	if (len > PENDING_KEEP)
	{
		/* a copy of a blob this large would cost more than it saves */
		ft_cache_put(hex, data, len);
		return;
	}
	if (!xact_callback_set)
	{
		RegisterXactCallback(cache_xact_callback, NULL);
		xact_callback_set = true;
	}
	if (pending.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&pending);
		MemoryContextSwitchTo(old);
	}
	resetStringInfo(&pending);
	appendBinaryStringInfo(&pending, data, len);
	strlcpy(pending_hex, hex, sizeof(pending_hex));
	have_pending = true;
}
