/*
 * dispatch.c: the one method table, and the checks every call passes before
 * its handler runs (see dispatch.h).
 *
 * Order of checks: the method exists; the caller may call it; the registry's
 * state allows it. Each failure has its own typed error. Handlers never
 * check permissions themselves.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon/dispatch.h"
#include "daemon/embedded.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/server.h"

const struct method method_table[] = {
	/* Introspection is public: interface descriptions are not secret. */
	{ "org.varlink.service.GetInfo", CAP_NONE, M_PUBLIC | M_ANYSTATE,
	  method_service_get_info },
	{ "org.varlink.service.GetInterfaceDescription", CAP_NONE, M_PUBLIC | M_ANYSTATE,
	  method_service_get_interface_description },

	{ "io.roster.Admin.Status", CAP_NONE, M_PUBLIC | M_ANYSTATE, method_admin_status },
	{ "io.roster.Admin.Init", CAP_ADMIN_KEYS, M_UNINIT | M_SENSITIVE, method_admin_init },
	{ "io.roster.Admin.Unseal", CAP_ADMIN_SEAL, M_SEALED | M_SENSITIVE, method_admin_unseal },
	/* Sealing a sealed registry succeeds: the emergency brake never refuses. */
	{ "io.roster.Admin.Seal", CAP_ADMIN_SEAL, M_UNSEALED | M_SEALED, method_admin_seal },
	/* Whoever may back up gets ciphertext and the wrapped keyring: nothing more. */
	{ "io.roster.Admin.Backup", CAP_ADMIN_BACKUP, M_UNSEALED, method_admin_backup },
	{ "io.roster.Admin.Rekey", CAP_ADMIN_KEYS, M_UNSEALED | M_SENSITIVE, method_admin_rekey },
	/* Anyone may prove a token or ask who they are; that grants nothing by itself. */
	{ "io.roster.Admin.Authenticate", CAP_NONE, M_PUBLIC | M_UNSEALED | M_SENSITIVE,
	  method_admin_authenticate },
	{ "io.roster.Admin.WhoAmI", CAP_NONE, M_PUBLIC | M_ANYSTATE, method_admin_whoami },
	{ "io.roster.Admin.PrincipalAdd", CAP_ADMIN_PRINCIPALS, M_UNSEALED, method_admin_principal_add },
	{ "io.roster.Admin.PrincipalList", CAP_ADMIN_PRINCIPALS, M_UNSEALED, method_admin_principal_list },
	{ "io.roster.Admin.PrincipalRemove", CAP_ADMIN_PRINCIPALS, M_UNSEALED,
	  method_admin_principal_remove },
	{ "io.roster.Admin.PrincipalLock", CAP_ADMIN_PRINCIPALS, M_UNSEALED, method_admin_principal_lock },
	{ "io.roster.Admin.PrincipalUnlock", CAP_ADMIN_PRINCIPALS, M_UNSEALED,
	  method_admin_principal_unlock },
	{ "io.roster.Admin.TokenRotate", CAP_ADMIN_PRINCIPALS, M_UNSEALED, method_admin_token_rotate },
	{ "io.roster.Admin.RoleList", CAP_ADMIN_PRINCIPALS, M_UNSEALED, method_admin_role_list },
	{ "io.roster.Admin.RoleShow", CAP_ADMIN_PRINCIPALS, M_UNSEALED, method_admin_role_show },
	{ "io.roster.Admin.RoleAdd", CAP_ADMIN_PRINCIPALS, M_UNSEALED, method_admin_role_add },
	{ "io.roster.Admin.RoleRemove", CAP_ADMIN_PRINCIPALS, M_UNSEALED, method_admin_role_remove },
	/* Canaries are security administration: nobody else may tell them apart. */
	{ "io.roster.Admin.CanaryAdd", CAP_ADMIN_PRINCIPALS, M_UNSEALED, method_admin_canary_add },
	{ "io.roster.Admin.CanaryList", CAP_ADMIN_PRINCIPALS, M_UNSEALED, method_admin_canary_list },

	{ "io.roster.Audit.Query", CAP_AUDIT_READ, M_UNSEALED, method_audit_query },
	{ "io.roster.Audit.Verify", CAP_AUDIT_VERIFY, M_UNSEALED, method_audit_verify },
	{ "io.roster.Audit.Checkpoint", CAP_AUDIT_VERIFY, M_UNSEALED, method_audit_checkpoint },
	{ "io.roster.Audit.Tail", CAP_AUDIT_READ, M_UNSEALED, method_audit_tail },
	/* The public key is in the keyring's plaintext header: no secret, any state. */
	{ "io.roster.Audit.PublicKey", CAP_NONE, M_PUBLIC | M_SEALED | M_UNSEALED,
	  method_audit_public_key },

	{ "io.roster.Clients.Get", CAP_CLIENTS_GET, M_UNSEALED, method_clients_get },
	{ "io.roster.Clients.Search", CAP_CLIENTS_SEARCH, M_UNSEALED, method_clients_search },
	{ "io.roster.Clients.List", CAP_CLIENTS_LIST, M_UNSEALED, method_clients_list },
	{ "io.roster.Clients.Create", CAP_CLIENTS_CREATE, M_UNSEALED, method_clients_create },
	{ "io.roster.Clients.Import", CAP_CLIENTS_CREATE, M_UNSEALED, method_clients_import },
	{ "io.roster.Clients.Update", CAP_CLIENTS_UPDATE, M_UNSEALED, method_clients_update },
	{ "io.roster.Clients.Delete", CAP_CLIENTS_DELETE, M_UNSEALED, method_clients_delete },
	/* The two-person rule: one admin asks, another approves, the first one exports. */
	{ "io.roster.Clients.ExportRequest", CAP_CLIENTS_EXPORT, M_UNSEALED,
	  method_clients_export_request },
	{ "io.roster.Clients.ExportApprove", CAP_CLIENTS_EXPORT, M_UNSEALED,
	  method_clients_export_approve },
	{ "io.roster.Clients.Export", CAP_CLIENTS_EXPORT, M_UNSEALED, method_clients_export },
	{ NULL, CAP_NONE, 0, NULL },
};

