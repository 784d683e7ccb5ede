/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replay driver for the fuzz targets when they are not built with
 * libFuzzer: runs LLVMFuzzerTestOneInput() once per input file.  Each
 * argument is a file or a directory of files (sorted, not recursive).
 * Prints one TAP line per input; a crash or sanitizer report fails it.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int count;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		printf("not ok %d - %s: cannot open\n", ++count, path);
		return 1;
	}
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	/* an exact-size copy, so reads past the input trip ASan */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (!exact)
			abort();
		memcpy(exact, buf, len);
		free(buf);
		fflush(stdout);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	printf("ok %d - %s (%zu bytes)\n", ++count, path, len);
	fflush(stdout);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	int i, bad = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		struct dirent **ents;
		struct stat st;
		int n, j;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			n = scandir(argv[i], &ents, NULL, by_name);
			if (n < 0) {
				printf("not ok %d - %s: cannot list\n", ++count,
				       argv[i]);
				bad++;
				continue;
			}
			for (j = 0; j < n; j++) {
				char path[4096];

				snprintf(path, sizeof(path), "%s/%s", argv[i],
					 ents[j]->d_name);
				if (ents[j]->d_name[0] != '.' &&
				    stat(path, &st) == 0 && S_ISREG(st.st_mode))
					bad += run_file(path);
				free(ents[j]);
			}
			free(ents);
		} else {
			bad += run_file(argv[i]);
		}
	}
	if (count == 0)
		printf("1..0 # SKIP no inputs\n");
	else
		printf("1..%d\n", count);
	return bad ? 1 : 0;
}
