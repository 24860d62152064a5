/*-------------------------------------------------------------------------
 *
 * media.c
 *	  Media files in and out: on import, each media file a sample names by
 *	  relative path is stored as a blob of the dataset and the path
 *	  replaced by the blob's reference; on export to a file, each blob is
 *	  written beside it and the reference replaced by a relative path.
 *
 * LLaMA-Factory's multimodal files list images, videos and audios by paths
 * relative to the folder of the data file.  import_file, with the setting
 * ftstore.import_media on (the default), resolves them against that
 * folder.  A file that cannot be read makes the record a reject, with the
 * path in the message, rather than a sample that points nowhere.
 *
 * export_file, with ftstore.export_media on (the default), writes each
 * blob to media/<sha256>.<extension> in the folder of the exported file,
 * so that the export is a dataset a trainer reads as it is, and imports
 * again to the same blobs and the same fingerprints.  Named by content,
 * the files of several exports into one folder never clash.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "sample/ftsample.h"
#include "tier/tier.h"

/* A path to resolve: not absolute, not a URL, not already a blob. */
static bool
is_relative_path(FtStr s)
{
	if (s.len <= 0 || s.p[0] == '/' || memchr(s.p, '\0', s.len) != NULL)
		return false;
	if (s.len >= 5 && memcmp(s.p, "data:", 5) == 0)
		return false;
	if (s.len >= 7 && memcmp(s.p, "ftblob:", 7) == 0)
		return false;
	for (int i = 0; i + 2 < s.len; i++)
		if (memcmp(s.p + i, "://", 3) == 0)
			return false;
	return true;
}

static char *
read_media_file(const char *path, const char *key, int index, size_t *len)
{
	int			fd;
	struct stat st;
	char	   *data;
	off_t		done = 0;

	/*
	 * O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer
	 * inside open(), where neither a cancel nor a terminate reaches the
	 * backend.  It changes nothing for the regular files read below.
	 */
	fd = OpenTransientFile(path, O_RDONLY | O_NONBLOCK | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open media file \"%s\" named at %s[%d]: %m",
						path, key, index)));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("media file \"%s\" named at %s[%d] is not a regular file",
						path, key, index)));
	if ((Size) st.st_size >= MaxAllocSize - VARHDRSZ - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("media file \"%s\" named at %s[%d] is too large: %lld bytes",
						path, key, index, (long long) st.st_size)));
	data = palloc(st.st_size + 1);
	while (done < st.st_size)
	{
		ssize_t		n = read(fd, data + done, st.st_size - done);

		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read media file \"%s\": %m", path)));
		if (n == 0)
			break;
		done += n;
	}
	CloseTransientFile(fd);
	*len = done;
	return data;
}

/*
 * Stores the media a sample names by relative path as blobs of the
 * dataset, resolving the paths against dir, and returns the sample with
 * the paths replaced by references (the same datum when there were none).
 * Runs inside the import's SPI connection.
 */
Datum
ft_tier_import_media(Datum sample, const char *dir, int32 dataset_id)
{
	FtSample   *s = ft_sample_from_datum(sample);
	bool		changed = false;

	for (int m = 0; m < FT_NUM_MEDIA; m++)
		for (int i = 0; i < s->nmedia[m]; i++)
		{
			FtStr	   *str = &s->media[m][i];
			char	   *rel;
			char	   *path;
			char	   *data;
			size_t		len;
			uint8		sha256[FT_SHA256_LEN];
			const char *media_type;
			char	   *ref;

			if (!is_relative_path(*str))
				continue;
			rel = pnstrdup(str->p, str->len);
			path = psprintf("%s/%s", dir, rel);
			data = read_media_file(path, ft_media_key(m), i, &len);
			media_type = ft_media_type_of(data, len, rel);
			ft_blob_store_hot(dataset_id, data, len, media_type, sha256);
			ref = ft_blob_make_ref(sha256, (int64) len, media_type);
			str->p = ref;
			str->len = strlen(ref);
			changed = true;
			pfree(data);
		}
	if (!changed)
		return sample;
	return PointerGetDatum(ft_encode(s));
}

/*
 * File name extension for a media type, for the trainer's loaders that go
 * by it; "bin" for types without a common one.
 */
static const char *
media_extension(const char *media_type)
{
	static const struct
	{
		const char *type;
		const char *ext;
	}			exts[] = {
		{"image/jpeg", "jpg"}, {"image/png", "png"}, {"image/gif", "gif"},
		{"image/webp", "webp"}, {"image/bmp", "bmp"}, {"image/tiff", "tif"},
		{"audio/wav", "wav"}, {"audio/x-wav", "wav"}, {"audio/mpeg", "mp3"},
		{"audio/flac", "flac"}, {"audio/ogg", "ogg"}, {"video/mp4", "mp4"},
		{"video/webm", "webm"}, {"video/ogg", "ogv"},
		{"application/pdf", "pdf"}, {"text/plain", "txt"},
	};

	for (int i = 0; i < lengthof(exts); i++)
		if (strcmp(media_type, exts[i].type) == 0)
			return exts[i].ext;
	return "bin";
}