static const char *const cap_names[CAP__MAX] = {
	[CAP_CLIENTS_GET] = "clients.get",
	[CAP_CLIENTS_SEARCH] = "clients.search",
	[CAP_CLIENTS_LIST] = "clients.list",
	[CAP_CLIENTS_CREATE] = "clients.create",
	[CAP_CLIENTS_UPDATE] = "clients.update",
	[CAP_CLIENTS_DELETE] = "clients.delete",
	[CAP_CLIENTS_EXPORT] = "clients.export",
	[CAP_AUDIT_READ] = "audit.read",
	[CAP_AUDIT_VERIFY] = "audit.verify",
	[CAP_ADMIN_PRINCIPALS] = "admin.principals",
	[CAP_ADMIN_KEYS] = "admin.keys",
	[CAP_ADMIN_BACKUP] = "admin.backup",
	[CAP_ADMIN_SEAL] = "admin.seal",
};

const char *cap_name(enum cap cap)
{
	return (cap > CAP_NONE && cap < CAP__MAX) ? cap_names[cap] : NULL;
}

const struct method *method_lookup(const char *name)
{
	for (const struct method *m = method_table; m->name != NULL; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* True if some embedded interface file describes the interface of this method name. */
static bool interface_known(const char *method, size_t iflen)
{
	for (const struct embedded_file *f = embedded_interfaces; f->name != NULL; f++)
		if (strlen(f->name) == iflen && strncmp(f->name, method, iflen) == 0)
			return true;
	return false;
}

static void deny(struct call *c, const char *error, const char *why)
{
	call_set_identity(c);
	log_info("uid %u pid %ld: %s refused: %s", (unsigned)c->uid, (long)c->pid,
		 c->method->name, why);
	if (strcmp(error, "io.roster.PermissionDenied") == 0)
		call_error(c, error, json_pack("{s:s, s:s}", "method", c->method->name, "message", why));
	else
		call_error_message(c, error, why);
}

void dispatch_identify(struct call *c, const struct conn_auth *ca)
{
	struct registry *reg = c->srv->reg;

	/* The principals are only in reach unsealed: otherwise fill_record() says who. */
	if (reg != NULL && reg->state == REG_UNSEALED)
		(void)auth_identify(&reg->auth, c->uid, ca, &c->ident);
	call_set_identity(c);
}

/*
 * Decide whether this caller may make this call, and record who it is on
 * the call. Returns true to go on; false once the call has been answered.
 * While the registry is not unsealed the principals are out of reach (they
 * live in the encrypted database), so only uid 0 and the daemon's own uid
 * may do anything there beyond the public methods.
 */
static bool authorize(struct call *c)
{
	const struct method *m = c->method;
	struct registry *reg = c->srv->reg;
	enum auth_status st;

	if (m->flags & M_PUBLIC) {
		/* Anyone may call it; who they are still goes on the record. */
		dispatch_identify(c, c->conn ? &c->conn->auth : NULL);
		return true;
	}
	if (reg->state != REG_UNSEALED) {
		if (c->uid == 0 || c->uid == c->srv->own_uid) {
			c->ident.bootstrap = true;
			call_set_identity(c);
			return true;
		}
		deny(c, "io.roster.PermissionDenied", "only uid 0 or the daemon's uid may do this while "
		     "the registry is not unsealed");
		return false;
	}
	st = auth_identify(&reg->auth, c->uid, c->conn ? &c->conn->auth : NULL, &c->ident);
	switch (st) {
	case AUTH_UNKNOWN:
		deny(c, "io.roster.PermissionDenied", "this uid is not a principal");
		return false;
	case AUTH_NEED_TOKEN:
		deny(c, "io.roster.AuthenticationRequired",
		     "this uid's principals need a token: call Authenticate first (a token that was "
		     "rotated, revoked or has expired no longer works)");
		return false;
	case AUTH_LOCKED:
		auth_touch(&reg->auth, c->ident.principal->name);
		deny(c, "io.roster.Locked", "this principal is locked; an admin can unlock it");
		return false;
	case AUTH_OK:
		break;
	}
	if (c->ident.principal != NULL)
		auth_touch(&reg->auth, c->ident.principal->name);
	if (m->cap == CAP_NONE || !(c->ident.caps & (1u << m->cap))) {
		char why[96];

		/* No non-public method may run without a capability: deny by default. */
		snprintf(why, sizeof(why), "the caller's role lacks the capability %s",
			 m->cap == CAP_NONE ? "(none defined)" : cap_name(m->cap));
		deny(c, "io.roster.PermissionDenied", why);
		return false;
	}
	call_set_identity(c);
	return true;
}

void dispatch(struct call *c)
{
	const struct method *m = method_lookup(c->name);
	struct registry *reg = c->srv->reg;
	unsigned need;

	if (m == NULL) {
		const char *dot = strrchr(c->name, '.');
		size_t iflen = dot ? (size_t)(dot - c->name) : 0;

		dispatch_identify(c, c->conn ? &c->conn->auth : NULL);
		if (dot != NULL && interface_known(c->name, iflen))
			call_error(c, "org.varlink.service.MethodNotFound",
				   json_pack("{s:s}", "method", dot + 1));
		else
			call_error(c, "org.varlink.service.InterfaceNotFound",
				   json_pack("{s:s%}", "interface", c->name, iflen));
		return;
	}
	c->method = m;
	/*
	 * A key rotation has the database closed for a few seconds: say so
	 * rather than "sealed", so that services retry instead of paging
	 * someone. Public calls (Status) still answer, and a Seal is taken
	 * for when the rotation ends: the brake never refuses.
	 */
	if (reg->state == REG_ROTATING && !(m->flags & M_PUBLIC) && m->fn != method_admin_seal) {
		call_set_identity(c);
		call_error_message(c, "io.roster.Busy", "a key rotation is in progress; try again in "
				   "a few seconds");
		return;
	}
	if (!authorize(c))
		return;
	switch (reg->state) {
	case REG_UNINITIALIZED:
		need = M_UNINIT;
		break;
	case REG_SEALED:
		need = M_SEALED;
		break;
	default:
		need = M_UNSEALED;
		break;
	}
	if (!(m->flags & need)) {
		/*
		 * A method that needs an unsealed registry is told why it
		 * cannot run yet; one that the state has moved past (Init on
		 * an initialised registry) gets InvalidState.
		 */
		if (!(m->flags & M_UNSEALED))
			call_error(c, "io.roster.InvalidState",
				   json_pack("{s:s, s:s}", "state", registry_state_name(reg->state),
					     "message", reg->state == REG_UNINITIALIZED
						     ? "the registry is not initialised"
						     : reg->state == REG_SEALED
						     ? "the registry is already initialised"
						     : "the registry is already initialised and unsealed"));
		else if (reg->state == REG_UNINITIALIZED)
			call_error_message(c, "io.roster.Uninitialized",
					   "the registry is not initialised; run rosterctl init");
		else if (reg->state == REG_SEALED)
			call_error_message(c, "io.roster.Sealed",
					   "the registry is sealed; run rosterctl unseal");
		return;
	}
	m->fn(c);
}
