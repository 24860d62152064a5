/*-------------------------------------------------------------------------
 *
 * sigv4.c
 *	  AWS Signature Version 4 with OpenSSL's HMAC-SHA256.
 *
 * We sign requests ourselves rather than through CURLOPT_AWS_SIGV4: the
 * libcurl of Debian 12 (7.88) signs an empty payload unless told otherwise
 * and cannot be asked for the header it would send, so it could not be
 * compared with an independent signer.  Everything here is pure string
 * work; the only outside calls are OpenSSL's one-shot digests, which hold
 * no handle.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "lib/stringinfo.h"

#include "tier/sigv4.h"
#include "util/hex.h"

typedef struct QueryParam
{
	char	   *name;			/* canonical (encoded) */
	char	   *value;			/* canonical (encoded), "" when valueless */
} QueryParam;

static const char hexdigits[] = "0123456789abcdef";

static void
hex_encode_lower(const unsigned char *bytes, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
	{
		out[2 * i] = hexdigits[bytes[i] >> 4];
		out[2 * i + 1] = hexdigits[bytes[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

void
ft_sigv4_hex(const uint8 *bytes, size_t len, char *out)
{
	hex_encode_lower(bytes, len, out);
}

void
ft_sigv4_sha256_hex(const char *data, size_t len, char *out)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];

	if (EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a SHA-256 digest")));
	hex_encode_lower(digest, sizeof(digest), out);
}

static void
hmac_sha256(const unsigned char *key, size_t keylen,
			const char *data, size_t len, unsigned char *out)
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int) keylen,
			 (const unsigned char *) data, len, out, &outlen) == NULL ||
		outlen != SHA256_DIGEST_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute an HMAC-SHA256")));
}

/*
 * The signing key of the last request, and what it was derived from.  It
 * lives in the backend's static memory, as the secret setting does in the
 * GUC's; a scope or secret that does not fit replaces it, wiping it first.
 */
static struct
{
	bool		valid;
	char	   *secret;			/* malloc'd copy, wiped before it is freed */
	char		date[9];
	char		region[64];
	char		service[16];
	unsigned char key[SHA256_DIGEST_LENGTH];
}			signing_key;

static bool
signing_key_matches(const char *secret, const char *date,
					const char *region, const char *service)
{
	return signing_key.valid && strcmp(signing_key.date, date) == 0 &&
		strcmp(signing_key.region, region) == 0 &&
		strcmp(signing_key.service, service) == 0 &&
		strcmp(signing_key.secret, secret) == 0;
}

static void
signing_key_forget(void)
{
	if (signing_key.secret)
	{
		explicit_bzero(signing_key.secret, strlen(signing_key.secret));
		free(signing_key.secret);
	}
	explicit_bzero(&signing_key, sizeof(signing_key));
}

/* Keeps key for its scope, if the scope fits the cache (else nothing). */
static void
signing_key_keep(const char *secret, const char *date, const char *region,
				 const char *service, const unsigned char *key)
{
	signing_key_forget();
	memcpy(signing_key.key, key, SHA256_DIGEST_LENGTH);
	if (strlen(date) >= sizeof(signing_key.date) ||
		strlen(region) >= sizeof(signing_key.region) ||
		strlen(service) >= sizeof(signing_key.service))
		return;
	signing_key.secret = strdup(secret);
	if (signing_key.secret == NULL)
		return;
	strcpy(signing_key.date, date);
	strcpy(signing_key.region, region);
	strcpy(signing_key.service, service);
	signing_key.valid = true;
}

static bool
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

char *
ft_sigv4_uri_encode(const char *s, size_t len, bool keep_slash)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (is_unreserved(c) || (keep_slash && c == '/'))
			appendStringInfoChar(&buf, (char) c);
		else
			appendStringInfo(&buf, "%%%c%c",
							 "0123456789ABCDEF"[c >> 4],
							 "0123456789ABCDEF"[c & 0x0f]);
	}
	return buf.data;
}

/*
 * Percent-decodes len bytes of s, then encodes them canonically.  A '%' not
 * followed by two hex digits stands for itself, so it is encoded as %25.
 */
static char *
recode(const char *s, size_t len, bool keep_slash)
{
	char	   *raw = palloc(len + 1);
	size_t		n = 0;
	char	   *result;

	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '%' && i + 2 < len &&
			ft_hex_value(s[i + 1]) >= 0 && ft_hex_value(s[i + 2]) >= 0)
		{
			raw[n++] = (char) (ft_hex_value(s[i + 1]) * 16 +
							   ft_hex_value(s[i + 2]));
			i += 2;
		}
		else
			raw[n++] = s[i];
	}
	result = ft_sigv4_uri_encode(raw, n, keep_slash);
	pfree(raw);
	return result;
}

char *
ft_sigv4_canonical_path(const char *path)
{
	if (path == NULL || path[0] == '\0')
		return pstrdup("/");
	return recode(path, strlen(path), true);
}

static int
query_param_cmp(const void *a, const void *b)
{
	const QueryParam *pa = (const QueryParam *) a;
	const QueryParam *pb = (const QueryParam *) b;
	int			c = strcmp(pa->name, pb->name);

	return c != 0 ? c : strcmp(pa->value, pb->value);
}

