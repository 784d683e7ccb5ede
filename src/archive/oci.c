/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An OCI image layout tar (containerd `ctr checkpoint` + `ctr images
 * export`, Podman `--create-image` + `podman save --format oci-archive`)
 * holding a checkpoint in one or more of its layers.  index.json is
 * followed to the manifests and from them to the config and layer blobs;
 * every blob that is a tar holding CRIU images (pstree.img, inventory.img,
 * at its top or under checkpoint/) becomes part of the archive's index, so
 * the layers above see the same member names as for a plain archive.
 * Several such layers are presented together, a later layer's member
 * shadowing an earlier one of the same name.  In a containerd checkpoint
 * image (a blob of media type ...criu.checkpoint.criu.tar), the one other
 * image layer is the container's rw diff: it is shown as rootfs-diff.tar.
 * Other blobs (containerd's config and options protos) are not shown.
 *
 * Entries of an uncompressed layer are served straight from the outer
 * file (their offsets made absolute); a compressed layer (gzip ...) is
 * decoded once by nested.c into one private cache file that the archive
 * then owns, and its entries served from there.  A layer that does not
 * hold a checkpoint gives its share of the cache back.  In a containerd
 * checkpoint image the CRIU images' blob is known by its media type, so
 * the other layers are not decoded at all.  Blob digests are used as
 * names only, not verified.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive_i.h"
#include "archive/nested.h"
#include "base/mem.h"

#define OCI_JSON_MAX  (1u << 20) /* index.json, a manifest */
#define OCI_BLOBS_MAX 256	 /* digests followed in all */
#define OCI_HEX	      64

/* What a descriptor's mediaType says about its blob. */
enum oci_kind {
	OCI_OTHER,
	OCI_LAYER, /* an image layer: a filesystem diff */
	OCI_CRIU,  /* containerd's blob of CRIU images */
};

struct oci_walk {
	char (*dig)[OCI_HEX + 1];
	enum oci_kind *kind;
	size_t n;
	bool criu_type; /* a containerd checkpoint image */
	/* the one layer beside a containerd checkpoint: its rw diff */
	struct ckfs_member rw;
	int nrw;
	struct ckfs_oci_entry *e; /* the new index */
	size_t ne, cap;
	struct ckfs_nested_cache cache; /* compressed layers, decoded */
	bool cache_used;		/* a taken layer's entries are in it */
	int layers;
	struct ckfs_err first; /* why a candidate layer was refused */
};

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * The mediaType of the descriptor whose "digest" key is at @key: looked
 * for between the '{' that opens it and @key (writers put it first).
 */
static enum oci_kind kind_of(const char *json, const char *key)
{
	const char *open = key, *mt, *end;
	size_t len;

	while (open > json && *open != '{')
		open--;
	mt = strstr(open, "\"mediaType\"");
	if (!mt || mt >= key)
		return OCI_OTHER;
	end = strchr(mt + 11, ',');
	len = end && end < key ? (size_t)(end - mt) : (size_t)(key - mt);
	if (memmem(mt, len, "criu.checkpoint.criu.tar", 24))
		return OCI_CRIU;
	if (memmem(mt, len, ".image.layer.", 13) ||
	    memmem(mt, len, ".image.rootfs.diff.", 19))
		return OCI_LAYER;
	return OCI_OTHER;
}

/* Queue every "digest": "sha256:HEX" value of @json not seen yet. */
static void scan_digests(struct oci_walk *w, const char *json)
{
	static const char key[] = "\"digest\"";
	const char *p = json;

	while ((p = strstr(p, key))) {
		const char *v = p + sizeof(key) - 1;
		size_t i;

		p = v;
		while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
			v++;
		if (*v++ != ':')
			continue;
		while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
			v++;
		if (strncmp(v, "\"sha256:", 8) != 0)
			continue;
		v += 8;
		if (strlen(v) < OCI_HEX + 1 || !is_hex(v, OCI_HEX) ||
		    v[OCI_HEX] != '"')
			continue;
		for (i = 0; i < w->n; i++)
			if (memcmp(w->dig[i], v, OCI_HEX) == 0)
				break;
		if (i < w->n || w->n >= OCI_BLOBS_MAX)
			continue;
		memcpy(w->dig[w->n], v, OCI_HEX);
		w->dig[w->n][OCI_HEX] = '\0';
		w->kind[w->n] = kind_of(json, p - (sizeof(key) - 1));
		if (w->kind[w->n] == OCI_CRIU)
			w->criu_type = true;
		w->n++;
	}
}

static bool has_checkpoint(const struct ckfs_nested *nt)
{
	for (size_t i = 0; i < CKFS_CKPT_MARKERS; i++)
		if (ckfs_nested_find(nt, ckfs_ckpt_markers[i]))
			return true;
	return false;
}

static struct ckfs_oci_entry *add_entry(struct oci_walk *w)
{
	if (w->ne == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct ckfs_oci_entry *e;

		if (w->ne >= CKFS_ARCHIVE_MEMBERS_MAX)
			return NULL;
		e = reallocarray(w->e, cap, sizeof(*e));
		if (!e)
			return NULL;
		w->e = e;
		w->cap = cap;
	}
	memset(&w->e[w->ne], 0, sizeof(w->e[0]));
	return &w->e[w->ne++];
}

/* Add the entries of checkpoint layer @nt (blob member @blob). */
static int take_layer(struct oci_walk *w, const struct ckfs_nested *nt,
		      const struct ckfs_member *blob, struct ckfs_err *err)
{
	bool comp = ckfs_nested_decoded(nt) > 0;

	for (size_t i = 0; i < ckfs_nested_count(nt); i++) {
		const struct ckfs_member *m = ckfs_nested_member(nt, i);
		struct ckfs_oci_entry *e = add_entry(w);

		if (!e)
			return ckfs_err_set(err, -EOVERFLOW,
					    "too many members in the layers");
		e->m = *m;
		e->m.fd = -1;
		e->m.name = strdup(m->name);
		e->m.link = m->link ? strdup(m->link) : NULL;
		if (!e->m.name || (m->link && !e->m.link))
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		if (m->type != CKFS_MEMBER_REG || m->unreadable)
			continue;
		if (!comp) {
			e->m.data_off = blob->data_off + m->data_off;
			continue;
		}
		/* its data already lies in the cache, where it was decoded */
		e->m.data_off = w->cache.base + m->data_off;
		e->in_cache = true;
	}
	if (comp) {
		/* the next layer starts on a page of its own */
		w->cache.base +=
			(ckfs_nested_decoded(nt) + 4095) & ~(uint64_t)4095;
		w->cache_used = true;
	}
	w->layers++;
	return 0;
}

/* Give back the cache a layer was decoded into, and did not keep. */
static void cache_drop(struct oci_walk *w)
{
	if (w->cache.fd >= 0)
		(void)ftruncate(w->cache.fd, (off_t)w->cache.base);
}

/* Follow blob @hex: a JSON document is scanned, a tar probed. */
static int visit(struct oci_walk *w, struct ckfs_archive *ar, const char *hex,
		 enum oci_kind kind, struct ckfs_err *err)
{
	char name[sizeof("blobs/sha256/") + OCI_HEX];
	const struct ckfs_member *blob;
	struct ckfs_nested *nt = NULL;
	struct ckfs_err lerr = { 0 };
	char head[1] = { 0 }, label[32];
	int r;

	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	blob = ckfs_archive_find(ar, name);
	if (!blob || blob->type != CKFS_MEMBER_REG || blob->size == 0)
		return 0; /* a foreign or missing blob: not ours to judge */
	if (ckfs_archive_pread(ar, blob, head, 1, 0) != 1)
		return ckfs_err_set(err, -EIO, "%s: cannot be read", name);
	if (head[0] == '{' && blob->size <= OCI_JSON_MAX) {
		_cleanup_free_ char *json = NULL;
		size_t len;

		r = ckfs_archive_read_all(ar, blob, OCI_JSON_MAX, &json, &len);
		if (r < 0)
			return ckfs_err_set(err, r, "%s: cannot be read", name);
		scan_digests(w, json);
		return 0;
	}
	/* beside containerd's CRIU images, a layer is its rw diff */
	if (kind == OCI_LAYER && w->criu_type) {
		if (w->nrw++ == 0)
			w->rw = *blob;
		return 0;
	}
	/* a short name for the progress line: "layer 0123456789ab" */
	snprintf(label, sizeof(label), "layer %.12s", hex);
	w->cache.label = label;
	r = ckfs_nested_open_in(ar, blob, &w->cache, &nt, &lerr);
	w->cache.label = NULL;
	if (r < 0 || !has_checkpoint(nt)) {
		/* not a tar (a config proto), or a layer that cannot be read */
		if (r < 0 && !w->first.code)
			w->first = lerr;
		if (kind == OCI_LAYER && w->nrw++ == 0)
			w->rw = *blob;
		ckfs_nested_free(nt);
		cache_drop(w);
		return 0;
	}
	r = take_layer(w, nt, blob, err);
	ckfs_nested_free(nt);
	return r;
}

/*
 * containerd keeps a checkpoint's rw layer (`ctr checkpoint --rw`) in a
 * layer blob of its own: shown as rootfs-diff.tar, as its CRI archives
 * name it, when there is exactly one such layer and no such member.
 */
static int add_rw_diff(struct oci_walk *w, struct ckfs_err *err)
{
	struct ckfs_oci_entry *e;

	if (!w->criu_type || w->nrw != 1)
		return 0;
	for (size_t i = 0; i < w->ne; i++)
		if (strcmp(w->e[i].m.name, "rootfs-diff.tar") == 0)
			return 0;
	e = add_entry(w);
	if (!e)
		return ckfs_err_set(err, -EOVERFLOW,
				    "too many members in the layers");
	e->m = w->rw;
	e->m.fd = -1;
	e->m.link = NULL;
	e->m.name = strdup("rootfs-diff.tar");
	return e->m.name ? 0 : ckfs_err_set(err, -ENOMEM, "out of memory");
}

static void walk_fini(struct oci_walk *w)
{
	for (size_t i = 0; i < w->ne; i++) {
		free(w->e[i].m.name);
		free(w->e[i].m.link);
	}
	free(w->e);
	free(w->dig);
	free(w->kind);
	if (w->cache.fd >= 0)
		close(w->cache.fd);
}

int ckfs_oci_resolve(struct ckfs_archive *ar, struct ckfs_err *err)
{
	struct oci_walk w = { .cache.fd = -1 };
	const struct ckfs_member *idx;
	_cleanup_free_ char *json = NULL;
	size_t len;
	int r;

	if (!ckfs_archive_find(ar, "oci-layout") ||
	    !(idx = ckfs_archive_find(ar, "index.json")))
		return 0;
	w.dig = calloc(OCI_BLOBS_MAX, sizeof(*w.dig));
	w.kind = calloc(OCI_BLOBS_MAX, sizeof(*w.kind));
	if (!w.dig || !w.kind)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	r = ckfs_archive_read_all(ar, idx, OCI_JSON_MAX, &json, &len);
	if (r < 0) {
		r = ckfs_err_set(err, r, "index.json: cannot be read: %s",
				 strerror(-r));
		goto out;
	}
	scan_digests(&w, json);
	/* manifests append their config and layers: a breadth-first walk */
	for (size_t i = 0; i < w.n; i++) {
		r = visit(&w, ar, w.dig[i], w.kind[i], err);
		if (r < 0)
			goto out;
	}
	if (!w.layers) {
		r = w.first.code
			    ? ckfs_err_set(
				      err, -EBADMSG,
				      "OCI image layout: no layer with CRIU images (%s)",
				      w.first.msg)
			    : ckfs_err_set(
				      err, -EBADMSG,
				      "OCI image layout: no layer with CRIU images (pstree.img, inventory.img)");
		goto out;
	}
	r = add_rw_diff(&w, err);
	if (r < 0)
		goto out;
	if (!w.cache_used && w.cache.fd >= 0) {
		close(w.cache.fd);
		w.cache.fd = -1;
	}
	r = ckfs_archive_replace_index(ar, w.e, w.ne, steal_fd(&w.cache.fd),
				       err);
	w.ne = 0; /* the names now belong to the archive */
out:
	walk_fini(&w);
	return r;
}
