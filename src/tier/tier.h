/*-------------------------------------------------------------------------
 *
 * tier.h
 *	  The cold tier of blobs: what its files offer each other.
 *
 * A blob is a media payload (image, audio, video, document) that a sample
 * names by a reference string instead of holding it.  Its bytes live hot,
 * in ftstore.blob_hot, or cold, as an object in the object store, with
 * the catalog ftstore.blob_catalog saying which.  docs/tier.md has the
 * design and the crash-safety argument.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FT_TIER_H
#define FT_TIER_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "tier/object_store.h"

struct FtSample;

#define FT_SHA256_LEN		32
#define FT_SHA256_HEX_LEN	64

/* "ftblob:sha256:<64 hex>:<bytes>:<media type>" */
#define FT_BLOB_REF_PREFIX	"ftblob:sha256:"
#define FT_BLOB_REF_PREFIX_LEN	14

/* What a sample's reference string holds, which never changes. */
typedef struct FtBlobRef
{
	uint8		sha256[FT_SHA256_LEN];
	char		hex[FT_SHA256_HEX_LEN + 1];
	int64		bytes;
	char	   *media_type;
} FtBlobRef;

/* ftstore.offload_verify: what makes a written copy good enough */
typedef enum FtOffloadVerify
{
	FT_OFFLOAD_VERIFY_DIGEST,	/* the store's digest, else a read-back */
	FT_OFFLOAD_VERIFY_READ_BACK /* always a read-back */
} FtOffloadVerify;

/* settings.c */
extern char *ft_tier_url;
extern char *ft_tier_mirror_url;
extern int	ft_offload_threshold;
extern int	ft_compression_level;
extern int	ft_collect_grace;
extern char *ft_blob_cache_dir;
extern int	ft_blob_cache_size;
extern bool ft_import_media;
extern bool ft_export_media;
extern int	ft_worker_naptime;
extern char *ft_offload_databases;
extern int	ft_offload_verify;
extern void ft_tier_define_settings(void);

/* blob.c: references, hashing, the owner's rights */
extern bool ft_blob_parse_ref(const char *p, int len, FtBlobRef *ref);
extern char *ft_blob_make_ref(const uint8 *sha256, int64 bytes,
							  const char *media_type);
extern void ft_sha256(const char *data, size_t len, uint8 *out);
extern void ft_hex(const uint8 *bytes, int len, char *out);
extern const char *ft_media_type_of(const char *data, size_t len,
									const char *name);
extern void ft_tier_become_owner(Oid *save_userid, int *save_sec);
extern int32 ft_writable_dataset(text *dataset, const char *action);
extern void ft_tier_restore_user(Oid save_userid, int save_sec);
extern Oid	ft_tier_owner(void);
extern struct _SPI_plan *ft_tier_plan(struct _SPI_plan **slot, const char *sql,
									 int nargs, Oid *argtypes);
extern void ft_blob_check_claims(Datum sample, int32 dataset_id);
extern void ft_blob_store_hot(int32 dataset_id, const char *data,
							  size_t len, const char *media_type,
							  uint8 *sha256);

/* worker.c: the offload worker */
extern void ft_register_offload_workers(void);
extern void ft_worker_install_hooks(void);

/* media.c: media files named by relative path, imported as blobs */
extern Datum ft_tier_import_media(Datum sample, const char *dir,
								  int32 dataset_id);
extern int	ft_tier_export_media(struct FtSample *s, const char *dir);

/* codec.c: the stored form of an object: zstd, AES-256-GCM */
extern bool ft_media_is_compressed(const char *media_type);
extern bool ft_object_is_plain(const char *media_type);
extern void ft_object_plain_header(char *header, size_t len);
extern void ft_object_encode(StringInfo out, const char *data, size_t len,
							 const uint8 *sha256, const char *media_type,
							 int32 key_id, const uint8 *key,
							 const char **codec);
extern int32 ft_object_key_id(const char *data, size_t len, const char *hex);
extern void ft_object_decode(StringInfo out, const char *data, size_t len,
							 const uint8 *sha256, const char *hex,
							 int64 bytes, const uint8 *key, bool hashed);
extern bool ft_object_stored_plain(const char *header, int64 bytes);

#define FT_OBJECT_HEADER_LEN	24

/* cache.c: the local cache of cold blobs */
extern bool ft_cache_get(const char *hex, const uint8 *sha256,
						 StringInfo out);
extern void ft_cache_put(const char *hex, const char *data, size_t len);
extern void ft_cache_put_later(const char *hex, const char *data, size_t len);
extern void ft_cache_write_pending(void *arg);
extern bool ft_cache_has_pending(void);

/* fetch.c: the bytes of a blob, wherever they are */
extern FtObjectStore *ft_tier_open(bool mirror);
extern void ft_object_key(const char *hex, char *key);
extern bool ft_tier_key(int32 *key_id, uint8 *key);
extern void ft_fetch_from(FtObjectStore *store, const FtBlobRef *ref,
						  StringInfo out);
extern void ft_blob_fetch(const FtBlobRef *ref, StringInfo out);

#define FT_OBJECT_KEY_LEN	(6 + 3 + FT_SHA256_HEX_LEN + 1)

#endif							/* FT_TIER_H */
