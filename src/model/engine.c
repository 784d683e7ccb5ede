/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Engine facts: everything the engine's JSON members say that
 * checkpointctl leaves out, gathered into one JSON object at open.  The
 * engine itself is decided as checkpointctl does (container.c, from
 * spec.dump's io.container.manager); here it is checked against the
 * members only one engine writes (checkpointctl.md §2.5):
 *
 *   Podman      network.status, ctr.log, devshm-checkpoint.tar, artifacts/
 *   CRI-O       bind.mounts, io.kubernetes.cri-o.LogPath (the log file)
 *   containerd  status.dump, status, container.log
 *
 * A member that is missing or does not parse only leaves its facts out.
 */
#include "model/engine_i.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"

#define CKFS_ENGINE_JSON_MAX (16u << 20)

static const struct {
	const char *engine;
	const char *member; /* a trailing '/': a directory */
} evidence[] = {
	{ "Podman", "artifacts/" },
	{ "Podman", "ctr.log" },
	{ "Podman", "devshm-checkpoint.tar" },
	{ "Podman", "network.status" },
	{ "CRI-O", "bind.mounts" },
	{ "CRI-O", "io.kubernetes.cri-o.LogPath" },
	{ "containerd", "container.log" },
	{ "containerd", "status" },
	{ "containerd", "status.dump" },
};

static const char *const engines[] = { "Podman", "CRI-O", "containerd" };

/* The container log, as each engine names it in the archive. */
static const char *const log_members[] = { "ctr.log",
					   "io.kubernetes.cri-o.LogPath",
					   "container.log" };

static json_object *load_json(struct ckfs_archive *ar, const char *name)
{
	const struct ckfs_member *m = ckfs_archive_find(ar, name);
	_cleanup_free_ char *buf = NULL;
	size_t len;

	if (!m ||
	    ckfs_archive_read_all(ar, m, CKFS_ENGINE_JSON_MAX, &buf, &len) < 0)
		return NULL;
	return json_tokener_parse(buf);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v)[0] ? json_object_get_string(v) : NULL;
}

/* The first of several keys that holds a non-empty string. */
static const char *str2(json_object *o, const char *a, const char *b)
{
	const char *s = str(o, a);

	return s ? s : str(o, b);
}

static void put_str(json_object *o, const char *key, const char *v)
{
	if (v && v[0])
		json_object_object_add(o, key, json_object_new_string(v));
}

/* Add @v under @key unless it is empty; consumes @v. */
static void put_obj(json_object *o, const char *key, json_object *v)
{
	if (v && ((json_object_is_type(v, json_type_object) &&
		   json_object_object_length(v) > 0) ||
		  (json_object_is_type(v, json_type_array) &&
		   json_object_array_length(v) > 0))) {
		json_object_object_add(o, key, v);
		return;
	}
	json_object_put(v);
}

static bool has_member(struct ckfs_archive *ar, const char *name)
{
	size_t len = strlen(name), i;
	char dir[64];

	if (name[len - 1] != '/')
		return ckfs_archive_find(ar, name) != NULL;
	snprintf(dir, sizeof(dir), "%.*s", (int)(len - 1), name);
	if (ckfs_archive_find(ar, dir))
		return true;
	for (i = 0; i < ckfs_archive_count(ar); i++)
		if (strncmp(ckfs_archive_member(ar, i)->name, name, len) == 0)
			return true;
	return false;
}

/* Unix nanoseconds as RFC 3339 in UTC, or NULL for 0 / out of range. */
static json_object *nanos_time(int64_t ns)
{
	struct tm tm;
	time_t sec;
	char buf[64];

	if (ns <= 0)
		return NULL;
	sec = (time_t)(ns / 1000000000);
	if (!gmtime_r(&sec, &tm))
		return NULL;
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (long long)(ns % 1000000000));
	return json_object_new_string(buf);
}

