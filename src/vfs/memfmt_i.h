/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to vfs/: the pure formatting behind the memory views, kept apart
 * from the tree so the unit tests can pin every byte: checkpointctl's size
 * strings, table layout and hexdump rows, Volatility 3's dump names, and
 * the kernel's smaps VmFlags.  No I/O, no locks.
 */
#ifndef CKFS_VFS_MEMFMT_I_H
#define CKFS_VFS_MEMFMT_I_H

#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"
#include "model/model.h"

/* `checkpointctl memparse -o`: two 86-byte header lines, 86-byte rows */
#define CKFS_HEXDUMP_ROW 86
#define CKFS_HEXDUMP_HEAD (2 * CKFS_HEXDUMP_ROW)
#define CKFS_HEXDUMP_BYTES 16 /* bytes shown per row */

extern const char ckfs_hexdump_head[CKFS_HEXDUMP_HEAD + 1];

/*
 * ckfs_hexdump_row() - the row for the 16 bytes @b at @addr:
 * "%016x  " + 16 x "%02x " + " |" + ASCII ('.' outside 32..126) + "|\n".
 * Writes exactly CKFS_HEXDUMP_ROW bytes to @out, no NUL.
 */
void ckfs_hexdump_row(uint64_t addr, const unsigned char *b, char *out);

/*
 * ckfs_fmt_bytes() - checkpointctl's lib.ByteToString: "%d B" below 1024,
 * else "%.1f %ciB" with the largest unit K..E that keeps the value >= 1.
 * @out gets at most @size bytes, NUL included.
 */
void ckfs_fmt_bytes(uint64_t b, char *out, size_t size);

/*
 * ckfs_fmt_table() - lay out @rows x @cols cells (row-major) the way Go's
 * text/tabwriter does with kubectl's settings (minwidth 6, tabwidth 4,
 * padding 3, padding with spaces, no flags): every column but the last is
 * padded to max(6, widest cell + 3) characters; the last is not padded.
 * Widths count UTF-8 characters.  Appends to @out.
 */
void ckfs_fmt_table(struct ckfs_sb *out, const char *const *cells,
		    size_t rows, size_t cols);

/*
 * ckfs_vma_dump_name() - "pid.<pid>.vma.0x<start>-0x<end>.dmp", the name
 * Volatility 3's linux.proc.Maps --dump gives a VMA (lowercase hex, no
 * padding, end exclusive).  Returns the length, or -ENAMETOOLONG.
 */
int ckfs_vma_dump_name(uint32_t pid, uint64_t start, uint64_t end, char *out,
		       size_t size);

/*
 * ckfs_fmt_vmflags() - the smaps "VmFlags: " line of @v, as
 * fs/proc/task_mmu.c prints it (two letters and a space per flag, in the
 * kernel's bit order, then '\n'), from prot, MAP_* flags, madvise bits and
 * CRIU's status.  Flags a checkpoint does not record (soft-dirty,
 * userfaultfd, a past mprotect) are left out.
 */
void ckfs_fmt_vmflags(const struct ckfs_vma *v, struct ckfs_sb *out);

/*
 * ckfs_memparse_sizes() - the two figures of `checkpointctl memparse`'s
 * overview (checkpointctl.md §3.3): *@mem = the pages of every pagemap
 * entry (present, lazy or in a parent) times the page size; *@shared = the
 * bytes of the mappings with MAP_SHARED in their flags.
 */
void ckfs_memparse_sizes(const struct ckfs_proc_mm *m, uint64_t *mem,
			 uint64_t *shared);

#endif /* CKFS_VFS_MEMFMT_I_H */