char *
ft_sigv4_canonical_query(const char *query)
{
	QueryParam *params;
	int			nparams = 0;
	int			maxparams = 1;
	const char *p;
	StringInfoData buf;

	if (query == NULL || query[0] == '\0')
		return pstrdup("");

	for (p = query; *p; p++)
		if (*p == '&')
			maxparams++;
	params = palloc(sizeof(QueryParam) * maxparams);

	p = query;
	while (*p)
	{
		const char *end = strchr(p, '&');
		const char *eq;
		size_t		len;

		len = end ? (size_t) (end - p) : strlen(p);
		if (len > 0)
		{
			eq = memchr(p, '=', len);
			if (eq)
			{
				params[nparams].name = recode(p, eq - p, false);
				params[nparams].value = recode(eq + 1, len - (eq - p) - 1, false);
			}
			else
			{
				params[nparams].name = recode(p, len, false);
				params[nparams].value = pstrdup("");
			}
			nparams++;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}

	qsort(params, nparams, sizeof(QueryParam), query_param_cmp);

	initStringInfo(&buf);
	for (int i = 0; i < nparams; i++)
		appendStringInfo(&buf, "%s%s=%s", i > 0 ? "&" : "",
						 params[i].name, params[i].value);
	return buf.data;
}

/* A header ready for the canonical form: lower-case name, trimmed value. */
typedef struct CanonicalHeader
{
	char	   *name;
	char	   *value;
} CanonicalHeader;

static int
canonical_header_cmp(const void *a, const void *b)
{
	return strcmp(((const CanonicalHeader *) a)->name,
				  ((const CanonicalHeader *) b)->name);
}

/* Trims a header value and collapses each run of spaces into one. */
static char *
trim_all(const char *value)
{
	StringInfoData buf;
	bool		pending_space = false;

	initStringInfo(&buf);
	for (const char *p = value; *p; p++)
	{
		if (*p == ' ' || *p == '\t')
		{
			pending_space = buf.len > 0;
			continue;
		}
		if (pending_space)
			appendStringInfoChar(&buf, ' ');
		pending_space = false;
		appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

char *
ft_sigv4_authorization(const char *method,
					   const char *canonical_path,
					   const char *canonical_query,
					   const FtSigV4Header *headers,
					   int nheaders,
					   const char *payload_hash,
					   const char *amz_date,
					   const char *region,
					   const char *service,
					   const char *access_key_id,
					   const char *secret_access_key)
{
	CanonicalHeader *ch = palloc(sizeof(CanonicalHeader) * Max(nheaders, 1));
	StringInfoData creq;
	StringInfoData signed_headers;
	StringInfoData sts;
	StringInfoData auth;
	char		creq_hash[65];
	char		date[9];
	char	   *secret_key;
	size_t		secret_key_len;
	unsigned char k1[SHA256_DIGEST_LENGTH];
	unsigned char k2[SHA256_DIGEST_LENGTH];
	char		signature[2 * SHA256_DIGEST_LENGTH + 1];

	if (strlen(amz_date) != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid x-amz-date \"%s\"", amz_date),
				 errhint("Write it as YYYYMMDDTHHMMSSZ, in UTC.")));
	memcpy(date, amz_date, 8);
	date[8] = '\0';

	for (int i = 0; i < nheaders; i++)
	{
		ch[i].name = pstrdup(headers[i].name);
		for (char *c = ch[i].name; *c; c++)
			*c = pg_ascii_tolower((unsigned char) *c);
		ch[i].value = trim_all(headers[i].value);
	}
	qsort(ch, nheaders, sizeof(CanonicalHeader), canonical_header_cmp);

	/* The canonical request, and the list of signed headers. */
	initStringInfo(&creq);
	initStringInfo(&signed_headers);
	appendStringInfo(&creq, "%s\n%s\n%s\n", method, canonical_path,
					 canonical_query);
	for (int i = 0; i < nheaders; i++)
	{
		if (i > 0 && strcmp(ch[i].name, ch[i - 1].name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("header \"%s\" is given twice", ch[i].name)));
		appendStringInfo(&creq, "%s:%s\n", ch[i].name, ch[i].value);
		appendStringInfo(&signed_headers, "%s%s", i > 0 ? ";" : "",
						 ch[i].name);
	}
	appendStringInfo(&creq, "\n%s\n%s", signed_headers.data, payload_hash);
	ft_sigv4_sha256_hex(creq.data, creq.len, creq_hash);

	/* The string to sign names the credential scope. */
	initStringInfo(&sts);
	appendStringInfo(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
					 amz_date, date, region, service, creq_hash);

	/*
	 * The signing key is derived from the secret through the scope, one
	 * HMAC per element, and kept for the next request of the same scope
	 * and secret: a day's requests then cost one HMAC each, not five.
	 * Every step is wiped once used, since each would sign for the rest of
	 * its day, region or service.
	 */
	if (!signing_key_matches(secret_access_key, date, region, service))
	{
		secret_key_len = strlen(secret_access_key) + 4;
		secret_key = palloc(secret_key_len + 1);
		snprintf(secret_key, secret_key_len + 1, "AWS4%s", secret_access_key);
		hmac_sha256((unsigned char *) secret_key, secret_key_len,
					date, strlen(date), k1);
		explicit_bzero(secret_key, secret_key_len);
		pfree(secret_key);
		hmac_sha256(k1, sizeof(k1), region, strlen(region), k2);
		hmac_sha256(k2, sizeof(k2), service, strlen(service), k1);
		hmac_sha256(k1, sizeof(k1), "aws4_request", 12, k2);
		signing_key_keep(secret_access_key, date, region, service, k2);
	}
	hmac_sha256(signing_key.key, sizeof(signing_key.key), sts.data, sts.len,
				k1);
	hex_encode_lower(k1, sizeof(k1), signature);
	explicit_bzero(k1, sizeof(k1));
	explicit_bzero(k2, sizeof(k2));

	initStringInfo(&auth);
	appendStringInfo(&auth,
					 "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
					 "SignedHeaders=%s, Signature=%s",
					 access_key_id, date, region, service,
					 signed_headers.data, signature);
	return auth.data;
}
