/*-------------------------------------------------------------------------
 *
 * md5_lanes.c
 *	  The MD5s of several messages at once, one per 32-bit lane of AVX2.
 *
 * An offload to S3 needs the MD5 of every object it writes, to compare
 * with the ETag the service answers (offload.c).  MD5 is a chain of
 * dependent steps, so one message cannot go faster than one step at a
 * time (OpenSSL does about 500 MB/s on the project's machines), but eight
 * messages are eight independent chains: with AVX2 each step runs for all
 * eight in one instruction.  Each lane takes the next message as soon as
 * its own is done, so messages of different lengths keep all lanes busy
 * until the last ones.  On a CPU without AVX2 the messages are hashed one
 * after another by OpenSSL.
 *
 * The algorithm is RFC 1321's; the tests compare every digest with an
 * independent one (the mock S3 service's, python's hashlib).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "tier/md5_lanes.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define MD5_LANES_AVX2 1
#include <immintrin.h>
#endif

/* RFC 1321's table: the integer part of 2^32 * |sin(i + 1)|. */
static const uint32 md5_k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a,
	0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
	0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
	0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
	0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
	0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
	0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
	0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
	0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391
};

/* Left rotations, four per round, and the message word each step takes. */
static const int md5_s[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21
};

static const int md5_g[64] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12,
	5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2,
	0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9
};

#define MD5_IV_A	0x67452301
#define MD5_IV_B	0xefcdab89
#define MD5_IV_C	0x98badcfe
#define MD5_IV_D	0x10325476

static inline uint32
load_le32(const uint8 *p)
{
	return (uint32) p[0] | ((uint32) p[1] << 8) | ((uint32) p[2] << 16) |
		((uint32) p[3] << 24);
}

static inline uint32
rotl32(uint32 x, int s)
{
	return (x << s) | (x >> (32 - s));
}

