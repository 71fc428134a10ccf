/*
 * secmem.c: see secmem.h. Each block carries its size in a header aligned
 * like malloc's own blocks, so the free hook knows how much to wipe.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include <jansson.h>
#include <sodium.h>

#include "daemon/secmem.h"

#define HDR sizeof(max_align_t)

static void *wipe_malloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - HDR)
		return NULL;
	p = malloc(n + HDR);
	if (p == NULL)
		return NULL;
	*(size_t *)p = n;
	return p + HDR;
}

static void wipe_free(void *ptr)
{
	unsigned char *p;

	if (ptr == NULL)
		return;
	p = (unsigned char *)ptr - HDR;
	sodium_memzero(p, *(size_t *)p + HDR);
	free(p);
}

void secmem_init(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}
