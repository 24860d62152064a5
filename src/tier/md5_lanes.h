/*-------------------------------------------------------------------------
 *
 * md5_lanes.h
 *	  The MD5s of several messages at once (md5_lanes.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FT_MD5_LANES_H
#define FT_MD5_LANES_H

/*
 * The MD5 of each of the n messages msgs[i] of lens[i] bytes, into the 16
 * bytes at out + 16 * i; eight at a time where the CPU has AVX2.
 */
extern void ft_md5(const char *msg, size_t len, uint8 *out);
extern void ft_md5_many(int n, const char *const *msgs, const size_t *lens,
						uint8 *out);

#endif							/* FT_MD5_LANES_H */
