/*
 * backup.c: pack and parse the backup header (see backup.h).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "daemon/backup.h"
#include "daemon/keys.h"
#include "daemon/util.h"

void backup_hdr_pack(const struct backup_hdr *h, unsigned char out[BACKUP_HDR_SIZE])
{
	memset(out, 0, BACKUP_HDR_SIZE);
	memcpy(out, BACKUP_MAGIC, 8);
	put_be(out + 8, BACKUP_VERSION, 4);
	put_be(out + 12, h->keyring_len, 4);
	put_be(out + 16, (uint64_t)h->created_us, 8);
	put_be(out + 24, (uint64_t)h->audit_seq, 8);
	memcpy(out + 32, h->audit_hash, 32);
	put_be(out + 64, h->db_len, 8);
}

int backup_hdr_parse(const unsigned char *buf, size_t len, struct backup_hdr *ret)
{
	static const unsigned char zero[8];
	struct backup_hdr h;

	if (len < BACKUP_HDR_SIZE || memcmp(buf, BACKUP_MAGIC, 8) != 0)
		return -EBADMSG;
	h.version = (uint32_t)get_be(buf + 8, 4);
	if (h.version != BACKUP_VERSION)
		return -EPROTONOSUPPORT;
	h.keyring_len = (uint32_t)get_be(buf + 12, 4);
	h.created_us = (int64_t)get_be(buf + 16, 8);
	h.audit_seq = (int64_t)get_be(buf + 24, 8);
	memcpy(h.audit_hash, buf + 32, 32);
	h.db_len = get_be(buf + 64, 8);
	/* Anything else would be a different format: refuse rather than guess. */
	if ((h.keyring_len != KEYRING_SIZE && h.keyring_len != KEYRING_V1_SIZE) || h.db_len == 0 || h.db_len > BACKUP_DB_MAX ||
	    h.created_us <= 0 || h.audit_seq < 0 || memcmp(buf + 72, zero, 8) != 0)
		return -EBADMSG;
	*ret = h;
	return 0;
}

uint64_t backup_file_size(const struct backup_hdr *h)
{
	/* The keyring is of one of the two lengths backup_hdr_parse accepts. */
	return BACKUP_HDR_SIZE + (uint64_t)h->keyring_len + h->db_len + BACKUP_TAG_SIZE;
}
