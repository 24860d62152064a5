/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The settings of the cold tier.
 *
 * All but import_media and export_media are superuser-only: they say where
 * blob bytes go and when, and a role that could point the tier elsewhere
 * could read or lose them.  import_media only changes what import_file,
 * which needs the right to read server files, reads; export_media what
 * export_file, which needs the right to write them, writes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "tier/tier.h"

char	   *ft_tier_url = NULL;
char	   *ft_tier_mirror_url = NULL;
int			ft_offload_threshold = 1024 * 1024;
int			ft_compression_level = 3;
int			ft_collect_grace = 24 * 60 * 60;
char	   *ft_blob_cache_dir = NULL;
int			ft_blob_cache_size = 256 * 1024;	/* kB */
bool		ft_import_media = true;
bool		ft_export_media = true;
int			ft_worker_naptime = 60;
char	   *ft_offload_databases = NULL;
int			ft_offload_verify = FT_OFFLOAD_VERIFY_DIGEST;

static const struct config_enum_entry offload_verify_options[] = {
	{"digest", FT_OFFLOAD_VERIFY_DIGEST, false},
	{"read_back", FT_OFFLOAD_VERIFY_READ_BACK, false},
	{NULL, 0, false}
};

void
ft_tier_define_settings(void)
{
	DefineCustomStringVariable("ftstore.tier_url",
							   "Object store of the cold tier.",
							   "file:///absolute/directory or s3://bucket/prefix.  Empty means the directory ftstore_tier in the data directory.",
							   &ft_tier_url, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("ftstore.tier_mirror_url",
							   "Second object store that every offload also writes, and that reads fall back to.",
							   "Empty means none.",
							   &ft_tier_mirror_url, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.offload_threshold",
							"Blobs larger than this are moved to the cold tier by the offload policy.",
							"Valid range is 0 (every blob) to 1 GB; -1 turns the policy off.",
							&ft_offload_threshold, 1024 * 1024,
							-1, 1024 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.compression_level",
							"zstd level of blobs written to the cold tier.",
							"Valid range is 1 to 19.  Media already compressed (JPEG, PNG, MP4 and the like) are stored as they are.",
							&ft_compression_level, 3, 1, 19,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.collect_grace",
							"How long an unreferenced blob or object is kept before the collector removes it.",
							"Valid range is 0 to 30 days.",
							&ft_collect_grace, 24 * 60 * 60, 0, 30 * 24 * 60 * 60,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomStringVariable("ftstore.blob_cache_dir",
							   "Local directory where blobs fetched from the cold tier are cached.",
							   "Empty means the directory ftstore_blob_cache in the data directory.",
							   &ft_blob_cache_dir, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.blob_cache_size",
							"Largest total size of the blob cache; the least recently used blobs are evicted beyond it.",
							"Valid range is 0 (no cache) to 1 TB.",
							&ft_blob_cache_size, 256 * 1024, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);

	DefineCustomBoolVariable("ftstore.import_media",
							 "Whether import_file stores the media files a sample names by relative path as blobs.",
							 "Paths are resolved against the folder of the imported file.",
							 &ft_import_media, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("ftstore.export_media",
							 "Whether export_file writes the blobs of the samples as files beside the exported file.",
							 "They go to media/<sha256>.<extension> in its folder, and the samples name them by that relative path.",
							 &ft_export_media, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.offload_naptime",
							"Pause of the offload worker between two rounds.",
							"Valid range is 1 second to 1 day.",
							&ft_worker_naptime, 60, 1, 24 * 60 * 60,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	/*
	 * Read once, when shared_preload_libraries loads ftstore: the
	 * postmaster registers the static workers before it forks anything, so
	 * a change takes a restart.  Not PGC_POSTMASTER all the same, since a
	 * library loaded later (CREATE EXTENSION without the preload) may not
	 * define such a setting.
	 */
	DefineCustomStringVariable("ftstore.offload_databases",
							   "Databases whose offload worker starts with the server.",
							   "A comma-separated list of database names.  Needs ftstore in shared_preload_libraries.",
							   &ft_offload_databases, "",
							   PGC_SIGHUP, GUC_LIST_INPUT, NULL, NULL, NULL);

	DefineCustomEnumVariable("ftstore.offload_verify",
							 "How an offload checks each copy it wrote before it removes the hot copy.",
							 "digest: accept a copy whose digest the store computed over what it stored (an S3 ETag) equals ours, and read back any other; read_back: read every copy back and compare it byte for byte.",
							 &ft_offload_verify, FT_OFFLOAD_VERIFY_DIGEST,
							 offload_verify_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
}
