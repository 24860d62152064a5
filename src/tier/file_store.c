/*-------------------------------------------------------------------------
 *
 * file_store.c
 *	  The object store of the cold tier in a local directory: the default,
 *	  embedded store, which needs no setup.
 *
 * An object is a file named by its key under the store's directory.  A put
 * writes a temporary file beside the final one, syncs it and renames it
 * into place, then syncs the directory: after a crash (of the backend, the
 * postmaster or the machine) a key names either the old object, the whole
 * new one or nothing, never a part.  Files and directories are opened as
 * PostgreSQL's transient files, which the end of the (sub)transaction
 * closes on error, so no descriptor outlives a failed operation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/procarray.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "tier/object_store.h"

typedef struct FileStore
{
	char	   *dir;			/* absolute, without a trailing slash */
} FileStore;

/*
 * Temporary files start with this, so that list never reports them.
 *
 * XXX One left by a crash in the middle of a put stays: the collector sees
 * only objects.  Removing temporary files older than the grace period in
 * list, or a sweep of its own, would clear them.
 */
#define TEMP_PREFIX ".tmp-"

static void
check_key(const char *key)
{
	const char *p;

	if (key[0] == '\0' || key[0] == '/' || strstr(key, "..") != NULL)
		goto bad;
	for (p = key; *p; p++)
	{
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '/' || *p == '.' ||
			  *p == '_' || *p == '-'))
			goto bad;
	}
	return;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid object key \"%s\"", key),
			 errdetail("Keys are relative paths of letters, digits and the characters / . _ - without \"..\".")));
}

static char *
object_path(FtObjectStore *store, const char *key)
{
	FileStore  *fs = (FileStore *) store->state;

	check_key(key);
	return psprintf("%s/%s", fs->dir, key);
}

/* Creates the directories above path that are missing. */
static void
make_parents(const char *path)
{
	char	   *copy = pstrdup(path);
	char	   *slash;

	for (slash = strchr(copy + 1, '/'); slash; slash = strchr(slash + 1, '/'))
	{
		*slash = '\0';
		if (mkdir(copy, S_IRWXU) != 0 && errno != EEXIST)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m", copy)));
		*slash = '/';
	}
	pfree(copy);
}

/*
 * Returns false: the file is synced, but only reading it back says what
 * the file system holds, and that read is cheap here (the page cache).
 */
static bool
file_put(FtObjectStore *store, const char *key, const char *data, size_t len,
		 const uint8 *md5)
{
	char	   *path = object_path(store, key);
	char	   *slash = strrchr(path, '/');
	char	   *dir = pnstrdup(path, slash - path);
	char	   *tmp = psprintf("%s/" TEMP_PREFIX "%d-%s", dir, MyProcPid,
							   slash + 1);
	int			fd;
	size_t		done = 0;

	make_parents(path);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create object \"%s\" in \"%s\": %m",
						key, store->url)));

	while (done < len)
	{
		ssize_t		n = write(fd, data + done, Min(len - done, 1024 * 1024));

		if (n <= 0)
		{
			int			save_errno = (n < 0) ? errno : ENOSPC;

			CloseTransientFile(fd);
			unlink(tmp);
			errno = save_errno;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write object \"%s\" in \"%s\": %m",
							key, store->url)));
		}
		done += n;
	}
	if (pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		unlink(tmp);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not sync object \"%s\" in \"%s\": %m",
						key, store->url)));
	}
	if (CloseTransientFile(fd) != 0)
	{
		unlink(tmp);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close object \"%s\" in \"%s\": %m",
						key, store->url)));
	}
	if (rename(tmp, path) != 0)
	{
		int			save_errno = errno;

		unlink(tmp);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename object \"%s\" into place in \"%s\": %m",
						key, store->url)));
	}
	/* the rename is durable only once the directory is */
	fsync_fname(dir, true);
	return false;
}

static bool
file_get(FtObjectStore *store, const char *key, StringInfo out,
		 FtObjectTap tap, void *tap_arg)
{
	char	   *path = object_path(store, key);
	int			fd;
	struct stat st;
	off_t		done = 0;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open object \"%s\" in \"%s\": %m",
						key, store->url)));
	}
	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat object \"%s\" in \"%s\": %m",
						key, store->url)));
	if ((Size) st.st_size >= MaxAllocSize - (Size) out->len - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("object \"%s\" in \"%s\" is too large to read: %lld bytes",
						key, store->url, (long long) st.st_size)));
	enlargeStringInfo(out, (int) st.st_size);
	while (done < st.st_size)
	{
		ssize_t		n = read(fd, out->data + out->len, st.st_size - done);

		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read object \"%s\" in \"%s\": %m",
							key, store->url)));
		if (n == 0)
			break;				/* shrank under us: the hash check sees it */
		done += n;
		out->len += n;
	}
	out->data[out->len] = '\0';
	CloseTransientFile(fd);
	if (tap)
	{
		tap(NULL, 0, 0, tap_arg);
		tap(out->data + out->len - done, 0, done, tap_arg);
	}
	return true;
}

static bool
file_head(FtObjectStore *store, const char *key, uint64 *size)
{
	char	   *path = object_path(store, key);
	struct stat st;

	if (stat(path, &st) != 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat object \"%s\" in \"%s\": %m",
						key, store->url)));
	}
	if (size)
		*size = (uint64) st.st_size;
	return true;
}

static bool
file_remove(FtObjectStore *store, const char *key)
{
	char	   *path = object_path(store, key);

	if (unlink(path) != 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove object \"%s\" in \"%s\": %m",
						key, store->url)));
	}
	return true;
}

