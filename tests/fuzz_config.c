/* fuzz_config.c — libFuzzer target for the configuration parser: the
 * input is an INI file read by fs_config_load (fs/config.c, inih), with
 * the [http] section routed to httpd_config_set as fs/main.c routes it,
 * and the http settings then checked by httpd_config_check.
 *
 * Promises checked beyond crashes: a rejected file always says why, as
 * "FILE:LINE: ..." or "FILE: ...". Built by scripts/fuzz. */
#include "fs.h"
#include "httpd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ext(void *userdata, const char *section, const char *key, const char *value,
	       char *err, size_t errlen)
{
	struct httpd_config *hc = userdata;
	int r;

	if (strcmp(section, "http") != 0)
		return -ENOENT;
	if (!key)
		return 0;
	r = httpd_config_set(hc, key, value);
	if (r == -EINVAL)
		snprintf(err, errlen, "bad value for %s", key);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fs_config c;
	struct httpd_config hc = HTTPD_CONFIG_INIT;
	char path[64], err[512] = "", msg[512];
	int fd = memfd_create("fuzz.conf", MFD_CLOEXEC);
	int r;

	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fs_config_init(&c);
	c.ext = ext;
	c.ext_userdata = &hc;
	r = fs_config_load(&c, path, err, sizeof(err));
	if (r < 0 && strncmp(err, path, strlen(path)) != 0) {
		fprintf(stderr, "fuzz_config: error %d without FILE[:LINE]: \"%s\"\n", r, err);
		abort();
	}
	if (r == 0 && hc.listen)
		httpd_config_check(&hc, msg, sizeof(msg));
	fs_config_clear(&c);
	httpd_config_clear(&hc);
	close(fd);
	return 0;
}
