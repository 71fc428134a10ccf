/*
 * lookup.c: look up one client by id with libroster, as a service would.
 *
 *     cc lookup.c $(pkg-config --cflags --libs libroster jansson) -o lookup
 *     ROSTER_SOCKET=/run/roster/roster.sock ./lookup 0123456789abcdef0123456789abcdef
 *
 * The daemon knows the caller by its uid (SO_PEERCRED): nothing identifies
 * the service but the account it runs under. The reply holds only the
 * fields that account's role may see. Exit status: 0 found, 1 other
 * failure, 2 usage, 3 not found, 4 permission denied, 5 quota exceeded,
 * 6 locked (the same in lookup.py and lookup.go).
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>
#include <roster.h>

int main(int argc, char **argv)
{
	struct roster *r;
	json_t *client;
	char *text;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: lookup CLIENT-ID\n");
		return 2;
	}
	/* NULL: the socket named by $ROSTER_SOCKET, else /run/roster/roster.sock. */
	rc = roster_connect(NULL, &r);
	if (rc < 0) {
		fprintf(stderr, "lookup: cannot reach the registry: %s\n", roster_strerror(rc));
		return 1;
	}
	rc = roster_client_get(r, argv[1], &client);
	switch (rc) {
	case ROSTER_OK:
		/* Hidden field classes are absent from the object, not empty. */
		text = json_dumps(client, JSON_SORT_KEYS | JSON_COMPACT);
		if (text != NULL)
			puts(text);
		free(text);
		json_decref(client);
		rc = text != NULL ? 0 : 1;
		break;
	case ROSTER_E_NOTFOUND:
		fprintf(stderr, "lookup: no client has the id %s\n", argv[1]);
		rc = 3;
		break;
	case ROSTER_E_PERMISSION:
		fprintf(stderr, "lookup: permission denied: this account is not a principal "
			"whose role may read clients (%s)\n", roster_error_message(r));
		rc = 4;
		break;
	case ROSTER_E_QUOTA:
		fprintf(stderr, "lookup: quota exceeded: this service has read as many "
			"records as its role allows for now\n");
		rc = 5;
		break;
	case ROSTER_E_LOCKED:
		fprintf(stderr, "lookup: this service's principal is locked; an admin must "
			"unlock it (rosterctl principal unlock NAME)\n");
		rc = 6;
		break;
	default:
		fprintf(stderr, "lookup: %s\n", roster_error_message(r));
		rc = 1;
		break;
	}
	roster_free(r);
	return rc;
}
