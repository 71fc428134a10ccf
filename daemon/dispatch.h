/*
 * dispatch.h: the method table and the dispatcher.
 *
 * Every Varlink method rosterd answers has exactly one entry in one table
 * (dispatch.c): its name, the capability it needs, flags, and its handler.
 * The dispatcher checks the state and the caller's rights before any
 * handler runs and denies by default; no handler checks permissions itself.
 */
#pragma once

#include <stddef.h>
#include <jansson.h>

struct call;
struct conn_auth;

/* Capabilities, one power each (DESIGN.md "Identity, roles, capabilities"). */
enum cap {
	CAP_NONE = 0,          /* no capability needed (still subject to flags) */
	CAP_CLIENTS_GET,
	CAP_CLIENTS_SEARCH,
	CAP_CLIENTS_LIST,
	CAP_CLIENTS_CREATE,
	CAP_CLIENTS_UPDATE,
	CAP_CLIENTS_DELETE,
	CAP_CLIENTS_EXPORT,
	CAP_AUDIT_READ,
	CAP_AUDIT_VERIFY,
	CAP_ADMIN_PRINCIPALS,
	CAP_ADMIN_KEYS,
	CAP_ADMIN_BACKUP,
	CAP_ADMIN_SEAL,
	CAP__MAX
};

/* Method flags. */
#define M_PUBLIC     0x01u   /* any peer may call it, known or not */
#define M_UNINIT     0x02u   /* answered while uninitialized */
#define M_SEALED     0x04u   /* answered while sealed */
#define M_UNSEALED   0x08u   /* answered while unsealed */
#define M_SENSITIVE  0x10u   /* parameters hold secrets: wiped, never logged */
#define M_ANYSTATE   (M_UNINIT | M_SEALED | M_UNSEALED)

struct method {
	const char *name;      /* full Varlink name, e.g. "io.roster.Clients.Get" */
	enum cap cap;
	unsigned flags;
	void (*fn)(struct call *c);
};

/* The table, ending with an entry whose name is NULL. */
extern const struct method method_table[];

/* The method named name, or NULL. */
const struct method *method_lookup(const char *name);

/* The capability's name as in DESIGN.md ("clients.get"), or NULL for CAP_NONE. */
const char *cap_name(enum cap cap);

/*
 * Take a parsed call (c->method unset) through lookup, state and permission
 * checks to its handler, or answer it with the error that stopped it.
 */
void dispatch(struct call *c);

/* Handlers, one group per interface (method-*.c). */
void method_service_get_info(struct call *c);
void method_service_get_interface_description(struct call *c);

void method_admin_status(struct call *c);
void method_admin_init(struct call *c);
void method_admin_unseal(struct call *c);
void method_admin_seal(struct call *c);
void method_admin_backup(struct call *c);
void method_admin_rekey(struct call *c);
void method_admin_authenticate(struct call *c);
void method_admin_whoami(struct call *c);
void method_admin_principal_add(struct call *c);
void method_admin_principal_list(struct call *c);
void method_admin_principal_remove(struct call *c);
void method_admin_principal_lock(struct call *c);
void method_admin_principal_unlock(struct call *c);
void method_admin_token_rotate(struct call *c);
void method_admin_role_list(struct call *c);
void method_admin_role_show(struct call *c);
void method_admin_role_add(struct call *c);
void method_admin_role_remove(struct call *c);
void method_admin_canary_add(struct call *c);
void method_admin_canary_list(struct call *c);

void method_audit_query(struct call *c);
void method_audit_verify(struct call *c);
void method_audit_checkpoint(struct call *c);
void method_audit_tail(struct call *c);
void method_audit_public_key(struct call *c);

/*
 * Put who is calling on c's record without deciding anything (ca: a token
 * proved on its connection, or NULL): for public methods, and for calls
 * answered before any method runs (an unknown method, a message that is
 * not a call), so that the trail names a principal whenever the caller is
 * one, not "unknown".
 */
void dispatch_identify(struct call *c, const struct conn_auth *ca);

void method_clients_get(struct call *c);
/*
 * Shape an array of stored clients (taken over) for c's caller: the fields
 * its role may not see removed, each id and the count put on c's record.
 * Returns the array to send, or NULL on allocation failure.
 */
json_t *clients_view(struct call *c, json_t *arr);
void method_clients_search(struct call *c);
void method_clients_list(struct call *c);
void method_clients_create(struct call *c);
void method_clients_import(struct call *c);
void method_clients_update(struct call *c);
void method_clients_delete(struct call *c);
void method_clients_export_request(struct call *c);
void method_clients_export_approve(struct call *c);
void method_clients_export(struct call *c);