/* One 64-byte block into the state h[4], the plain way. */
static void
md5_block(uint32 *h, const uint8 *p)
{
	uint32		m[16];
	uint32		a = h[0],
				b = h[1],
				c = h[2],
				d = h[3];

	for (int i = 0; i < 16; i++)
		m[i] = load_le32(p + 4 * i);
	for (int i = 0; i < 64; i++)
	{
		uint32		f;
		uint32		t;

		if (i < 16)
			f = (b & c) | (~b & d);
		else if (i < 32)
			f = (d & b) | (~d & c);
		else if (i < 48)
			f = b ^ c ^ d;
		else
			f = c ^ (b | ~d);
		t = d;
		d = c;
		c = b;
		b = b + rotl32(a + f + md5_k[i] + m[md5_g[i]], md5_s[i]);
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
}

/*
 * Finishes a message whose whole blocks are in h: its last len % 64 bytes
 * (at tail), the padding and the length, then the digest into out.
 */
static void
md5_finish(uint32 *h, const uint8 *tail, size_t len, uint8 *out)
{
	uint8		buf[128];
	size_t		rest = len % 64;
	size_t		padded = rest < 56 ? 64 : 128;
	uint64		bits = (uint64) len * 8;

	memcpy(buf, tail, rest);
	buf[rest] = 0x80;
	memset(buf + rest + 1, 0, padded - rest - 1);
	for (int i = 0; i < 8; i++)
		buf[padded - 8 + i] = (uint8) (bits >> (8 * i));
	md5_block(h, buf);
	if (padded == 128)
		md5_block(h, buf + 64);
	for (int i = 0; i < 4; i++)
	{
		out[4 * i] = (uint8) h[i];
		out[4 * i + 1] = (uint8) (h[i] >> 8);
		out[4 * i + 2] = (uint8) (h[i] >> 16);
		out[4 * i + 3] = (uint8) (h[i] >> 24);
	}
}

/* The MD5 of one message, by OpenSSL. */
void
ft_md5(const char *msg, size_t len, uint8 *out)
{
	unsigned int n = 0;

	if (EVP_Digest(msg, len, out, &n, EVP_md5(), NULL) != 1 || n != 16)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute an MD5 digest")));
}

#ifdef MD5_LANES_AVX2

static bool
have_avx2(void)
{
	static int	known = -1;

	if (known < 0)
	{
		__builtin_cpu_init();
		known = __builtin_cpu_supports("avx2") ? 1 : 0;
	}
	return known == 1;
}

/*
 * Words 0-7 (at byte offset 0) or 8-15 (offset 32) of the eight lanes'
 * blocks, turned so that m[w] holds word w of every lane: eight loads and
 * an 8 x 8 transpose, rather than 64 loads of one word each.
 */
__attribute__((target("avx2")))
static inline void
transpose8(const uint8 *const *q, int offset, __m256i *m)
{
	__m256i		r[8];
	__m256i		t[8];
	__m256i		u[8];

	for (int j = 0; j < 8; j++)
		r[j] = _mm256_loadu_si256((const __m256i *) (q[j] + offset));
	for (int j = 0; j < 8; j += 2)
	{
		t[j] = _mm256_unpacklo_epi32(r[j], r[j + 1]);
		t[j + 1] = _mm256_unpackhi_epi32(r[j], r[j + 1]);
	}
	for (int j = 0; j < 8; j += 4)
	{
		u[j] = _mm256_unpacklo_epi64(t[j], t[j + 2]);
		u[j + 1] = _mm256_unpackhi_epi64(t[j], t[j + 2]);
		u[j + 2] = _mm256_unpacklo_epi64(t[j + 1], t[j + 3]);
		u[j + 3] = _mm256_unpackhi_epi64(t[j + 1], t[j + 3]);
	}
	for (int w = 0; w < 4; w++)
	{
		m[w] = _mm256_permute2x128_si256(u[w], u[w + 4], 0x20);
		m[w + 4] = _mm256_permute2x128_si256(u[w], u[w + 4], 0x31);
	}
}

/*
 * nblocks blocks of every lane's message, in turn, into the lanes' states;
 * a lane whose pointer does not advance (step 0) hashes the same block
 * again, its result unused.
 */
__attribute__((target("avx2")))
static void
md5_blocks8(uint32 *ha, uint32 *hb, uint32 *hc, uint32 *hd,
			const uint8 **p, const size_t *step, size_t nblocks)
{
	__m256i		a = _mm256_loadu_si256((const __m256i *) ha);
	__m256i		b = _mm256_loadu_si256((const __m256i *) hb);
	__m256i		c = _mm256_loadu_si256((const __m256i *) hc);
	__m256i		d = _mm256_loadu_si256((const __m256i *) hd);
	const __m256i ones = _mm256_set1_epi32(-1);
	const uint8 *q[8];

	for (int j = 0; j < 8; j++)
		q[j] = p[j];
	for (size_t blk = 0; blk < nblocks; blk++)
	{
		__m256i		m[16];
		__m256i		a0 = a,
					b0 = b,
					c0 = c,
					d0 = d;

		/* word w of every lane's block in one vector, lane j from q[j] */
		transpose8(q, 0, m);
		transpose8(q, 32, m + 8);
#define MD5_STEP8(F, i) \
		do { \
			__m256i		k = _mm256_set1_epi32((int) md5_k[i]); \
			__m256i		t = _mm256_add_epi32(k, m[md5_g[i]]); \
			t = _mm256_add_epi32(_mm256_add_epi32(a, (F)), t); \
			t = _mm256_or_si256(_mm256_slli_epi32(t, md5_s[i]), \
								_mm256_srli_epi32(t, 32 - md5_s[i])); \
			a = d; \
			d = c; \
			c = b; \
			b = _mm256_add_epi32(b, t); \
		} while (0)

		/* the four rounds, each fully unrolled so shifts are constants */
#pragma GCC unroll 16
		for (int i = 0; i < 16; i++)
			MD5_STEP8(_mm256_or_si256(_mm256_and_si256(b, c),
									  _mm256_andnot_si256(b, d)), i);
#pragma GCC unroll 16
		for (int i = 16; i < 32; i++)
			MD5_STEP8(_mm256_or_si256(_mm256_and_si256(d, b),
									  _mm256_andnot_si256(d, c)), i);
#pragma GCC unroll 16
		for (int i = 32; i < 48; i++)
			MD5_STEP8(_mm256_xor_si256(_mm256_xor_si256(b, c), d), i);
#pragma GCC unroll 16
		for (int i = 48; i < 64; i++)
		{
			__m256i		not_d = _mm256_xor_si256(d, ones);

			MD5_STEP8(_mm256_xor_si256(c, _mm256_or_si256(b, not_d)), i);
		}
#undef MD5_STEP8
		a = _mm256_add_epi32(a, a0);
		b = _mm256_add_epi32(b, b0);
		c = _mm256_add_epi32(c, c0);
		d = _mm256_add_epi32(d, d0);
		for (int j = 0; j < 8; j++)
			q[j] += step[j];
	}
	_mm256_storeu_si256((__m256i *) ha, a);
	_mm256_storeu_si256((__m256i *) hb, b);
	_mm256_storeu_si256((__m256i *) hc, c);
	_mm256_storeu_si256((__m256i *) hd, d);
}

#endif							/* MD5_LANES_AVX2 */

void
ft_md5_many(int n, const char *const *msgs, const size_t *lens, uint8 *out)
{
#ifdef MD5_LANES_AVX2
	static const uint8 idle_block[64];
	uint32		ha[8],
				hb[8],
				hc[8],
				hd[8];
	const uint8 *p[8];
	size_t		step[8];
	size_t		left[8];		/* whole blocks still to hash */
	int			msg[8];			/* which message; -1 idle */
	int			next = 0;
	int			busy = 0;

	if (n < 2 || !have_avx2())
#endif
	{
		for (int i = 0; i < n; i++)
			ft_md5(msgs[i], lens[i], out + 16 * i);
		return;
	}

#ifdef MD5_LANES_AVX2
	for (int j = 0; j < 8; j++)
	{
		msg[j] = -1;
		p[j] = idle_block;
		step[j] = 0;
		left[j] = 0;
	}
	for (;;)
	{
		size_t		run = SIZE_MAX;

		/* idle lanes take the next messages; those under a block finish */
		for (int j = 0; j < 8; j++)
		{
			while (msg[j] < 0 && next < n)
			{
				uint32		h[4] = {MD5_IV_A, MD5_IV_B, MD5_IV_C, MD5_IV_D};
				int			i = next++;

				if (lens[i] < 64)
				{
					md5_finish(h, (const uint8 *) msgs[i], lens[i],
							   out + 16 * i);
					continue;
				}
				msg[j] = i;
				busy++;
				ha[j] = h[0];
				hb[j] = h[1];
				hc[j] = h[2];
				hd[j] = h[3];
				p[j] = (const uint8 *) msgs[i];
				step[j] = 64;
				left[j] = lens[i] / 64;
			}
			if (msg[j] >= 0)
				run = Min(run, left[j]);
		}
		if (busy == 0)
			break;

		/*
		 * With nothing left to start and one or two lanes busy, the plain
		 * code is faster per message than eight lanes mostly idle.
		 */
		if (next == n && busy <= 2)
		{
			for (int j = 0; j < 8; j++)
			{
				uint32		h[4] = {ha[j], hb[j], hc[j], hd[j]};
				int			i = msg[j];

				if (i < 0)
					continue;
				for (; left[j] > 0; left[j]--, p[j] += 64)
					md5_block(h, p[j]);
				md5_finish(h, (const uint8 *) msgs[i] + lens[i] / 64 * 64,
						   lens[i], out + 16 * i);
			}
			break;
		}

		/* as many blocks as the shortest message in a lane has left */
		md5_blocks8(ha, hb, hc, hd, p, step, run);
		for (int j = 0; j < 8; j++)
		{
			uint32		h[4];
			int			i = msg[j];

			if (i < 0)
				continue;
			p[j] += run * 64;
			left[j] -= run;
			if (left[j] > 0)
				continue;
			h[0] = ha[j];
			h[1] = hb[j];
			h[2] = hc[j];
			h[3] = hd[j];
			md5_finish(h, (const uint8 *) msgs[i] + lens[i] / 64 * 64, lens[i],
					   out + 16 * i);
			msg[j] = -1;
			p[j] = idle_block;
			step[j] = 0;
			busy--;
		}
	}
#endif
}
