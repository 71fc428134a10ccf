/*
 * method-service.c: org.varlink.service, answered from the interface files
 * compiled into the binary (the schema directory's .varlink files, via scripts/embed), so the
 * description a client reads is always the one this daemon implements.
 */
#include "config.h"

#include <string.h>

#include "daemon/dispatch.h"
#include "daemon/embedded.h"
#include "daemon/server.h"
#include "daemon/validate.h"

void method_service_get_info(struct call *c)
{
	char bad[VALIDATE_NAME_MAX];
	json_t *ifaces = json_array();

	if (!validate_params(c->params, NULL, 0, bad)) {
		json_decref(ifaces);
		call_invalid_parameter(c, bad);
		return;
	}
	for (const struct embedded_file *f = embedded_interfaces; f->name != NULL; f++)
		json_array_append_new(ifaces, json_string(f->name));
	call_reply(c, json_pack("{s:s, s:s, s:s, s:s, s:o}", "vendor", "Roster",
				"product", "rosterd", "version", PACKAGE_VERSION,
				"url", "", "interfaces", ifaces));
}

void method_service_get_interface_description(struct call *c)
{
	static const char *const spec[] = { "interface:s" };
	char bad[VALIDATE_NAME_MAX];
	const char *name;

	if (!validate_params(c->params, spec, 1, bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	name = json_string_value(json_object_get(c->params, "interface"));
	for (const struct embedded_file *f = embedded_interfaces; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0) {
			call_reply(c, json_pack("{s:s}", "description", f->text));
			return;
		}
	call_error(c, "org.varlink.service.InterfaceNotFound",
		   json_pack("{s:s}", "interface", name));
}
