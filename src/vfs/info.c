/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * info: the tree `checkpointctl inspect --all` prints, drawn from the same
 * checkpointctl-shaped data as metadata.json (ckfs_meta_ctl()), as
 * checkpointctl draws its tree from the data of its JSON output.  Same
 * sections, labels, order, tree characters (xlab/treeprint: "├── ",
 * "└── ", "│   ", a meta value as "[meta]  value"), sizes (base 1024, one
 * decimal) and times (µs, ms, s).  On purpose it differs in:
 *
 *   - the file is the tree alone: checkpointctl's output around it (an
 *     empty line, "Displaying container checkpoint tree view from <path>",
 *     an empty line before the tree, one after it) is left out, so the
 *     first line is the container name;
 *   - environment variables in the order of the task's environ (Go map
 *     order, i.e. random, in checkpointctl), kept even without a '=';
 *   - annotations and the keys of the JSON inside CRI-O's annotations
 *     sorted by key (random order in checkpointctl);
 *   - times that are whole numbers keep their zeros ("10 ms"; checkpointctl
 *     strips them from integers and prints "1 ms");
 *   - sockets: IPv6 addresses right, UNIX sockets labelled with their type
 *     ("UNIX (STREAM)"), PACKET and NETLINK sockets named so;
 *   - a plain CRIU dump (which checkpointctl refuses) gets a tree too, with
 *     root "Container", Engine: criu and no container-only lines.
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "vfs/engine_i.h"

#define INFO_DEPTH_MAX 256

struct tn {
	char *meta; /* NULL, or shown as "[meta]  value" */
	char *val;
	struct tn *first, *last, *next;
};

struct info {
	struct tn root;
	struct tn dummy; /* what an allocation failure returns */
	bool oom;
};

