/*
 * audit-hash.c: see audit-hash.h and doc/audit-format.md.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "lib/audit-hash.h"

static void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void enc_bytes(crypto_generichash_state *st, const char *s, size_t n)
{
	unsigned char len[4];

	put_be(len, (uint64_t)n, 4);
	crypto_generichash_update(st, len, sizeof(len));
	crypto_generichash_update(st, (const unsigned char *)s, n);
}

static void enc_str(crypto_generichash_state *st, const char *s)
{
	enc_bytes(st, s ? s : "", s ? strlen(s) : 0);
}

static void enc_int(crypto_generichash_state *st, int64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRId64, v);

	enc_bytes(st, buf, (size_t)n);
}

void audit_hash(const unsigned char prev[AUDIT_HASH_BYTES], const struct audit_fields *f,
		unsigned char out[AUDIT_HASH_BYTES])
{
	static const char tag[] = "roster.audit.v1";   /* sizeof includes the NUL */
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, AUDIT_HASH_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)tag, sizeof(tag));
	crypto_generichash_update(&st, prev, AUDIT_HASH_BYTES);
	enc_int(&st, f->seq);
	enc_int(&st, f->time_us);
	enc_str(&st, f->principal);
	enc_int(&st, f->uid);
	enc_int(&st, f->gid);
	enc_int(&st, f->pid);
	enc_str(&st, f->role);
	enc_str(&st, f->method);
	enc_str(&st, f->ids);
	enc_str(&st, f->fields);
	enc_int(&st, f->records);
	enc_str(&st, f->result);
	enc_str(&st, f->error);
	enc_str(&st, f->alert);
	crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
}

void audit_checkpoint_message(int64_t seq, const unsigned char hash[AUDIT_HASH_BYTES],
			      int64_t time_us, unsigned char out[AUDIT_CP_MSG_BYTES])
{
	static const char tag[] = "roster.checkpoint.v1";

	memcpy(out, tag, sizeof(tag));                  /* 21 bytes with the NUL */
	put_be(out + 21, (uint64_t)seq, 8);
	memcpy(out + 29, hash, AUDIT_HASH_BYTES);
	put_be(out + 61, (uint64_t)time_us, 8);
}

void audit_keyroll_message(int64_t seq, const unsigned char hash[AUDIT_HASH_BYTES],
			   int64_t time_us, const unsigned char next_pubkey[32],
			   unsigned char out[AUDIT_KEYROLL_MSG_BYTES])
{
	static const char tag[] = "roster.keyroll.v1";

	memcpy(out, tag, sizeof(tag));                  /* 18 bytes with the NUL */
	put_be(out + 18, (uint64_t)seq, 8);
	memcpy(out + 26, hash, AUDIT_HASH_BYTES);
	put_be(out + 58, (uint64_t)time_us, 8);
	memcpy(out + 66, next_pubkey, 32);
}
