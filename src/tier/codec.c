/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  The stored form of a cold object: a clear header, then the blob's
 *	  bytes, zstd-compressed unless they are compressed media, and
 *	  AES-256-GCM-encrypted when a key is active.
 *
 * Header (24 bytes, integers big-endian):
 *	  "FTB1" | version 1 | codec (0 none, 1 zstd) | flags (1 encrypted) | 0
 *	  | key id (int32) | plain length (int64) | stored length (int64 less
 *	  header, IV and tag: 4 bytes of it, since a blob is under 1 GB)
 * then, when encrypted, a 12-byte IV, the ciphertext and the 16-byte tag.
 *
 * The object says how it was written, so a reader needs nothing else, and
 * rewriting an object under a new key (key rotation) needs no catalog
 * change to stay readable.  The associated data of the cipher is the
 * blob's SHA-256 followed by the header, which holds the key id: an object
 * moved to another blob's key, or a header altered, fails authentication.
 * Whatever the path, the caller checks the plain bytes against the hash.
 *
 * The cipher context is freed by a memory context callback, so an error
 * between its creation and its end does not leak it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zstd.h>

#include "utils/memutils.h"

#include "tier/tier.h"

#define HEADER_LEN	FT_OBJECT_HEADER_LEN
#define IV_LEN		12
#define TAG_LEN		16

#define CODEC_NONE	0
#define CODEC_ZSTD	1
#define FLAG_ENCRYPTED 0x01

/* Media whose bytes zstd would not shrink. */
static const char *const compressed_media[] = {
	"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif",
	"video/mp4", "video/webm", "video/quicktime", "audio/mpeg", "audio/ogg",
	"audio/mp4", "audio/flac", "application/zip", "application/gzip",
	"application/zstd", NULL
};

bool
ft_media_is_compressed(const char *media_type)
{
	for (int i = 0; compressed_media[i]; i++)
		if (strcmp(media_type, compressed_media[i]) == 0)
			return true;
	return false;
}

static void
put_be32(char *p, uint32 v)
{
	p[0] = (char) (v >> 24);
	p[1] = (char) (v >> 16);
	p[2] = (char) (v >> 8);
	p[3] = (char) v;
}

static uint32
get_be32(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;

	return ((uint32) u[0] << 24) | ((uint32) u[1] << 16) |
		((uint32) u[2] << 8) | u[3];
}

/* The cipher context, freed when its memory context goes. */
typedef struct CipherHolder
{
	EVP_CIPHER_CTX *ctx;
	MemoryContextCallback cb;
} CipherHolder;

static void
free_cipher(void *arg)
{
	CipherHolder *h = (CipherHolder *) arg;

	if (h->ctx)
		EVP_CIPHER_CTX_free(h->ctx);
	h->ctx = NULL;
}

static CipherHolder *
new_cipher(void)
{
	CipherHolder *h = palloc0(sizeof(CipherHolder));

	h->ctx = EVP_CIPHER_CTX_new();
	if (h->ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a cipher context")));
	h->cb.func = free_cipher;
	h->cb.arg = h;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &h->cb);
	return h;
}

static void
set_aad(EVP_CIPHER_CTX *ctx, const uint8 *sha256, const char *header)
{
	int			n;

	if (EVP_CipherUpdate(ctx, NULL, &n, sha256, FT_SHA256_LEN) != 1 ||
		EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *) header,
						 HEADER_LEN) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not set the associated data of the cipher")));
}

static void
write_header(char *header, int codec_id, bool encrypted, int32 key_id,
			 size_t len, size_t payload_len)
{
	memcpy(header, "FTB1", 4);
	header[4] = 1;
	header[5] = (char) codec_id;
	header[6] = encrypted ? FLAG_ENCRYPTED : 0;
	header[7] = 0;
	put_be32(header + 8, (uint32) (encrypted ? key_id : 0));
	put_be32(header + 12, (uint32) ((uint64) len >> 32));
	put_be32(header + 16, (uint32) len);
	put_be32(header + 20, (uint32) payload_len);
}

/*
 * Whether ft_object_encode, given no key, stores a blob of this media type
 * as its bytes behind a header (media already compressed are not run
 * through zstd).  The caller may then write that header itself, with
 * ft_object_plain_header, in front of bytes it already holds in place,
 * rather than have them copied.
 */
