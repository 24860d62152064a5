/*
 * hex.h: the value of one hexadecimal digit, for the parsers that read
 * them byte by byte (JSON \u escapes, percent-encoded URL paths).
 */
#ifndef FTSTORE_UTIL_HEX_H
#define FTSTORE_UTIL_HEX_H

/* The digit's value, 0 to 15, or -1 if c is no hexadecimal digit. */
static inline int
ft_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif							/* FTSTORE_UTIL_HEX_H */