static struct tn *vadd(struct info *in, struct tn *parent, const char *meta,
		       const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static struct tn *vadd(struct info *in, struct tn *parent, const char *meta,
		       const char *fmt, va_list ap)
{
	struct tn *n;

	if (parent == &in->dummy)
		return parent;
	n = calloc(1, sizeof(*n));
	if (!n || vasprintf(&n->val, fmt, ap) < 0 ||
	    (meta && !(n->meta = strdup(meta)))) {
		if (n) {
			free(n->meta);
			free(n);
		}
		in->oom = true;
		return &in->dummy;
	}
	if (parent->last)
		parent->last->next = n;
	else
		parent->first = n;
	parent->last = n;
	return n;
}

static struct tn *add(struct info *in, struct tn *parent, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static struct tn *add(struct info *in, struct tn *parent, const char *fmt, ...)
{
	struct tn *n;
	va_list ap;

	va_start(ap, fmt);
	n = vadd(in, parent, NULL, fmt, ap);
	va_end(ap);
	return n;
}

static struct tn *add_meta(struct info *in, struct tn *parent, const char *meta,
			   const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static struct tn *add_meta(struct info *in, struct tn *parent, const char *meta,
			   const char *fmt, ...)
{
	struct tn *n;
	va_list ap;

	va_start(ap, fmt);
	n = vadd(in, parent, meta, fmt, ap);
	va_end(ap);
	return n;
}

static void tn_free_kids(struct tn *n)
{
	struct tn *c = n->first, *next;

	for (; c; c = next) {
		next = c->next;
		tn_free_kids(c);
		free(c->meta);
		free(c->val);
		free(c);
	}
}

/* The prefix of a line at @level: "│   " or "    " per ancestor level. */
static void indent(struct ckfs_sb *o, const bool *last, int level)
{
	int i;

	for (i = 0; i < level; i++)
		ckfs_sb_puts(o, last[i] ? "    " : "│   ");
}

/*
 * A value spanning lines continues under its own edge, each further line
 * prefixed with the link columns down to and including its own level.
 */
static void put_value(struct ckfs_sb *o, const char *v, const bool *last,
		      int level)
{
	const char *nl;

	while ((nl = strchr(v, '\n'))) {
		ckfs_sb_add(o, v, (size_t)(nl - v + 1));
		indent(o, last, level + 1);
		v = nl + 1;
	}
	ckfs_sb_puts(o, v);
}

static void print_kids(struct ckfs_sb *o, const struct tn *n, bool *last,
		       int level)
{
	const struct tn *c;

	for (c = n->first; c; c = c->next) {
		last[level] = c->next == NULL;
		indent(o, last, level);
		ckfs_sb_puts(o, last[level] ? "└── " : "├── ");
		if (c->meta)
			ckfs_sb_printf(o, "[%s]  ", c->meta);
		put_value(o, c->val, last, level);
		ckfs_sb_puts(o, "\n");
		if (c->first && level + 1 < INFO_DEPTH_MAX)
			print_kids(o, c, last, level + 1);
	}
}

/* ---- checkpointctl's number formats ---- */

/* lib.ByteToString: "%d B", else "%.1f KiB/MiB/...". */
static void byte_str(char *out, size_t len, uint64_t b)
{
	uint64_t div = 1024;
	int exp = 0;

	if (b < 1024) {
		snprintf(out, len, "%llu B", (unsigned long long)b);
		return;
	}
	while (b / div >= 1024 && exp < 5) {
		div *= 1024;
		exp++;
	}
	snprintf(out, len, "%.1f %ciB", (double)b / (double)div, "KMGTPE"[exp]);
}

/* FormatTime: µs below 1 ms, else "%.5g" ms or s without trailing zeros. */
static void time_str(char *out, size_t len, uint64_t us)
{
	char num[64], *end;

	if (us < 1000) {
		snprintf(out, len, "%llu µs", (unsigned long long)us);
		return;
	}
	snprintf(num, sizeof(num), "%.5g",
		 us < 1000000 ? (double)us / 1e3 : (double)us / 1e6);
	if (strchr(num, '.') && !strchr(num, 'e')) {
		end = num + strlen(num);
		while (end[-1] == '0')
			*--end = '\0';
		if (end[-1] == '.')
			end[-1] = '\0';
	}
	snprintf(out, len, "%s %s", num, us < 1000000 ? "ms" : "s");
}

/*
 * Go's %v of a float64 (strconv 'g', shortest): the fewest digits that
 * read back the same, in %e form when the exponent is < -4 or >= 6.
 */
static void go_float(char *out, size_t len, double v)
{
	char buf[64];
	int p, exp;

	if (v == 0 || !isfinite(v)) {
		snprintf(out, len,
			 v == 0	    ? "0"
			 : isnan(v) ? "NaN"
			 : v > 0    ? "+Inf"
				    : "-Inf");
		return;
	}
	for (p = 1; p < 17; p++) {
		snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
	exp = atoi(strchr(buf, 'e') + 1);
	if (exp < -4 || exp >= 6)
		snprintf(out, len, "%s", buf);
	else
		snprintf(out, len, "%.*f", p - 1 - exp > 0 ? p - 1 - exp : 0,
			 v);
}

/* Go's %v of a value json.Unmarshal put in an interface{}. */
static void go_value(char *out, size_t len, json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		snprintf(out, len, "<nil>");
		break;
	case json_type_boolean:
		snprintf(out, len, "%s",
			 json_object_get_boolean(v) ? "true" : "false");
		break;
	case json_type_int:
	case json_type_double:
		go_float(out, len, json_object_get_double(v));
		break;
	default:
		snprintf(out, len, "%s", json_object_get_string(v));
		break;
	}
}

/* ---- JSON helpers ---- */

static json_object *get(json_object *o, const char *k)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, k, &v))
		return NULL;
	return v;
}

static const char *str(json_object *o, const char *k)
{
	json_object *v = get(o, k);

	return v && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : "";
}

