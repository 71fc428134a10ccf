/*
 * secmem.h: wiping allocator for jansson. Every JSON value the daemon
 * builds or parses (client fields, passphrases in Unseal parameters) is
 * wiped when jansson frees it, so freed heap never keeps client data or
 * secrets around for a core file or a later overflow to find.
 */
#pragma once

/* Install the wiping allocator; call once, before any jansson call. */
void secmem_init(void);
