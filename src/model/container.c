/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Container-level facts, as checkpointctl derives them (checkpointctl.md
 * §2.4): the engine comes from spec.dump's io.container.manager
 * annotation, the rest from config.dump, spec.dump, network.status and
 * stats-dump.  A member that is missing or does not parse leaves its
 * fields absent; it never fails the mount.
 */
#include "model/model_i.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define CKFS_JSON_MEMBER_MAX (16u << 20)

static json_object *read_json(struct ckfs_ckpt *ck, const char *name)
{
	const struct ckfs_member *m = ckfs_archive_find(ck->ar, name);
	_cleanup_free_ char *buf = NULL;
	size_t len;

	if (!m || ckfs_archive_read_all(ck->ar, m, CKFS_JSON_MEMBER_MAX, &buf,
					&len) < 0)
		return NULL;
	return json_tokener_parse(buf);
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static char *dup_or_null(const char *s)
{
	return s && s[0] ? strdup(s) : NULL;
}

/* RFC 3339 without fractional seconds, as Go's time.RFC3339 prints. */
static char *rfc3339(const char *s)
{
	const char *dot, *tz;
	char *out;

	if (!s || !s[0] || strncmp(s, "0001-01-01", 10) == 0)
		return NULL;
	dot = strchr(s, '.');
	if (!dot || !strchr(s, 'T'))
		return strdup(s);
	tz = dot + 1;
	while (*tz >= '0' && *tz <= '9')
		tz++;
	if (asprintf(&out, "%.*s%s", (int)(dot - s), s, tz) < 0)
		return NULL;
	return out;
}

/* checkpointctl's networks: [{name, interfaces:{if:{ip,mac,gateway}}}] */
static json_object *podman_networks(json_object *status, char **ip, char **mac)
{
	json_object *out = json_object_new_array();

	if (!out || !status || !json_object_is_type(status, json_type_object))
		return out;
	json_object_object_foreach(status, net, nv)
	{
		json_object *ifs, *n = json_object_new_object();
		json_object *oifs = json_object_new_object();

		json_object_object_add(n, "name", json_object_new_string(net));
		if (json_object_object_get_ex(nv, "interfaces", &ifs) &&
		    json_object_is_type(ifs, json_type_object)) {
			json_object_object_foreach(ifs, ifname, iv)
			{
				json_object *o = json_object_new_object();
				json_object *subnets, *sn;
				const char *mac_s = jstr(iv, "mac_address");
				const char *ipnet = NULL, *gw = NULL;

				if (json_object_object_get_ex(iv, "subnets",
							      &subnets) &&
				    json_object_is_type(subnets,
							json_type_array) &&
				    json_object_array_length(subnets) > 0) {
					sn = json_object_array_get_idx(subnets,
								       0);
					ipnet = jstr(sn, "ipnet");
					gw = jstr(sn, "gateway");
				}
				if (ipnet)
					json_object_object_add(
						o, "ip",
						json_object_new_string(ipnet));
				if (mac_s)
					json_object_object_add(
						o, "mac",
						json_object_new_string(mac_s));
				if (gw)
					json_object_object_add(
						o, "gateway",
						json_object_new_string(gw));
				if (!*ip && ipnet)
					*ip = strdup(ipnet);
				if (!*mac && mac_s)
					*mac = strdup(mac_s);
				json_object_object_add(oifs, ifname, o);
			}
		}
		json_object_object_add(n, "interfaces", oifs);
		json_object_array_add(out, n);
	}
	return out;
}

static json_object *spec_mounts(json_object *spec)
{
	json_object *mounts, *out;
	size_t i;

	if (!json_object_object_get_ex(spec, "mounts", &mounts) ||
	    !json_object_is_type(mounts, json_type_array))
		return NULL;
	out = json_object_new_array();
	for (i = 0; out && i < json_object_array_length(mounts); i++) {
		json_object *m = json_object_array_get_idx(mounts, i);
		json_object *o = json_object_new_object();
		const char *v;

		if ((v = jstr(m, "destination")))
			json_object_object_add(o, "destination",
					       json_object_new_string(v));
		if ((v = jstr(m, "type")))
			json_object_object_add(o, "type",
					       json_object_new_string(v));
		if ((v = jstr(m, "source")))
			json_object_object_add(o, "source",
					       json_object_new_string(v));
		json_object_array_add(out, o);
	}
	return out;
}

static void sizes(struct ckfs_ckpt *ck, struct ckfs_container *ct)
{
	struct ckfs_archive *ar = ck->ar;
	size_t i, dl = strlen(ck->dir);

	for (i = 0; i < ckfs_archive_count(ar); i++) {
		const struct ckfs_member *m = ckfs_archive_member(ar, i);
		const char *base = m->name + dl;

		if (m->type != CKFS_MEMBER_REG ||
		    strncmp(m->name, ck->dir, dl) != 0)
			continue;
		ct->total_size += m->size;
		if (strncmp(base, "pages-", 6) == 0)
			ct->pages_size += m->size;
	}
	{
		const struct ckfs_member *m =
			ckfs_archive_find(ar, "rootfs-diff.tar");

		if (m && m->type == CKFS_MEMBER_REG) {
			ct->has_rootfs_diff = true;
			ct->rootfs_diff_size = m->size;
		}
	}
}

void ckfs_container_sizes(struct ckfs_ckpt *ck)
{
	pthread_mutex_lock(&ck->sizes_lock);
	if (!ck->sizes_done) {
		sizes(ck, &ck->ct);
		ck->sizes_done = true;
	}
	pthread_mutex_unlock(&ck->sizes_lock);
}

int ckfs_container_load(struct ckfs_ckpt *ck, struct ckfs_err *err)
{
	struct ckfs_container *ct = &ck->ct;
	json_object *spec, *config, *ann = NULL;
	const char *mgr;
	char name[CKFS_ARCHIVE_NAME_MAX];

	snprintf(name, sizeof(name), "%sstats-dump", ck->dir);
	if (ckfs_archive_find(ck->ar, "stats-dump"))
		snprintf(name, sizeof(name), "stats-dump");
	(void)ckfs_img_read_stats(ck->ar, name, &ct->stats, NULL);

	spec = read_json(ck, "spec.dump");
	config = read_json(ck, "config.dump");
	if (!spec && !config) {
		ct->engine = strdup("criu");
		return ct->engine ? 0 :
				    ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	if (spec && json_object_object_get_ex(spec, "annotations", &ann) &&
	    json_object_is_type(ann, json_type_object))
		ct->annotations = json_object_get(ann);
	else
		ann = NULL;
	mgr = jstr(ann, "io.container.manager");
	ct->id = dup_or_null(jstr(config, "id"));
	ct->image = dup_or_null(jstr(config, "rootfsImageName"));
	ct->image_id = dup_or_null(jstr(config, "rootfsImageID"));
	if (!ct->image_id)
		ct->image_id = dup_or_null(jstr(config, "rootfsImage"));
	ct->image_ref = dup_or_null(jstr(config, "rootfsImageRef"));
	ct->runtime = dup_or_null(jstr(config, "runtime"));
	ct->checkpointed = rfc3339(jstr(config, "checkpointedTime"));
	if (mgr && strcmp(mgr, "libpod") == 0) {
		json_object *net = read_json(ck, "network.status");

		ct->engine = strdup("Podman");
		ct->name = dup_or_null(jstr(config, "name"));
		ct->created = rfc3339(jstr(config, "createdTime"));
		ct->networks = podman_networks(net, &ct->ip, &ct->mac);
		json_object_put(net);
	} else if (mgr && strcmp(mgr, "cri-o") == 0) {
		json_object *md = NULL;
		const char *mds = jstr(ann, "io.kubernetes.cri-o.Metadata");

		ct->engine = strdup("CRI-O");
		if (mds)
			md = json_tokener_parse(mds);
		ct->name = dup_or_null(jstr(md, "name"));
		json_object_put(md);
		ct->ip = dup_or_null(jstr(ann, "io.kubernetes.cri-o.IP.0"));
		ct->created = dup_or_null(
			jstr(ann, "io.kubernetes.cri-o.Created"));
		ct->pod_namespace =
			dup_or_null(jstr(ann, "io.kubernetes.pod.namespace"));
		ct->pod_name = dup_or_null(jstr(ann, "io.kubernetes.pod.name"));
	} else {
		ct->engine = strdup("containerd");
		ct->name = dup_or_null(
			jstr(ann, "io.kubernetes.cri.container-name"));
		ct->pod_namespace = dup_or_null(
			jstr(ann, "io.kubernetes.cri.sandbox-namespace"));
		ct->pod_name =
			dup_or_null(jstr(ann, "io.kubernetes.cri.sandbox-name"));
		ct->created = rfc3339(jstr(config, "createdTime"));
	}
	if (spec)
		ct->mounts = spec_mounts(spec);
	json_object_put(spec);
	json_object_put(config);
	return ct->engine ? 0 : ckfs_err_set(err, -ENOMEM, "out of memory");
}

void ckfs_container_fini(struct ckfs_container *ct)
{
	free(ct->engine);
	free(ct->name);
	free(ct->image);
	free(ct->id);
	free(ct->runtime);
	free(ct->created);
	free(ct->checkpointed);
	free(ct->pod_name);
	free(ct->pod_namespace);
	free(ct->image_id);
	free(ct->image_ref);
	free(ct->ip);
	free(ct->mac);
	json_object_put(ct->annotations);
	json_object_put(ct->networks);
	json_object_put(ct->mounts);
	memset(ct, 0, sizeof(*ct));
}
