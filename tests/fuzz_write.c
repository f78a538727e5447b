/* fuzz_write.c — libFuzzer target for the mount's write-value parser
 * (rf_tree_write, redfish/write.c): one write(2) of arbitrary bytes to a
 * writable file of a tree holding a DMTF mockup (whose provider applies
 * PATCHes and actions in memory, so values get through to it).
 *
 * Input: the first byte picks the file among every writable one of the
 * tree (found once by walking it), the rest is the written value. Promises
 * checked beyond crashes: the call returns 0 or one of the documented
 * errnos, and a value that is not UTF-8 text is never accepted.
 *
 * Built by scripts/fuzz (clang, -fsanitize=fuzzer,address,undefined). */
#include "redfish.h"
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rf_tree *tree;
static char **files;
static size_t n_files;

static void walk(const char *dir)
{
	struct rf_dirent *d;
	size_t n;

	if (rf_tree_list(tree, dir, &d, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char path[1024];

		snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "", d[i].name);
		if (d[i].st.kind == RF_KIND_DIR)
			walk(path);
		else if (d[i].st.kind == RF_KIND_FILE && d[i].st.writable &&
			 (files = realloc(files, (n_files + 1) * sizeof(*files))))
			files[n_files++] = strdup(path);
	}
	rf_dirents_free(d, n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *shared = getenv("SHARED_DIR");
	char dir[512];
	int err = 0;

	snprintf(dir, sizeof(dir), "%s/mockups/public-rackmount1", shared ? shared : "../shared");
	tree = rf_tree_new("00000000-0000-0000-0000-000000000001");
	if (!tree || !rf_mockup_load(tree, NULL, dir, &err)) {
		fprintf(stderr, "fuzz_write: loading %s: %s\n", dir, strerror(-err));
		exit(1);
	}
	walk("");
	if (!n_files) {
		fprintf(stderr, "fuzz_write: no writable file in %s\n", dir);
		exit(1);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *value;
	size_t len, vlen;
	int r;

	if (size < 1)
		return 0;
	value = (const char *)data + 1;
	len = size - 1;
	r = rf_tree_write(tree, files[data[0] % n_files], value, len);
	if (r != 0 && r != -EINVAL && r != -EACCES && r != -EISDIR && r != -ENOENT &&
	    r != -ETIMEDOUT && r != -EHOSTUNREACH && r != -EIO && r != -ENOMEM && r != -ESTALE &&
	    r != -EOPNOTSUPP) {
		fprintf(stderr, "fuzz_write: undocumented error %d\n", r);
		abort();
	}
	vlen = len;
	if (vlen && value[vlen - 1] == '\n')
		vlen--;
	if (vlen && value[vlen - 1] == '\r')
		vlen--;
	if (r == 0 && text_check(value, vlen, false) < 0) {
		fprintf(stderr, "fuzz_write: accepted a value that is not UTF-8 text\n");
		abort();
	}
	return 0;
}
