/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CRIU images as crit shows them.  ckfs_json_render() prints an image the
 * way `crit decode --pretty` (CRIU 4.2) does: {"magic": NAME, "entries":
 * [...]}, each entry a record with its set fields in field-number order
 * under their .proto names, and crit's renderings of them (hex strings,
 * flag names, major:minor, base64 bytes, enum and dictionary names, IP
 * addresses), byte for byte in Python's json.dump(indent=4) layout plus a
 * final newline.  Images with a payload after their records (pipes-data,
 * sk-queues, tcp-stream, ghost-file) carry it as "extra", as crit does.
 *
 * Which fields get which rendering is a table in json.c (CRIU keeps it in
 * its .proto options, which checkpointfs's protos leave out).  Images crit
 * refuses (raw data: pages, tmpfs and netfilter dumps, empty files) and
 * images whose message checkpointfs has no .proto for are not rendered.
 *
 * Nothing here keeps state: every function is safe to call from many
 * threads at once.
 */
#ifndef CKFS_IMAGE_JSON_H
#define CKFS_IMAGE_JSON_H

#include "archive/archive.h"
#include "base/err.h"
#include "base/strbuf.h"

/*
 * ckfs_json_probe() - would crit decode member @m, and can we?
 *
 * Reads the magic (at most 8 bytes).  Returns 1 with crit's magic name
 * ("CORE", "PAGEMAP", ...; static storage) in *@magic when
 * ckfs_json_render() knows how to render it; 0 when crit refuses it
 * (too short, unknown magic: raw images) or when checkpointfs has no
 * message for that magic (then *@magic is still set when the magic is
 * known, else NULL); -EIO when the member cannot be read.  Members named
 * pages-*.img are raw page data whatever their first bytes hold: 0.
 */
int ckfs_json_probe(struct ckfs_archive *ar, const struct ckfs_member *m,
		    const char **magic);

/*
 * ckfs_json_render() - append crit's JSON for member @m to @out.
 *
 * Reads the whole member (CKFS_IMG_SIZE_MAX at most).  Returns 0, or
 * -ENOTSUP when ckfs_json_probe() would say 0, -EBADMSG when a record
 * header is cut short or a record does not decode (crit fails on those
 * too; like crit, a last record shorter than its size claims is decoded
 * from the bytes there are), -EOVERFLOW for an image or record over the
 * limits, -EIO when unreadable, -ENOMEM.
 * @err names the member and the record at fault.  On failure @out may
 * hold part of the text.
 */
int ckfs_json_render(struct ckfs_archive *ar, const struct ckfs_member *m,
		     struct ckfs_sb *out, struct ckfs_err *err);

#endif /* CKFS_IMAGE_JSON_H */
