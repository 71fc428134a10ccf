/*
 * fuzz-keyring.c: libFuzzer target for keyring_parse() in daemon/keys.c,
 * which checks the keyring file's image before any passphrase is tried.
 *
 * The first input byte is a mode, the rest the file's image. Random bytes
 * almost never carry a valid BLAKE2b checksum, which would leave every check
 * after the checksum unexplored, so when the mode's low bit is set and the
 * image has the keyring's size, the target first writes the right checksum
 * into it, as someone editing the file with the format at hand would. The
 * result must be one of the documented ones, *ret must be untouched on
 * failure, and an accepted header must hold what keys.h promises, for
 * format 2 (KEYRING_SIZE) and for format 1 (KEYRING_V1_SIZE), still read.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon/keys.h"


int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyring_hdr h, untouched;
	unsigned char *img;
	size_t len;
	int r;

	if (size < 1)
		return 0;
	len = size - 1;
	/* An exact-size heap copy, so ASan sees any read past the image. */
	img = malloc(len ? len : 1);
	if (img == NULL)
		return 0;
	memcpy(img, data + 1, len);
	/* The checksum is the last 32 bytes and covers every byte before it. */
	if ((data[0] & 1) && (len == KEYRING_SIZE || len == KEYRING_V1_SIZE))
		crypto_generichash(img + len - 32, 32, img, len - 32, NULL, 0);
	memset(&h, 0xa5, sizeof(h));
	untouched = h;
	r = keyring_parse(img, len, &h);
	switch (r) {
	case 0:
		if (!((len == KEYRING_SIZE && h.version == KEYRING_VERSION) ||
		      (len == KEYRING_V1_SIZE && h.version == 1)) || h.size != len ||
		    memcmp(img, KEYRING_MAGIC, 8) != 0 || h.alg != crypto_pwhash_ALG_ARGON2ID13 ||
		    h.opslimit < crypto_pwhash_OPSLIMIT_MIN || h.opslimit > 64 ||
		    h.memlimit < crypto_pwhash_MEMLIMIT_MIN || h.memlimit > (UINT64_C(4) << 30) ||
		    memcmp(h.sign_pk, img + 72, 32) != 0 || h.n_retired > KEYRING_RETIRED_MAX ||
		    (h.flags & ~KEYRING_FLAG_ROTATING) != 0 ||
		    (h.version == 1 && (h.flags != 0 || h.n_retired != 0)) ||
		    (h.version == KEYRING_VERSION &&
		     memcmp(h.retired_pk, img + 112, (size_t)h.n_retired * 32) != 0))
			abort();
		break;
	case -EBADMSG:
	case -EPROTONOSUPPORT:
	case -EINVAL:
		if (memcmp(&h, &untouched, sizeof(h)) != 0)
			abort();
		break;
	default:
		abort();
	}
	free(img);
	return 0;
}
