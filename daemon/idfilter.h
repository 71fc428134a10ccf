/*
 * idfilter.h: the Bloom filters that answer "which audit records name
 * client X" (doc/audit-format.md, "Finding the records of a client").
 *
 * The trail is cut into blocks of consecutive records; each closed block
 * keeps one filter of the ids its records name. A query by client reads
 * every filter and walks only the blocks whose filter may hold the id, plus
 * the open block. A filter never misses an id that was added (no false
 * negatives), and holding IDFILTER_BLOCK_MAX ids it says "maybe" for an
 * absent one about once in 400 blocks, which costs only a walk of that
 * block. This replaced one index row per id per record, which put a random
 * page of the index into every commit.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define IDFILTER_BYTES 8192             /* 65,536 bits */
#define IDFILTER_HASHES 4
/* A block closes once it holds this many records, or names this many ids. */
#define IDFILTER_BLOCK_MAX 4096

/* Add one id (len bytes, need not be NUL-terminated). */
void idfilter_add(unsigned char bits[IDFILTER_BYTES], const char *id, size_t len);

/* Add every space-separated word of ids; returns how many words. */
size_t idfilter_add_words(unsigned char bits[IDFILTER_BYTES], const char *ids);

/*
 * Whether a stored filter of n bytes may hold id. An empty filter holds
 * nothing (the block of records written before filters existed, which the
 * old index covers); a filter of any other size than IDFILTER_BYTES is not
 * trusted to rule anything out, so the answer is yes.
 */
bool idfilter_may_have(const unsigned char *bits, size_t n, const char *id, size_t len);