/* Whether path holds exactly the blob's bytes already. */
static bool
media_file_matches(const char *path, const FtBlobRef *ref)
{
	struct stat st;
	size_t		len;
	char	   *data;
	uint8		sha256[FT_SHA256_LEN];
	bool		same;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		(int64) st.st_size != ref->bytes)
		return false;
	data = read_media_file(path, "media", 0, &len);
	ft_sha256(data, len, sha256);
	pfree(data);
	same = (len == (size_t) ref->bytes &&
			memcmp(sha256, ref->sha256, FT_SHA256_LEN) == 0);
	return same;
}

/* Writes data to path through a temporary file, so no reader sees half. */
static void
write_media_file(const char *path, const char *data, size_t len)
{
	char	   *tmp = psprintf("%s.ftstore-tmp.%d", path, MyProcPid);
	int			fd;
	size_t		done = 0;
	mode_t		oldumask;

	/*
	 * Readable by all, as the exported file itself.  O_EXCL: the folder may
	 * be writable by others, and a link planted under the temporary name
	 * must not make the server write through it; a leftover of ours is
	 * removed first.
	 */
	(void) unlink(tmp);
	oldumask = umask(S_IWGRP | S_IWOTH);
	fd = OpenTransientFilePerm(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY,
							   S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH);
	umask(oldumask);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
	while (done < len)
	{
		ssize_t		n = write(fd, data + done, len - done);

		if (n <= 0)
		{
			int			save_errno = errno;

			CloseTransientFile(fd);
			unlink(tmp);
			errno = n < 0 ? save_errno : ENOSPC;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\": %m", tmp)));
		}
		done += n;
	}
	if (CloseTransientFile(fd) != 0 || rename(tmp, path) != 0)
	{
		int			save_errno = errno;

		unlink(tmp);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path)));
	}
	pfree(tmp);
}

/*
 * Writes the blobs the sample references into dir/media (made when
 * missing) and replaces each reference with its path relative to dir.  A
 * file that already holds the blob's bytes is kept.  The sample comes from
 * a row the caller was allowed to read, so its blobs may be read too.
 * Runs inside the export's SPI connection; returns the files written.
 */
int
ft_tier_export_media(FtSample *s, const char *dir)
{
	char	   *media_dir = NULL;
	int			written = 0;

	for (int m = 0; m < FT_NUM_MEDIA; m++)
		for (int i = 0; i < s->nmedia[m]; i++)
		{
			FtStr	   *str = &s->media[m][i];
			FtBlobRef	ref;
			char	   *rel;
			char	   *path;

			if (!ft_blob_parse_ref(str->p, str->len, &ref))
				continue;
			rel = psprintf("media/%s.%s", ref.hex,
						   media_extension(ref.media_type));
			path = psprintf("%s/%s", dir, rel);
			if (media_dir == NULL)
			{
				mode_t		oldumask;
				int			rc;
				struct stat st;

				/* readable by all, as the exported file */
				media_dir = psprintf("%s/media", dir);
				oldumask = umask(S_IWGRP | S_IWOTH);
				rc = mkdir(media_dir,
						   S_IRWXU | S_IRGRP | S_IXGRP | S_IROTH | S_IXOTH);
				umask(oldumask);
				if (rc != 0 && errno != EEXIST)
					ereport(ERROR,
							(errcode_for_file_access(),
							 errmsg("could not create directory \"%s\": %m",
									media_dir)));

				/*
				 * Not through a symbolic link: in a folder others may write
				 * to, one planted as media would make the server write
				 * files wherever it points.  XXX A link swapped in after
				 * this check still redirects the writes; holding the
				 * folder open and writing with openat() and renameat()
				 * would close that window.
				 */
				if (rc != 0 && (lstat(media_dir, &st) != 0 ||
								!S_ISDIR(st.st_mode)))
					ereport(ERROR,
							(errcode(ERRCODE_WRONG_OBJECT_TYPE),
							 errmsg("\"%s\" is not a directory", media_dir),
							 errdetail("export_file writes media files only into a real directory, never through a symbolic link."),
							 errhint("Remove \"%s\", or export to another folder.",
									 media_dir)));
			}
			if (!media_file_matches(path, &ref))
			{
				StringInfoData buf;
				Oid			save_userid;
				int			save_sec;

				initStringInfo(&buf);
				ft_tier_become_owner(&save_userid, &save_sec);
				ft_blob_fetch(&ref, &buf);
				ft_tier_restore_user(save_userid, save_sec);
				write_media_file(path, buf.data, buf.len);
				pfree(buf.data);
				written++;
			}
			str->p = rel;
			str->len = strlen(rel);
			pfree(path);
		}
	return written;
}
