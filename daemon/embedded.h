/*
 * embedded.h: text files compiled into rosterd by scripts/embed — the
 * Varlink interface descriptions and the SQL migrations — so that the binary
 * never runs against a mismatched copy on disk.
 */
#pragma once

#include <stddef.h>

struct embedded_file {
	const char *name;      /* file name without directory and extension */
	const char *text;
};

/* Each array ends with an entry whose name is NULL. */
extern const struct embedded_file embedded_interfaces[];
extern const struct embedded_file embedded_migrations[];