bool
ft_object_is_plain(const char *media_type)
{
	return ft_media_is_compressed(media_type);
}

/* The header of a blob of len bytes stored plain: FT_OBJECT_HEADER_LEN. */
void
ft_object_plain_header(char *header, size_t len)
{
	write_header(header, CODEC_NONE, false, 0, len, len);
}

/*
 * Appends the stored form of a blob to out.  key is NULL for none; *codec
 * gets the name of the codec used ("zstd" or "none").
 */
void
ft_object_encode(StringInfo out, const char *data, size_t len,
				 const uint8 *sha256, const char *media_type,
				 int32 key_id, const uint8 *key, const char **codec)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "ftstore object encode",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	const char *payload = data;
	size_t		payload_len = len;
	char		header[HEADER_LEN];
	int			codec_id = CODEC_NONE;

	if (!ft_media_is_compressed(media_type) && len > 0)
	{
		size_t		bound = ZSTD_compressBound(len);
		char	   *z = palloc_extended(bound, MCXT_ALLOC_HUGE);
		size_t		zlen = ZSTD_compress(z, bound, data, len,
										 ft_compression_level);

		if (ZSTD_isError(zlen))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not compress blob: %s",
							ZSTD_getErrorName(zlen))));
		/* kept only when it saves something */
		if (zlen < len)
		{
			payload = z;
			payload_len = zlen;
			codec_id = CODEC_ZSTD;
		}
	}

	write_header(header, codec_id, key != NULL, key_id, len, payload_len);

	MemoryContextSwitchTo(old);
	appendBinaryStringInfo(out, header, HEADER_LEN);
	if (key)
	{
		CipherHolder *h;
		unsigned char iv[IV_LEN];
		unsigned char tag[TAG_LEN];
		int			n;
		int			fin;

		MemoryContextSwitchTo(cxt);
		h = new_cipher();
		MemoryContextSwitchTo(old);
		if (RAND_bytes(iv, IV_LEN) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate an initialization vector")));
		if (EVP_EncryptInit_ex(h->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
			EVP_CIPHER_CTX_ctrl(h->ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
			EVP_EncryptInit_ex(h->ctx, NULL, NULL, key, iv) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not start AES-256-GCM encryption")));
		set_aad(h->ctx, sha256, header);
		appendBinaryStringInfo(out, (char *) iv, IV_LEN);
		enlargeStringInfo(out, (int) payload_len + TAG_LEN);
		if (EVP_EncryptUpdate(h->ctx, (unsigned char *) out->data + out->len,
							  &n, (const unsigned char *) payload,
							  (int) payload_len) != 1 ||
			EVP_EncryptFinal_ex(h->ctx,
								(unsigned char *) out->data + out->len + n,
								&fin) != 1 ||
			EVP_CIPHER_CTX_ctrl(h->ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not encrypt blob")));
		out->len += n + fin;
		appendBinaryStringInfo(out, (char *) tag, TAG_LEN);
	}
	else
		appendBinaryStringInfo(out, payload, (int) payload_len);

	*codec = codec_id == CODEC_ZSTD ? "zstd" : "none";
	MemoryContextDelete(cxt);
}

static void
corrupt(const char *hex, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("cold object of blob %s is corrupt: %s", hex, what),
			 errhint("Another copy (the mirror tier, or a backup) is needed to read this blob.")));
}

/* The key id an object was encrypted with, 0 when none. */
int32
ft_object_key_id(const char *data, size_t len, const char *hex)
{
	if (len < HEADER_LEN || memcmp(data, "FTB1", 4) != 0 || data[4] != 1)
		corrupt(hex, "no valid header");
	if (!(data[6] & FLAG_ENCRYPTED))
		return 0;
	return (int32) get_be32(data + 8);
}

/*
 * Whether an object's header (its first HEADER_LEN bytes) says that the
 * blob of the given length follows as it is: no codec, no key.  Such an
 * object's plain bytes can be checked, and cached, as they arrive.
 */
bool
ft_object_stored_plain(const char *header, int64 bytes)
{
	return memcmp(header, "FTB1", 4) == 0 && header[4] == 1 &&
		header[5] == CODEC_NONE && header[6] == 0 &&
		get_be32(header + 12) == (uint32) ((uint64) bytes >> 32) &&
		get_be32(header + 16) == (uint32) bytes &&
		get_be32(header + 20) == (uint32) bytes;
}

/*
 * Appends the plain bytes of an object to out, and checks them: their
 * length against bytes and their SHA-256 against the blob's.  key is the
 * key the header names (ft_object_key_id), NULL when not encrypted.
 * hashed says that the caller has already checked the SHA-256 of these
 * very bytes (the payload of a plain object, as it arrived); the rest is
 * checked all the same.
 */
void
ft_object_decode(StringInfo out, const char *data, size_t len,
				 const uint8 *sha256, const char *hex, int64 bytes,
				 const uint8 *key, bool hashed)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "ftstore object decode",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	uint64		plain_len;
	uint32		payload_len;
	const char *payload;
	char	   *clear = NULL;
	int			codec_id;
	bool		encrypted;
	uint8		got[FT_SHA256_LEN];
	int			start = out->len;

	(void) ft_object_key_id(data, len, hex);
	codec_id = data[5];
	encrypted = (data[6] & FLAG_ENCRYPTED) != 0;
	plain_len = ((uint64) get_be32(data + 12) << 32) | get_be32(data + 16);
	payload_len = get_be32(data + 20);
	if (codec_id != CODEC_NONE && codec_id != CODEC_ZSTD)
		corrupt(hex, "unknown codec");
	if ((int64) plain_len != bytes)
		corrupt(hex, psprintf("it holds %llu bytes, the blob has " INT64_FORMAT,
							  (unsigned long long) plain_len, bytes));
	if (len != HEADER_LEN + payload_len + (encrypted ? IV_LEN + TAG_LEN : 0))
		corrupt(hex, psprintf("it is %zu bytes long, its header says %zu",
							  len, (size_t) (HEADER_LEN + payload_len +
											 (encrypted ? IV_LEN + TAG_LEN : 0))));

	payload = data + HEADER_LEN;
	if (encrypted)
	{
		CipherHolder *h = new_cipher();
		int			n;
		int			fin;

		if (key == NULL)
			elog(ERROR, "no key given for an encrypted object");
		clear = palloc_extended(payload_len + 1, MCXT_ALLOC_HUGE);
		if (EVP_DecryptInit_ex(h->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
			EVP_CIPHER_CTX_ctrl(h->ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
			EVP_DecryptInit_ex(h->ctx, NULL, NULL, key,
							   (const unsigned char *) payload) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not start AES-256-GCM decryption")));
		set_aad(h->ctx, sha256, data);
		if (EVP_DecryptUpdate(h->ctx, (unsigned char *) clear, &n,
							  (const unsigned char *) payload + IV_LEN,
							  (int) payload_len) != 1 ||
			EVP_CIPHER_CTX_ctrl(h->ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
								(void *) (payload + IV_LEN + payload_len)) != 1 ||
			EVP_DecryptFinal_ex(h->ctx, (unsigned char *) clear + n, &fin) != 1)
			corrupt(hex, "it fails authentication");
		payload = clear;
	}

	MemoryContextSwitchTo(old);
	if (plain_len >= MaxAllocSize - (Size) out->len - 1)
		corrupt(hex, "it is too large");
	enlargeStringInfo(out, (int) plain_len);
	if (codec_id == CODEC_ZSTD)
	{
		size_t		got_len = ZSTD_decompress(out->data + out->len, plain_len,
											  payload, payload_len);

		if (ZSTD_isError(got_len) || got_len != plain_len)
			corrupt(hex, "its zstd frame does not decompress to the blob's length");
	}
	else
	{
		if (payload_len != plain_len)
			corrupt(hex, "its stored length is not the blob's");
		memcpy(out->data + out->len, payload, plain_len);
	}
	out->len += (int) plain_len;
	out->data[out->len] = '\0';
	MemoryContextDelete(cxt);

	if (hashed && codec_id == CODEC_NONE && !encrypted)
		return;
	ft_sha256(out->data + start, plain_len, got);
	if (memcmp(got, sha256, FT_SHA256_LEN) != 0)
		corrupt(hex, "its bytes do not match the blob's SHA-256");
}
