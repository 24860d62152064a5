/*-------------------------------------------------------------------------
 *
 * media.c
 *	  Import of the media files a sample names by relative path: each is
 *	  stored as a blob of the dataset, and the path in the sample replaced
 *	  by the blob's reference.
 *
 * LLaMA-Factory's multimodal files list images, videos and audios by paths
 * relative to the folder of the data file.  import_file, with the setting
 * ftstore.import_media on, resolves them against that folder.  A file that
 * cannot be read makes the record a reject, with the path in the message,
 * rather than a sample that points nowhere.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

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
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	struct stat st;
	char	   *data;
	off_t		done = 0;

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
