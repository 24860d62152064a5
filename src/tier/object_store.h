/*-------------------------------------------------------------------------
 *
 * object_store.h
 *	  What an object store of the cold tier offers the tier code: put, get,
 *	  head, delete and list of whole objects by key.
 *
 * Two stores implement it: a local directory (file_store.c, the default)
 * and an S3-compatible service over libcurl (s3.c).  The tier code
 * (offload, fetch, collector) sees only this interface, so it never knows
 * which store it talks to.
 *
 * Keys are relative paths of [A-Za-z0-9/._-] only: the tier names objects
 * after hex digests, so no key ever needs escaping, in a path or in a URL.
 *
 * Every operation reports failure by ereport(ERROR) with an ERRCODE and
 * what failed (the key; for S3 the HTTP status and S3's error code), so a
 * caller never sees a half-done operation as success.  A missing object is
 * not an error for get, head and delete: they say so instead.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FT_OBJECT_STORE_H
#define FT_OBJECT_STORE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

typedef struct FtObjectStore FtObjectStore;

/*
 * Given to get: called with the object's bytes as they arrive, in order,
 * offset counting from the start of the object; data NULL means that
 * nothing counts of what came before (a new attempt starts).  It must not
 * raise an error.  What it sees is not checked yet: the caller decides
 * what it is worth once get has returned.
 */
typedef void (*FtObjectTap) (const char *data, size_t offset, size_t len,
							 void *arg);

/*
 * Work of the caller's that a store may run while the service handles a
 * request (see wait_work below).  Unlike a tap, it may raise an error: the
 * store is left sound, and the request is abandoned.
 */
typedef void (*FtObjectWaitWork) (void *arg);

/* Called by list for each object under the prefix. */
typedef void (*FtObjectListCallback) (const char *key, uint64 size,
									  TimestampTz modified, void *arg);

typedef struct FtObjectStoreOps
{
	/*
	 * Stores len bytes under key, replacing any object of that key.
	 * Returns true when the store vouches that it now holds exactly these
	 * bytes (an S3 service's digest of what it stored equals ours), false
	 * when it cannot say; a caller that must know then reads the object
	 * back.  md5, if not NULL, is the MD5 of data, which a store that
	 * needs it (S3, for the ETag) then does not compute again.
	 */
	bool		(*put) (FtObjectStore *store, const char *key,
						const char *data, size_t len, const uint8 *md5);

	/*
	 * Appends the object's bytes to out; false when there is none.  tap,
	 * if not NULL, sees them too, as they arrive, or at the end.
	 */
	bool		(*get) (FtObjectStore *store, const char *key, StringInfo out,
						FtObjectTap tap, void *tap_arg);

	/* Whether the object exists, and its size in *size if so. */
	bool		(*head) (FtObjectStore *store, const char *key, uint64 *size);

	/* Removes the object; false when there was none. */
	bool		(*remove) (FtObjectStore *store, const char *key);

	/*
	 * Calls cb, in the caller's memory context, for every object whose key
	 * starts with prefix.
	 */
	void		(*list) (FtObjectStore *store, const char *prefix,
						 FtObjectListCallback cb, void *arg);

	/* Releases what the store holds (handles, connections). */
	void		(*close) (FtObjectStore *store);

	/*
	 * Removes what puts cut short left behind (a crash leaves the file
	 * store's temporary files) if last written before cutoff, and returns
	 * how much it removed.  NULL for a store that leaves nothing behind
	 * that list would not show.
	 */
	int64		(*remove_leftovers) (FtObjectStore *store, TimestampTz cutoff);
} FtObjectStoreOps;

struct FtObjectStore
{
	const FtObjectStoreOps *ops;
	char	   *url;			/* as configured, without credentials */
	void	   *state;			/* the implementation's own */

	/*
	 * If set, the next put of a store that talks to a service runs it once,
	 * when the body has gone and the service is working on it, and clears
	 * it: the caller's work then overlaps the service's instead of
	 * following it.  A store that has no such wait (the file store) leaves
	 * it set, and the caller runs it after the put.
	 */
	FtObjectWaitWork wait_work;
	void	   *wait_arg;

	/*
	 * Set by a caller that checks every put: it reads back whatever put
	 * does not vouch for.  The bytes are then proven by that check, and a
	 * store may leave them out of its request's signature (S3: the body
	 * goes as UNSIGNED-PAYLOAD rather than under its SHA-256), which saves
	 * a pass over them.
	 */
	bool		checked_puts;
};

/*
 * Opens the store a URL names: "file:///absolute/dir" (file_store.c) or
 * "s3://bucket/optional/prefix" (s3.c, configured by the ftstore.s3_*
 * settings).  The store lives in the given memory context.
 */
extern FtObjectStore *ft_object_store_open(const char *url,
										   MemoryContext cxt);

extern FtObjectStore *ft_file_store_open(const char *url, MemoryContext cxt);
extern FtObjectStore *ft_s3_store_open(const char *url, MemoryContext cxt);

/* Settings of each store, defined from _PG_init. */
extern void ft_file_store_define_settings(void);
extern void ft_s3_define_settings(void);

#endif							/* FT_OBJECT_STORE_H */
