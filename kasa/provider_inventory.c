/* provider_inventory.c — each strip's (and plug's) firmware and hardware
 * version as read-only SoftwareInventory items:
 *
 *   /redfish/v1/UpdateService                                  UpdateService
 *   /redfish/v1/UpdateService/FirmwareInventory                 (tree-kept)
 *   /redfish/v1/UpdateService/FirmwareInventory/NAME-firmware   sw_ver
 *   /redfish/v1/UpdateService/FirmwareInventory/NAME-hardware   hw_ver
 *
 * The values are the device's own sysinfo (sw_ver, hw_ver), the same the
 * PowerDistribution shows as FirmwareVersion and Version; Updateable is
 * false (the daemon cannot update a Kasa device), RelatedItem links the
 * strip's Manager, PowerDistribution and (hardware) Chassis. The hardware
 * revision is not software; it is listed because inventory tools read
 * versions from here, and its Description says what it is.
 *
 * Who calls: provider_install.c builds the two bodies with the strip's
 * other bodies (under s->lock) and installs them with them, so they are as
 * fresh as the strip's last poll; provider.c calls kasa_inventory_setup
 * once per strip added (the UpdateService and the collection are made on
 * the first one) and removes the items with the strip. The UpdateService
 * stays when a mockup without a name already installed its own. */
#include "provider_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define URI_UPDATE_SERVICE RF_ROOT "/UpdateService"
#define URI_FIRMWARE_INVENTORY RF_ROOT "/UpdateService/FirmwareInventory"

int kasa_inventory_uris(const char *name, char **ret_fw, char **ret_hw)
{
	if (asprintf(ret_fw, "%s/%s-firmware", URI_FIRMWARE_INVENTORY, name) < 0) {
		*ret_fw = NULL;
		return -ENOMEM;
	}
	if (asprintf(ret_hw, "%s/%s-hardware", URI_FIRMWARE_INVENTORY, name) < 0) {
		free(*ret_fw);
		*ret_fw = *ret_hw = NULL;
		return -ENOMEM;
	}
	return 0;
}

static struct json_object *link_to(const char *uri)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "@odata.id", json_object_new_string(uri));
	return o;
}

int kasa_inventory_setup(struct kasa_provider *kp)
{
	struct json_object *o;
	struct rf_stat st;
	char buf[8];
	ssize_t n;
	int r;

	/* Already there: ours from an earlier strip, or an unnamed mockup's. */
	n = rf_tree_peek(kp->t, "/UpdateService/index.json", buf, sizeof(buf), &st);
	if (n >= 0 || n == -ESTALE)
		return 0;
	if (!(o = json_object_new_object()))
		return -ENOMEM;
	json_object_object_add(o, "@odata.id", json_object_new_string(URI_UPDATE_SERVICE));
	json_object_object_add(o, "@odata.type",
			       json_object_new_string("#UpdateService.v1_17_0.UpdateService"));
	json_object_object_add(o, "Id", json_object_new_string("UpdateService"));
	json_object_object_add(o, "Name", json_object_new_string("Update Service"));
	json_object_object_add(o, "Description",
			       json_object_new_string("Firmware and hardware versions of the Kasa "
						      "devices (read-only: no updates)"));
	json_object_object_add(o, "ServiceEnabled", json_object_new_boolean(false));
	json_object_object_add(o, "FirmwareInventory", link_to(URI_FIRMWARE_INVENTORY));
	r = rf_tree_install(kp->t, &kp->rp, URI_UPDATE_SERVICE, o, NULL, rf_tree_generation(kp->t));
	if (r < 0 && r != -ESTALE)
		return r;
	r = rf_tree_add_collection(kp->t, &kp->rp, URI_FIRMWARE_INVENTORY,
				   "#SoftwareInventoryCollection.SoftwareInventoryCollection",
				   "Firmware Inventory");
	if (r < 0 && r != -EEXIST)
		return r;
	r = rf_tree_add_root_link(kp->t, "UpdateService", URI_UPDATE_SERVICE);
	return r == -EEXIST ? 0 : r;
}

/* One item: hardware or firmware of s (under s->lock). NULL on -ENOMEM. */
static struct json_object *item(const struct kasa_strip *s, bool hardware)
{
	const char *uri = hardware ? s->hw_inventory_uri : s->fw_inventory_uri;
	const char *version = s->have_si ? hardware ? s->si.hw_ver : s->si.sw_ver : NULL;
	struct json_object *o = json_object_new_object(), *rel = json_object_new_array(),
			   *st = json_object_new_object();
	char id[300], name[300];
	bool oom = !o || !rel || !st;

	snprintf(id, sizeof(id), "%s", strrchr(uri, '/') + 1);
	snprintf(name, sizeof(name), "%s %s", s->name, hardware ? "hardware" : "firmware");
	if (oom) {
		json_object_put(o);
		json_object_put(rel);
		json_object_put(st);
		return NULL;
	}
	json_object_object_add(o, "@odata.id", json_object_new_string(uri));
	json_object_object_add(o, "@odata.type",
			       json_object_new_string("#SoftwareInventory.v1_13_0.SoftwareInventory"));
	json_object_object_add(o, "Id", json_object_new_string(id));
	json_object_object_add(o, "Name", json_object_new_string(name));
	json_object_object_add(o, "Description",
			       json_object_new_string(hardware ? "The device's hardware revision (hw_ver)"
							       : "The device's firmware (sw_ver)"));
	json_object_object_add(o, "Version",
			       version && *version ? json_object_new_string(version) : NULL);
	json_object_object_add(o, "Manufacturer", json_object_new_string(KASA_MANUFACTURER));
	if (s->have_si && s->si.model && *s->si.model)
		json_object_object_add(o, "SoftwareId", json_object_new_string(s->si.model));
	json_object_object_add(o, "Updateable", json_object_new_boolean(false));
	json_object_object_add(o, "WriteProtected", json_object_new_boolean(true));
	json_object_array_add(rel, link_to(s->manager_uri));
	json_object_array_add(rel, link_to(s->pdu_uri));
	if (hardware)
		json_object_array_add(rel, link_to(s->chassis_uri));
	json_object_object_add(o, "RelatedItem@odata.count",
			       json_object_new_int((int)json_object_array_length(rel)));
	json_object_object_add(o, "RelatedItem", rel);
	json_object_object_add(st, "State",
			       json_object_new_string(s->online ? "Enabled" : "UnavailableOffline"));
	json_object_object_add(st, "Health", s->online ? json_object_new_string("OK") : NULL);
	json_object_object_add(o, "Status", st);
	return o;
}

struct json_object *kasa_doc_firmware(const struct kasa_strip *s)
{
	return item(s, false);
}

struct json_object *kasa_doc_hardware(const struct kasa_strip *s)
{
	return item(s, true);
}
