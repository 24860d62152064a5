/*-------------------------------------------------------------------------
 *
 * sigv4.h
 *	  AWS Signature Version 4: the canonical request, the string to sign and
 *	  the Authorization header an S3-compatible service checks.
 *
 * The signer knows nothing of HTTP transport: the S3 store (s3.c) hands it
 * the method, the encoded path and query, the headers it will send and the
 * payload hash, and sends the result.  Keeping it apart lets a test sign a
 * fixed request and compare with an independent signer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FT_SIGV4_H
#define FT_SIGV4_H

#include "postgres.h"

/* Hex SHA-256 of the empty string: the payload hash of a bodiless request. */
#define FT_SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/*
 * The payload hash of a request whose body the signature leaves out (the
 * service then takes any body).
 */
#define FT_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

typedef struct FtSigV4Header
{
	const char *name;			/* any case; signed in lower case */
	const char *value;			/* trimmed and space-collapsed when signed */
} FtSigV4Header;

/* Lower-case hex SHA-256 of len bytes into out (65 bytes with the NUL). */
extern void ft_sigv4_sha256_hex(const char *data, size_t len, char *out);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
extern void ft_sigv4_hex(const uint8 *bytes, size_t len, char *out);

/*
 * Percent-encodes every byte but A-Z a-z 0-9 - . _ ~ (and '/' when
 * keep_slash), as the canonical form wants.  The result is palloc'd.
 */
extern char *ft_sigv4_uri_encode(const char *s, size_t len, bool keep_slash);

/*
 * The canonical form of a path or a query string as it appears in a URL:
 * components are percent-decoded and encoded again, so a URL written with
 * or without encoding signs the same; query parameters are sorted by name,
 * then value, and a valueless one is written "name=".
 */
extern char *ft_sigv4_canonical_path(const char *path);
extern char *ft_sigv4_canonical_query(const char *query);

/*
 * The Authorization header value for a request, from its parts already in
 * canonical form.  headers must include host and x-amz-date; every header
 * given is signed.  Intermediate keys are wiped before returning.
 */
extern char *ft_sigv4_authorization(const char *method,
									const char *canonical_path,
									const char *canonical_query,
									const FtSigV4Header *headers,
									int nheaders,
									const char *payload_hash,
									const char *amz_date,
									const char *region,
									const char *service,
									const char *access_key_id,
									const char *secret_access_key);

#endif							/* FT_SIGV4_H */