static uint64_t num(json_object *o, const char *k)
{
	json_object *v = get(o, k);

	return v ? (uint64_t)json_object_get_int64(v) : 0;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of object @o, sorted; NULL-terminated, caller frees. */
static const char **sorted_keys(json_object *o, size_t *n)
{
	const char **k =
		calloc((size_t)json_object_object_length(o) + 1, sizeof(*k));

	*n = 0;
	if (!k)
		return NULL;
	json_object_object_foreach(o, key, unused)
	{
		(void)unused;
		k[(*n)++] = key;
	}
	qsort(k, *n, sizeof(*k), key_cmp);
	return k;
}

/* ---- sections ---- */

static void add_json_array(struct info *in, struct tn *t, json_object *a,
			   int depth);

/* addMapToTree: "key:" for a map, "key: " for an array, "key: %v". */
static void add_json_map(struct info *in, struct tn *t, json_object *m,
			 int depth)
{
	_cleanup_free_ const char **keys = NULL;
	size_t n, i;
	char buf[512];

	if (depth > INFO_DEPTH_MAX || !(keys = sorted_keys(m, &n))) {
		in->oom = in->oom || depth <= INFO_DEPTH_MAX;
		return;
	}
	for (i = 0; i < n; i++) {
		json_object *v = get(m, keys[i]);

		if (json_object_is_type(v, json_type_object)) {
			add_json_map(in, add(in, t, "%s:", keys[i]), v,
				     depth + 1);
		} else if (json_object_is_type(v, json_type_array)) {
			add_json_array(in, add(in, t, "%s: ", keys[i]), v,
				       depth + 1);
		} else if (json_object_is_type(v, json_type_string)) {
			add(in, t, "%s: %s", keys[i],
			    json_object_get_string(v));
		} else {
			go_value(buf, sizeof(buf), v);
			add(in, t, "%s: %s", keys[i], buf);
		}
	}
}

static void add_json_array(struct info *in, struct tn *t, json_object *a,
			   int depth)
{
	size_t i;
	char buf[512];

	if (depth > INFO_DEPTH_MAX)
		return;
	for (i = 0; i < json_object_array_length(a); i++) {
		json_object *v = json_object_array_get_idx(a, i);

		if (json_object_is_type(v, json_type_object)) {
			add_json_map(in, add(in, t, "[%zu]:", i), v, depth + 1);
		} else if (json_object_is_type(v, json_type_array)) {
			add_json_array(in, add(in, t, "[%zu]: ", i), v,
				       depth + 1);
		} else if (json_object_is_type(v, json_type_string)) {
			add(in, t, "[%zu]: %s", i, json_object_get_string(v));
		} else {
			go_value(buf, sizeof(buf), v);
			add(in, t, "[%zu]: %s", i, buf);
		}
	}
}

static bool jbool(json_object *o, const char *k)
{
	json_object *v = get(o, k);

	return v && json_object_get_boolean(v);
}

/* io.kubernetes.cri-o.Volumes: one branch per mount, as checkpointctl. */
static void add_volumes(struct info *in, struct tn *t, const char *key,
			json_object *a)
{
	size_t i;

	t = add(in, t, "%s", key);
	for (i = 0; i < json_object_array_length(a); i++) {
		json_object *m = json_object_array_get_idx(a, i);
		struct tn *c = add(in, t, "%s", str(m, "container_path"));

		add(in, c, "host path: %s", str(m, "host_path"));
		add(in, c, "read-only: %s",
		    jbool(m, "readonly") ? "true" : "false");
		add(in, c, "selinux relabel: %s",
		    jbool(m, "selinux_relabel") ? "true" : "false");
		add(in, c, "recursive read-only: %s",
		    jbool(m, "recursive_read_only") ? "true" : "false");
		add(in, c, "propagation: %lld",
		    (long long)json_object_get_int64(get(m, "propagation")));
	}
}

static void add_metadata(struct info *in, json_object *md)
{
	static const char *const json_keys[] = {
		"io.kubernetes.cri-o.Labels",
		"io.kubernetes.cri-o.Annotations",
		"io.kubernetes.cri-o.Metadata",
		"kubectl.kubernetes.io/last-applied-configuration",
	};
	json_object *ann = get(md, "annotations");
	struct tn *t = add(in, &in->root, "Metadata"), *at;
	_cleanup_free_ const char **keys = NULL;
	size_t n, i, j;

	if (str(md, "pod_name")[0])
		add(in, t, "Pod name: %s", str(md, "pod_name"));
	if (str(md, "kubernetes_namespace")[0])
		add(in, t, "Kubernetes namespace: %s",
		    str(md, "kubernetes_namespace"));
	if (!ann || !json_object_is_type(ann, json_type_object) ||
	    json_object_object_length(ann) == 0)
		return;
	keys = sorted_keys(ann, &n);
	if (!keys) {
		in->oom = true;
		return;
	}
	at = add(in, t, "Annotations");
	for (i = 0; i < n; i++) {
		const char *v = str(ann, keys[i]);
		bool is_json = false;
		json_object *p;

		for (j = 0; j < CKFS_ARRAY_SIZE(json_keys); j++)
			is_json |= strcmp(keys[i], json_keys[j]) == 0;
		if (is_json) {
			/* checkpointctl leaves out one that is not a map */
			p = json_tokener_parse(v);
			if (p && json_object_is_type(p, json_type_object))
				add_json_map(in, add(in, at, "%s", keys[i]), p,
					     0);
			json_object_put(p);
		} else if (strcmp(keys[i], "io.kubernetes.cri-o.Volumes") ==
			   0) {
			p = json_tokener_parse(v);
			if (p && json_object_is_type(p, json_type_array))
				add_volumes(in, at, keys[i], p);
			json_object_put(p);
		} else {
			add(in, at, "%s: %s", keys[i], v);
		}
	}
}

static int net_cmp(const void *a, const void *b)
{
	return strcmp(str(*(json_object *const *)a, "name"),
		      str(*(json_object *const *)b, "name"));
}

/* "Network Interfaces" -> "<net> (<if>)" -> IP, MAC, Gateway; sorted. */
static void add_networks(struct info *in, json_object *nets)
{
	struct tn *t = add(in, &in->root, "Network Interfaces");
	size_t n = json_object_array_length(nets), i, j;
	_cleanup_free_ json_object **sorted = calloc(n + 1, sizeof(*sorted));

	if (!sorted) {
		in->oom = true;
		return;
	}
	for (i = 0; i < n; i++)
		sorted[i] = json_object_array_get_idx(nets, i);
	qsort(sorted, n, sizeof(*sorted), net_cmp);
	for (i = 0; i < n; i++) {
		json_object *ifs = get(sorted[i], "interfaces");
		_cleanup_free_ const char **names = NULL;
		size_t ni;

		if (!ifs || !json_object_is_type(ifs, json_type_object))
			continue;
		names = sorted_keys(ifs, &ni);
		for (j = 0; names && j < ni; j++) {
			json_object *iv = get(ifs, names[j]);
			struct tn *b = add(in, t, "%s (%s)",
					   str(sorted[i], "name"), names[j]);

			if (str(iv, "ip")[0])
				add(in, b, "IP: %s", str(iv, "ip"));
			if (str(iv, "mac")[0])
				add(in, b, "MAC: %s", str(iv, "mac"));
			if (str(iv, "gateway")[0])
				add(in, b, "Gateway: %s", str(iv, "gateway"));
		}
	}
}

static void add_stats(struct info *in, json_object *st)
{
	struct tn *t = add(in, &in->root, "CRIU dump statistics");
	char buf[64];

	time_str(buf, sizeof(buf), num(st, "freezing_time"));
	add(in, t, "Freezing time: %s", buf);
	time_str(buf, sizeof(buf), num(st, "frozen_time"));
	add(in, t, "Frozen time: %s", buf);
	time_str(buf, sizeof(buf), num(st, "memdump_time"));
	add(in, t, "Memdump time: %s", buf);
	time_str(buf, sizeof(buf), num(st, "memwrite_time"));
	add(in, t, "Memwrite time: %s", buf);
	add(in, t, "Pages scanned: %llu",
	    (unsigned long long)num(st, "pages_scanned"));
	add(in, t, "Pages written: %llu",
	    (unsigned long long)num(st, "pages_written"));
}

static void add_sockets(struct info *in, struct tn *t, struct ckfs_proc *p)
{
	const struct ckfs_proc_files *pf;
	struct tn *st = NULL;
	size_t i;

	if (!p || !ckfs_ctl_sock_task(p) || ckfs_proc_files(p, &pf) < 0)
		return;
	for (i = 0; i < pf->nfds; i++) {
		struct ckfs_ctl_sock s;
		char label[96];

		if (!ckfs_ctl_sock_of(&pf->fds[i], &s))
			continue;
		if (!st)
			st = add(in, t, "Open sockets");
		if (strcmp(s.kind, "UNIX") == 0) {
			snprintf(label, sizeof(label), "UNIX (%s)", s.type);
			/* an abstract name starts with NUL: shown from '@' */
			add_meta(in, st, label, "%s",
				 s.address_len == 0 ? "@"
				 : s.address[0]	    ? s.address
						    : "@");
		} else if (strcmp(s.kind, "INET") == 0) {
			if (strcmp(s.protocol, "TCP") == 0 && s.state[0])
				snprintf(label, sizeof(label), "TCP (%s)",
					 s.state);
			else
				snprintf(label, sizeof(label), "%s",
					 s.protocol);
			add_meta(in, st, label, "%s:%u -> %s:%u (↑ %s ↓ %s)",
				 s.src, s.src_port, s.dst, s.dst_port, s.sndbuf,
				 s.rcvbuf);
		} else {
			add_meta(in, st, s.protocol, "↑ %s ↓ %s", s.sndbuf,
				 s.rcvbuf);
		}
	}
}

static int pid_cmp(const void *a, const void *b)
{
	int64_t x = json_object_get_int64(get(*(json_object *const *)a, "pid"));
	int64_t y = json_object_get_int64(get(*(json_object *const *)b, "pid"));

	return x < y ? -1 : x > y;
}

static void add_process(struct info *in, struct tn *t, struct ckfs_ckpt *ck,
			json_object *ps, json_object *fds, int depth)
{
	const char *state = str(ps, "task_state");
	const char *name =
		str(ps, "cmdline")[0] ? str(ps, "cmdline") : str(ps, "command");
	int64_t pid = json_object_get_int64(get(ps, "pid"));
	json_object *env = get(ps, "environment_variables");
	json_object *kids = get(ps, "children");
	_cleanup_free_ json_object **sorted = NULL;
	char meta[64];
	struct tn *node;
	size_t i, n;

	if (!state[0] || !strcmp(state, "Alive") || !strcmp(state, "Running"))
		snprintf(meta, sizeof(meta), "%lld", (long long)pid);
	else
		snprintf(meta, sizeof(meta), "%lld (%s)", (long long)pid,
			 state);
	node = add_meta(in, t, meta, "%s", name);
	if (depth > INFO_DEPTH_MAX ||
	    (state[0] && strcmp(state, "Alive") && strcmp(state, "Running") &&
	     strcmp(state, "Stopped")))
		return;
	if (env && json_object_is_type(env, json_type_object) &&
	    json_object_object_length(env)) {
		struct tn *e = add(in, node, "Environment variables");

		json_object_object_foreach(env, k, v)
			add(in, e, "%s=%s", k, json_object_get_string(v));
	}
	for (i = 0; fds && i < json_object_array_length(fds); i++) {
		json_object *f = json_object_array_get_idx(fds, i);
		json_object *open = get(f, "open_files");
		struct tn *ft;
		size_t j;

		if (json_object_get_int64(get(f, "pid")) != pid || !open ||
		    json_object_array_length(open) == 0)
			continue;
		ft = add(in, node, "Open files");
		for (j = 0; j < json_object_array_length(open); j++) {
			json_object *e = json_object_array_get_idx(open, j);

			add_meta(in, ft, str(e, "fd"), "%s", str(e, "path"));
		}
	}
	add_sockets(in, node,
		    pid > 0 && pid <= UINT32_MAX
			    ? ckfs_ckpt_find_proc(ck, (uint32_t)pid)
			    : NULL);
	n = kids && json_object_is_type(kids, json_type_array)
		    ? json_object_array_length(kids)
		    : 0;
	if (!n)
		return;
	sorted = calloc(n, sizeof(*sorted));
	if (!sorted) {
		in->oom = true;
		return;
	}
	for (i = 0; i < n; i++)
		sorted[i] = json_object_array_get_idx(kids, i);
	qsort(sorted, n, sizeof(*sorted), pid_cmp);
	for (i = 0; i < n; i++)
		add_process(in, node, ck, sorted[i], fds, depth + 1);
}

static void build(struct info *in, struct ckfs_ckpt *ck, json_object *c)
{
	json_object *sz = get(c, "checkpoint_size"), *v;
	bool engine = strcmp(str(c, "engine"), "criu") != 0;
	struct tn *t;
	char buf[64];
	size_t i;

	in->root.val =
		strdup(str(c, "container_name")[0] ? str(c, "container_name")
						   : "Container");
	if (!in->root.val) {
		in->oom = true;
		return;
	}
	if (engine) {
		add(in, &in->root, "Image: %s", str(c, "image"));
		add(in, &in->root, "ID: %s", str(c, "id"));
		add(in, &in->root, "Runtime: %s", str(c, "runtime"));
		add(in, &in->root, "Created: %s", str(c, "created"));
	}
	if (str(c, "checkpointed")[0])
		add(in, &in->root, "Checkpointed: %s", str(c, "checkpointed"));
	add(in, &in->root, "Engine: %s", str(c, "engine"));
	v = get(c, "networks");
	if (v && json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v)) {
		add_networks(in, v);
	} else {
		if (str(c, "ip")[0])
			add(in, &in->root, "IP: %s", str(c, "ip"));
		if (str(c, "mac")[0])
			add(in, &in->root, "MAC: %s", str(c, "mac"));
	}
	byte_str(buf, sizeof(buf), num(sz, "total_size"));
	t = add(in, &in->root, "Checkpoint size: %s", buf);
	if (num(sz, "memory_pages_size")) {
		byte_str(buf, sizeof(buf), num(sz, "memory_pages_size"));
		add(in, t, "Memory pages size: %s", buf);
	}
	if (num(sz, "amd_gpu_memory_pages_size")) {
		byte_str(buf, sizeof(buf),
			 num(sz, "amd_gpu_memory_pages_size"));
		add(in, t, "AMD GPU memory pages size: %s", buf);
	}
	if (num(sz, "root_fs_diff_size")) {
		byte_str(buf, sizeof(buf), num(sz, "root_fs_diff_size"));
		add(in, &in->root, "Root FS diff size: %s", buf);
	}
	if ((v = get(c, "statistics")))
		add_stats(in, v);
	if (engine)
		add_metadata(in, get(c, "metadata"));
	if ((v = get(c, "process_tree")))
		add_process(in, add(in, &in->root, "Process tree"), ck, v,
			    get(c, "file_descriptors"), 0);
	v = get(c, "mounts");
	if (v && json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v)) {
		t = add(in, &in->root, "Overview of mounts");
		for (i = 0; i < json_object_array_length(v); i++) {
			json_object *m = json_object_array_get_idx(v, i);
			struct tn *d = add(in, t, "Destination: %s",
					   str(m, "destination"));

			add(in, d, "Type: %s", str(m, "type"));
			add(in, d, "Source: %s", str(m, "source"));
		}
	}
}

static int r_info(struct ckfs_node *n, struct ckfs_sb *o)
{
	struct ckfs_ckpt *ck = (struct ckfs_ckpt *)n->ptr;
	json_object *c = ckfs_meta_ctl(ck);
	bool last[INFO_DEPTH_MAX + 1];
	struct info in;

	if (!c)
		return -ENOMEM;
	memset(&in, 0, sizeof(in));
	build(&in, ck, c);
	if (!in.oom) {
		ckfs_sb_printf(o, "%s\n", in.root.val);
		print_kids(o, &in.root, last, 0);
	}
	tn_free_kids(&in.root);
	free(in.root.val);
	json_object_put(c);
	return in.oom ? -ENOMEM : 0;
}

const struct ckfs_node_ops ckfs_info_ops = { .render = r_info };