/* A time: an RFC 3339 string as written, or integer unix nanoseconds. */
static void put_time(json_object *o, const char *key, json_object *v)
{
	json_object *t = NULL;

	if (!v || json_object_object_get_ex(o, key, NULL))
		return;
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		if (s[0] && strncmp(s, "0001-01-01", 10) != 0)
			t = json_object_new_string(s);
	} else if (json_object_is_type(v, json_type_int)) {
		t = nanos_time(json_object_get_int64(v));
	}
	if (t)
		json_object_object_add(o, key, t);
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * spec.dump's annotations sorted by key, with every value that holds a JSON
 * object or array (CRI-O's io.kubernetes.cri-o.Labels, .Annotations,
 * .Metadata, .Volumes, kubectl's last-applied-configuration ...) parsed.
 */
static json_object *parsed_annotations(json_object *ann)
{
	_cleanup_free_ const char **keys = NULL;
	json_object *out;
	size_t n = 0, i;

	if (!ann || !json_object_is_type(ann, json_type_object))
		return NULL;
	keys = calloc((size_t)json_object_object_length(ann) + 1,
		      sizeof(*keys));
	out = json_object_new_object();
	if (!keys || !out) {
		json_object_put(out);
		return NULL;
	}
	json_object_object_foreach(ann, k, unused)
	{
		(void)unused;
		keys[n++] = k;
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 0; i < n; i++) {
		json_object *v = get(ann, keys[i]), *p = NULL;
		const char *s;

		if (json_object_is_type(v, json_type_string)) {
			s = json_object_get_string(v);
			s += strspn(s, " \t\r\n");
			if (*s == '{' || *s == '[')
				p = json_tokener_parse(s);
			if (p && !json_object_is_type(p, json_type_object) &&
			    !json_object_is_type(p, json_type_array)) {
				json_object_put(p);
				p = NULL;
			}
		}
		json_object_object_add(out, keys[i],
				       p ? p : json_object_get(v));
	}
	return out;
}

/*
 * network.status as Podman writes it, {net: {interfaces: {if: {subnets:
 * [{ipnet, gateway}], mac_address}}}}, flattened to one entry per
 * interface, sorted by network and interface.
 */
static json_object *interfaces(json_object *status)
{
	_cleanup_free_ const char **nets = NULL;
	json_object *out;
	size_t nn = 0, i;

	if (!status || !json_object_is_type(status, json_type_object))
		return NULL;
	nets = calloc((size_t)json_object_object_length(status) + 1,
		      sizeof(*nets));
	out = json_object_new_array();
	if (!nets || !out) {
		json_object_put(out);
		return NULL;
	}
	json_object_object_foreach(status, net, nv)
	{
		(void)nv;
		nets[nn++] = net;
	}
	qsort(nets, nn, sizeof(*nets), key_cmp);
	for (i = 0; i < nn; i++) {
		json_object *ifs = get(get(status, nets[i]), "interfaces");
		_cleanup_free_ const char **names = NULL;
		size_t ni = 0, j;

		if (!ifs || !json_object_is_type(ifs, json_type_object))
			continue;
		names = calloc((size_t)json_object_object_length(ifs) + 1,
			       sizeof(*names));
		if (!names)
			break;
		json_object_object_foreach(ifs, ifname, unused)
		{
			(void)unused;
			names[ni++] = ifname;
		}
		qsort(names, ni, sizeof(*names), key_cmp);
		for (j = 0; j < ni; j++) {
			json_object *iv = get(ifs, names[j]);
			json_object *e = json_object_new_object();
			json_object *sn = get(iv, "subnets");

			put_str(e, "network", nets[i]);
			put_str(e, "interface", names[j]);
			put_str(e, "mac", str(iv, "mac_address"));
			if (sn && json_object_is_type(sn, json_type_array))
				json_object_object_add(e, "subnets",
						       json_object_get(sn));
			json_object_array_add(out, e);
		}
	}
	return out;
}

/* Which engine the members point to: the one with the most, or NULL. */
static json_object *detection(struct ckfs_archive *ar, const char *engine,
			      json_object *ann, json_object **own)
{
	json_object *d = json_object_new_object(),
		    *by = json_object_new_object();
	size_t count[CKFS_ARRAY_SIZE(engines)] = { 0 }, i, j, total = 0;
	size_t best = 0;
	const char *winner = NULL;
	bool tie = false;

	*own = json_object_new_array();
	for (i = 0; i < CKFS_ARRAY_SIZE(evidence); i++) {
		json_object *list;

		if (!has_member(ar, evidence[i].member))
			continue;
		for (j = 0; j < CKFS_ARRAY_SIZE(engines); j++)
			if (strcmp(engines[j], evidence[i].engine) == 0)
				count[j]++;
		total++;
		if (!json_object_object_get_ex(by, evidence[i].engine, &list)) {
			list = json_object_new_array();
			json_object_object_add(by, evidence[i].engine, list);
		}
		json_object_array_add(
			list, json_object_new_string(evidence[i].member));
		if (engine && strcmp(engine, evidence[i].engine) == 0)
			json_object_array_add(
				*own,
				json_object_new_string(evidence[i].member));
	}
	for (j = 0; j < CKFS_ARRAY_SIZE(engines); j++)
		best = count[j] > best ? count[j] : best;
	for (j = 0; best && j < CKFS_ARRAY_SIZE(engines); j++) {
		if (count[j] != best)
			continue;
		tie = winner != NULL;
		winner = winner ? winner : engines[j];
	}
	if (tie)
		winner = NULL;
	put_str(d, "annotation", str(ann, "io.container.manager"));
	put_str(d, "engine", engine);
	json_object_object_add(d, "by_members",
			       winner ? json_object_new_string(winner) : NULL);
	json_object_object_add(
		d, "confirmed",
		json_object_new_boolean(
			engine &&
			(winner ? strcmp(winner, engine) == 0
				: total == 0 && strcmp(engine, "criu") == 0)));
	json_object_object_add(d, "members", by);
	return d;
}

static json_object *build(struct ckfs_ckpt *ck)
{
	const struct ckfs_container *ct = &ck->ct;
	struct ckfs_archive *ar = ck->ar;
	json_object *spec = load_json(ar, "spec.dump");
	json_object *config = load_json(ar, "config.dump");
	json_object *sdump = load_json(ar, "status.dump");
	json_object *cstatus = load_json(ar, "status");
	json_object *net = load_json(ar, "network.status");
	json_object *bind = load_json(ar, "bind.mounts");
	json_object *ann = get(spec, "annotations");
	json_object *o = json_object_new_object(), *e, *own, *md = NULL;
	const char *mds = str(ann, "io.kubernetes.cri-o.Metadata");
	size_t i;

	if (!o)
		goto out;
	if (ann && !json_object_is_type(ann, json_type_object))
		ann = NULL;
	if (mds)
		md = json_tokener_parse(mds);
	json_object_object_add(o, "engine_detection",
			       detection(ar, ct->engine, ann, &own));
	json_object_object_add(o, "engine_evidence", own);

	e = json_object_new_object();
	put_str(e, "name", ct->pod_name);
	put_str(e, "namespace", ct->pod_namespace);
	put_str(e, "uid",
		str2(ann, "io.kubernetes.pod.uid",
		     "io.kubernetes.cri.sandbox-uid"));
	put_str(e, "sandbox_id",
		str2(ann, "io.kubernetes.cri-o.SandboxID",
		     "io.kubernetes.cri.sandbox-id"));
	put_str(e, "sandbox_name", str(ann, "io.kubernetes.cri-o.SandboxName"));
	put_obj(o, "pod", e);

	e = json_object_new_object();
	put_str(e, "name", ct->name);
	put_str(e, "id",
		ct->id ? ct->id : str(ann, "io.kubernetes.cri-o.ContainerID"));
	if (get(md, "attempt"))
		json_object_object_add(e, "attempt",
				       json_object_get(get(md, "attempt")));
	else if (get(get(sdump, "metadata"), "attempt"))
		json_object_object_add(
			e, "attempt",
			json_object_get(
				get(get(sdump, "metadata"), "attempt")));
	put_str(e, "type",
		str2(ann, "io.kubernetes.cri-o.ContainerType",
		     "io.kubernetes.cri.container-type"));
	put_obj(o, "container", e);

	e = json_object_new_object();
	put_str(e, "name",
		ct->image ? ct->image
		: str(ann, "io.kubernetes.cri-o.ImageName")
			? str(ann, "io.kubernetes.cri-o.ImageName")
		: str(ann, "io.kubernetes.cri.image-name")
			? str(ann, "io.kubernetes.cri.image-name")
			: str(get(sdump, "image"), "image"));
	put_str(e, "id", str(config, "rootfsImageID"));
	put_str(e, "ref",
		ct->image_ref ? ct->image_ref
		: str(ann, "io.kubernetes.cri-o.ImageRef")
			? str(ann, "io.kubernetes.cri-o.ImageRef")
			: str2(sdump, "imageRef", "image_ref"));
	put_str(e, "requested", str(config, "rootfsImage"));
	put_obj(o, "image_details", e);

	e = json_object_new_object();
	put_str(e, "name", ct->runtime);
	put_str(e, "oci_version", str(spec, "ociVersion"));
	put_obj(o, "runtime_details", e);

	e = json_object_new_object();
	put_time(e, "created", get(config, "createdTime"));
	put_time(e, "created", get(ann, "io.kubernetes.cri-o.Created"));
	put_time(e, "created", get(cstatus, "CreatedAt"));
	put_time(e, "created", get(sdump, "createdAt"));
	put_time(e, "created", get(sdump, "created_at"));
	put_time(e, "started", get(cstatus, "StartedAt"));
	put_time(e, "started", get(sdump, "startedAt"));
	put_time(e, "started", get(sdump, "started_at"));
	put_time(e, "finished", get(cstatus, "FinishedAt"));
	put_time(e, "finished", get(sdump, "finishedAt"));
	put_time(e, "finished", get(sdump, "finished_at"));
	put_time(e, "checkpointed", get(config, "checkpointedTime"));
	put_time(e, "restored", get(config, "restoredTime"));
	put_obj(o, "times", e);

	put_obj(o, "annotations", parsed_annotations(ann));
	put_obj(o, "network_interfaces", interfaces(net));
	if (net && json_object_is_type(net, json_type_array))
		put_obj(o, "network_status", json_object_get(net));
	put_obj(o, "oci_mounts", json_object_get(get(spec, "mounts")));
	if (bind)
		json_object_object_add(o, "bind_mounts", json_object_get(bind));
	for (i = 0; i < CKFS_ARRAY_SIZE(log_members); i++) {
		if (ckfs_archive_find(ar, log_members[i])) {
			put_str(o, "log_member", log_members[i]);
			break;
		}
	}
	put_str(o, "log_path",
		str(config, "logPath") ? str(config, "logPath")
		: str(ann, "io.kubernetes.cri-o.LogPath")
			? str(ann, "io.kubernetes.cri-o.LogPath")
			: str2(sdump, "logPath", "log_path"));
	if (sdump)
		json_object_object_add(o, "status_dump",
				       json_object_get(sdump));
	if (cstatus)
		json_object_object_add(o, "containerd_status",
				       json_object_get(cstatus));
out:
	json_object_put(md);
	json_object_put(spec);
	json_object_put(config);
	json_object_put(sdump);
	json_object_put(cstatus);
	json_object_put(net);
	json_object_put(bind);
	return o;
}

void ckfs_engine_load(struct ckfs_ckpt *ck)
{
	struct ckfs_eng *eng = calloc(1, sizeof(*eng));

	if (!eng)
		return;
	pthread_mutex_init(&eng->lock, NULL);
	ck->eng = eng;
}

void ckfs_engine_free(struct ckfs_ckpt *ck)
{
	struct ckfs_eng *eng = ck->eng;

	if (!eng)
		return;
	json_object_put(eng->facts);
	ckfs_rdiff_fini(&eng->rdiff);
	pthread_mutex_destroy(&eng->lock);
	free(eng);
	ck->eng = NULL;
}

struct json_object *ckfs_ckpt_engine_facts(struct ckfs_ckpt *ck)
{
	struct ckfs_eng *eng = ck->eng;
	struct json_object *facts;

	if (!eng)
		return NULL;
	pthread_mutex_lock(&eng->lock);
	if (!eng->facts_made) {
		eng->facts = build(ck);
		eng->facts_made = true;
	}
	facts = eng->facts;
	pthread_mutex_unlock(&eng->lock);
	return facts;
}

int ckfs_ckpt_rdiff(struct ckfs_ckpt *ck, const struct ckfs_rdiff **out)
{
	struct ckfs_eng *eng = ck->eng;
	int r;

	if (!eng)
		return -ENOMEM;
	pthread_mutex_lock(&eng->lock);
	if (eng->rdiff_state == 0) {
		r = ckfs_rdiff_load(ck, &eng->rdiff);
		eng->rdiff_state = r < 0 ? r : 1;
		if (r < 0)
			ckfs_rdiff_fini(&eng->rdiff);
	}
	r = eng->rdiff_state;
	pthread_mutex_unlock(&eng->lock);
	if (r < 0)
		return r;
	*out = &eng->rdiff;
	return 0;
}