/* Walks one directory; rel is its path relative to the store ("" at top). */
static void
list_dir(FtObjectStore *store, const char *rel, const char *prefix,
		 FtObjectListCallback cb, void *arg)
{
	FileStore  *fs = (FileStore *) store->state;
	char	   *path = rel[0] ? psprintf("%s/%s", fs->dir, rel) : fs->dir;
	DIR		   *dir;
	struct dirent *de;

	dir = AllocateDir(path);
	if (dir == NULL && errno == ENOENT)
		return;					/* nothing stored yet */
	while ((de = ReadDir(dir, path)) != NULL)
	{
		char	   *key;
		char	   *full;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;			/* ., .. and temporary files */
		key = rel[0] ? psprintf("%s/%s", rel, de->d_name) : pstrdup(de->d_name);
		full = psprintf("%s/%s", fs->dir, key);
		if (lstat(full, &st) != 0)
		{
			if (errno == ENOENT)
				continue;		/* removed meanwhile */
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat \"%s\": %m", full)));
		}
		if (S_ISDIR(st.st_mode))
		{
			/* descend only where keys under the prefix can be */
			size_t		klen = strlen(key);

			if (strncmp(key, prefix, Min(klen, strlen(prefix))) == 0)
				list_dir(store, key, prefix, cb, arg);
		}
		else if (S_ISREG(st.st_mode) &&
				 strncmp(key, prefix, strlen(prefix)) == 0)
			cb(key, (uint64) st.st_size, time_t_to_timestamptz(st.st_mtime),
			   arg);
		pfree(full);
		pfree(key);
	}
	FreeDir(dir);
}

static void
file_list(FtObjectStore *store, const char *prefix,
		  FtObjectListCallback cb, void *arg)
{
	list_dir(store, "", prefix, cb, arg);
}

static void
file_close(FtObjectStore *store)
{
	/* nothing is held between operations */
}

/*
 * Whether the process that named a temporary file (.tmp-<pid>-<key>) is
 * a live backend of this server: its put may still be writing, however
 * old the file looks, and a grace period of zero must not make that
 * offload fail.  XXX A file store shared by two servers: a put of the
 * other one is not seen here, and is protected by the grace period alone.
 */
static bool
temp_writer_alive(const char *name)
{
	const char *p = name + strlen(TEMP_PREFIX);
	char	   *end;
	long		pid;

	errno = 0;
	pid = strtol(p, &end, 10);
	if (errno != 0 || end == p || *end != '-' || pid <= 0 || pid > INT_MAX)
		return false;
	return BackendPidGetProc((int) pid) != NULL;
}

/* Walks one directory for temporary files written before cutoff. */
static int64
remove_temp_in(const char *path, TimestampTz cutoff, int depth)
{
	DIR		   *dir;
	struct dirent *de;
	int64		removed = 0;

	dir = AllocateDir(path);
	if (dir == NULL && errno == ENOENT)
		return 0;
	while ((de = ReadDir(dir, path)) != NULL)
	{
		char	   *full;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		full = psprintf("%s/%s", path, de->d_name);
		if (lstat(full, &st) != 0)
		{
			pfree(full);
			continue;			/* gone meanwhile */
		}
		/* objects sit two levels down: blobs/<xx>/<hash> */
		if (S_ISDIR(st.st_mode) && depth < 2)
			removed += remove_temp_in(full, cutoff, depth + 1);
		else if (S_ISREG(st.st_mode) &&
				 strncmp(de->d_name, TEMP_PREFIX, strlen(TEMP_PREFIX)) == 0 &&
				 time_t_to_timestamptz(st.st_mtime) < cutoff &&
				 !temp_writer_alive(de->d_name))
		{
			if (unlink(full) == 0)
				removed++;
			else if (errno != ENOENT)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not remove file \"%s\": %m", full)));
		}
		pfree(full);
	}
	FreeDir(dir);
	return removed;
}

/*
 * The temporary files of puts that a crash cut short: older than the
 * cutoff, and named by a process that is no longer a backend.  A put in
 * progress keeps its file even with a grace period of zero.
 */
static int64
file_remove_leftovers(FtObjectStore *store, TimestampTz cutoff)
{
	FileStore  *fs = (FileStore *) store->state;

	return remove_temp_in(fs->dir, cutoff, 0);
}

static const FtObjectStoreOps file_store_ops = {
	.put = file_put,
	.get = file_get,
	.head = file_head,
	.remove = file_remove,
	.list = file_list,
	.close = file_close,
	.remove_leftovers = file_remove_leftovers,
};

/*
 * Opens "file:///absolute/dir".  The directory is created by the first
 * put, so opening touches nothing on disk.
 */
FtObjectStore *
ft_file_store_open(const char *url, MemoryContext cxt)
{
	const char *path = url + strlen("file://");
	MemoryContext old;
	FtObjectStore *store;
	FileStore  *fs;
	size_t		len;

	if (path[0] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("object store URL \"%s\" does not name an absolute directory",
						url),
				 errhint("Write file:///absolute/directory, with three slashes.")));

	old = MemoryContextSwitchTo(cxt);
	store = palloc0(sizeof(FtObjectStore));
	fs = palloc0(sizeof(FileStore));
	fs->dir = pstrdup(path);
	len = strlen(fs->dir);
	while (len > 1 && fs->dir[len - 1] == '/')
		fs->dir[--len] = '\0';
	store->ops = &file_store_ops;
	store->url = pstrdup(url);
	store->state = fs;
	MemoryContextSwitchTo(old);
	return store;
}

/* The file store has no settings of its own: the URL says it all. */
void
ft_file_store_define_settings(void)
{
}
