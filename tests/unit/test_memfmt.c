/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfs/memfmt.c: the byte layouts the memory views share with checkpointctl,
 * Volatility 3 and the kernel, pinned against the reference outputs.
 */
#include "tap.h"

#include <errno.h>

#include "vfs/memfmt_i.h"

static void test_bytes(void)
{
	static const struct {
		uint64_t b;
		const char *want;
	} c[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 69632, "68.0 KiB" },	 /* reference: podman pid 1 */
		{ 65536, "64.0 KiB" },	 /* reference: podman pid 5 */
		{ 171929, "167.9 KiB" }, /* reference: show CHKPT SIZE */
		{ 1048575, "1024.0 KiB" },
		{ 1048576, "1.0 MiB" },
		{ 1280, "1.2 KiB" }, /* 1.25: a tie, rounded to even */
		{ 1u << 30, "1.0 GiB" },
		{ UINT64_MAX, "16.0 EiB" },
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char buf[32];

		ckfs_fmt_bytes(c[i].b, buf, sizeof(buf));
		is_str(buf, c[i].want, "ByteToString(%llu)",
		       (unsigned long long)c[i].b);
	}
}

static void test_hexdump(void)
{
	/* the first row of checkpointctl-memparse-pid-1-o.hexdump */
	static const unsigned char b[16] = { 0x48, 0x83, 0xec, 0x08, 0x48, 0xc7,
					     0xc0, 0x00, 0x00, 0x00, 0x00, 0x48,
					     0x85, 0xc0, 0x74, 0x02 };
	static const char want[] =
		"0000000000401000  48 83 ec 08 48 c7 c0 00 00 00 00 48 85 c0 74 02  |H...H......H..t.|\n";
	unsigned char all[16];
	char row[CKFS_HEXDUMP_ROW + 1] = { 0 };
	int i;

	is_int(sizeof(want) - 1, CKFS_HEXDUMP_ROW, "a row is 86 bytes");
	ckfs_hexdump_row(0x401000, b, row);
	is_str(row, want, "row matches checkpointctl's");
	for (i = 0; i < 16; i++)
		all[i] = (unsigned char)(i * 16 + 15);
	ckfs_hexdump_row(UINT64_MAX - 15, all, row);
	is_str(row,
	       "fffffffffffffff0  0f 1f 2f 3f 4f 5f 6f 7f 8f 9f af bf cf df ef ff  |../?O_o.........|\n",
	       "row: printable 32..126 only, full-width address");
	is_int(strlen(ckfs_hexdump_head), CKFS_HEXDUMP_HEAD,
	       "the header is two 86-byte lines");
	ok(strncmp(ckfs_hexdump_head, "Address           Hexadecimal", 29) ==
		   0,
	   "header text");
}

static void test_table(void)
{
	/* checkpointctl-memparse.txt of podman-counter.none.tar */
	static const char *const cells[] = {
		"PID", "PROCESS NAME", "MEMORY SIZE", "SHARED MEMORY SIZE",
		"---", "------------", "-----------", "------------------",
		"1",   "sh",	       "68.0 KiB",    "0 B",
		"5",   "sleep",	       "64.0 KiB",    "0 B",
	};
	static const char *const narrow[] = { "a", "b", "c", "d" };
	struct ckfs_sb sb;
	char *out;
	size_t len;

	ckfs_sb_init(&sb);
	ckfs_fmt_table(&sb, cells, 4, 4);
	ok(ckfs_sb_finish(&sb, &out, &len) == 0, "table rendered");
	is_str(out,
	       "PID   PROCESS NAME   MEMORY SIZE   SHARED MEMORY SIZE\n"
	       "---   ------------   -----------   ------------------\n"
	       "1     sh             68.0 KiB      0 B\n"
	       "5     sleep          64.0 KiB      0 B\n",
	       "table matches checkpointctl's");
	free(out);
	ckfs_sb_init(&sb);
	ckfs_fmt_table(&sb, narrow, 2, 2);
	ok(ckfs_sb_finish(&sb, &out, &len) == 0, "narrow table rendered");
	is_str(out, "a     b\nc     d\n", "columns are at least 6 wide");
	free(out);
}

