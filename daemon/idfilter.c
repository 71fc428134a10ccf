/*
 * idfilter.c: see idfilter.h.
 */
#include <string.h>

#include <sodium.h>

#include "daemon/idfilter.h"

/*
 * The IDFILTER_HASHES bit positions of an id: 16-bit slices of its
 * BLAKE2b hash. Ids are chosen by callers (a guessed id is recorded too), so
 * the positions come from a hash rather than from the id's own bits; an
 * unkeyed one is enough, as a contrived collision costs only a block walk.
 */
static void positions(const char *id, size_t len, unsigned pos[IDFILTER_HASHES])
{
	unsigned char h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof(h), (const unsigned char *)id, len, NULL, 0);
	for (int i = 0; i < IDFILTER_HASHES; i++)
		pos[i] = (unsigned)h[2 * i] | (unsigned)h[2 * i + 1] << 8;
}

void idfilter_add(unsigned char bits[IDFILTER_BYTES], const char *id, size_t len)
{
	unsigned pos[IDFILTER_HASHES];

	positions(id, len, pos);
	for (int i = 0; i < IDFILTER_HASHES; i++)
		bits[pos[i] >> 3] |= (unsigned char)(1u << (pos[i] & 7));
}

size_t idfilter_add_words(unsigned char bits[IDFILTER_BYTES], const char *ids)
{
	size_t n = 0;

	for (const char *p = ids + strspn(ids, " "); *p; p += strspn(p, " ")) {
		size_t len = strcspn(p, " ");

		idfilter_add(bits, p, len);
		n++;
		p += len;
	}
	return n;
}

bool idfilter_may_have(const unsigned char *bits, size_t n, const char *id, size_t len)
{
	unsigned pos[IDFILTER_HASHES];

	if (n == 0)
		return false;
	if (n != IDFILTER_BYTES)
		return true;
	positions(id, len, pos);
	for (int i = 0; i < IDFILTER_HASHES; i++)
		if (!(bits[pos[i] >> 3] & (1u << (pos[i] & 7))))
			return false;
	return true;
}