static void test_names(void)
{
	char buf[96];

	is_int(ckfs_vma_dump_name(5, 0x401000, 0x58d000, buf, sizeof(buf)),
	       strlen("pid.5.vma.0x401000-0x58d000.dmp"), "name length");
	is_str(buf, "pid.5.vma.0x401000-0x58d000.dmp",
	       "Volatility 3 naming: lowercase, unpadded, 0x");
	is_int(ckfs_vma_dump_name(5, 0, 0x1000, buf, 8), -ENAMETOOLONG,
	       "a short buffer is refused");
}

static char *vmflags(struct ckfs_vma v)
{
	struct ckfs_sb sb;
	char *out = NULL;
	size_t len;

	ckfs_sb_init(&sb);
	ckfs_fmt_vmflags(&v, &sb);
	if (ckfs_sb_finish(&sb, &out, &len) < 0)
		return NULL;
	return out;
}

static void test_vmflags(void)
{
	struct {
		struct ckfs_vma v;
		const char *want;
		const char *what;
	} c[] = {
		{ { .prot = 3, .flags = 0x22, .status = 0x221 },
		  "VmFlags: rd wr mr mw me ac \n", "heap" },
		{ { .prot = 3, .flags = 0x122, .status = 0x201 },
		  "VmFlags: rd wr mr mw me gd ac \n", "stack (MAP_GROWSDOWN)" },
		{ { .prot = 5, .flags = 0x2, .status = 0x41 },
		  "VmFlags: rd ex mr mw me \n", "private file text" },
		{ { .prot = 5, .flags = 0x22, .status = 0x209 },
		  "VmFlags: rd ex mr mw me de \n", "vdso" },
		{ { .prot = 1, .flags = 0x22, .status = 0x1201,
		    .madv = 1u << 16 },
		  "VmFlags: rd mr pf io de dd \n", "vvar" },
		{ { .prot = 3, .flags = 0x1, .status = 0x81, .fdflags = 2 },
		  "VmFlags: rd wr sh mr mw me ms \n", "shared rw file" },
		{ { .prot = 1, .flags = 0x1, .status = 0x81, .fdflags = 0 },
		  "VmFlags: rd mr me ms \n", "shared file opened read-only" },
		{ { .prot = 3, .flags = 0x4028, .status = 0x201,
		    .madv = 0x50000 },
		  "VmFlags: rd wr mr mw me nr wf dd dp \n", "MAP_DROPPABLE" },
		{ { .prot = 3, .flags = 0x22, .status = 0x201,
		    .madv = 1u << 15 },
		  "VmFlags: rd wr mr mw me ac nh \n", "MADV_NOHUGEPAGE" },
		{ { .prot = 4, .flags = 0x22, .status = 0x204 },
		  "VmFlags: ex \n", "vsyscall" },
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char *s = vmflags(c[i].v);

		is_str(s, c[i].want, "VmFlags of %s", c[i].what);
		free(s);
	}
}

static void test_sizes(void)
{
	struct ckfs_pm_run runs[] = {
		{ .vaddr = 0x401000, .npages = 1, .flags = CKFS_PE_PRESENT },
		{ .vaddr = 0x5ea000, .npages = 3, .flags = CKFS_PE_PARENT },
		{ .vaddr = 0x600000, .npages = 2, .flags = CKFS_PE_LAZY },
	};
	struct ckfs_vma vmas[] = {
		{ .start = 0x1000, .end = 0x3000, .flags = 0x1 },
		{ .start = 0x3000, .end = 0x4000, .flags = 0x22 },
		{ .start = 0x10000, .end = 0x20000, .flags = 0x21 },
	};
	struct ckfs_proc_mm m = { .page_size = 4096 };
	uint64_t mem, shared;

	m.pm.runs = runs;
	m.pm.n = 3;
	m.mm.vmas = vmas;
	m.mm.nvmas = 3;
	ckfs_memparse_sizes(&m, &mem, &shared);
	is_int(mem, 6 * 4096, "memory size counts every entry's pages");
	is_int(shared, 0x2000 + 0x10000, "shared size: MAP_SHARED mappings");
}

int main(void)
{
	test_bytes();
	test_hexdump();
	test_table();
	test_names();
	test_vmflags();
	test_sizes();
	return tap_done();
}
