/* test_config.c — fs/config.c: the INI file, --kasa strings, numbers.
 *
 * Each case writes a small file into a temporary directory and checks what
 * fs_config_load made of it, or that it failed naming FILE:LINE. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "testutil.h"

static char tmpdir[64];
static char cfgpath[128];

static int suite_init(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/redfishfs-config-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(cfgpath, sizeof(cfgpath), "%s/redfishfs.conf", tmpdir);
	return 0;
}

static int suite_clean(void)
{
	unlink(cfgpath);
	rmdir(tmpdir);
	return 0;
}

static void write_cfg(const char *text)
{
	FILE *f = fopen(cfgpath, "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

/* Load text; returns the result, err holds the message. */
static int load(const char *text, struct fs_config *c, char *err, size_t errlen)
{
	write_cfg(text);
	fs_config_init(c);
	err[0] = '\0';
	return fs_config_load(c, cfgpath, err, errlen);
}

/* Expect text to fail at line, with a message containing what. */
static void expect_error(const char *text, int line, const char *what)
{
	struct fs_config c;
	char err[512], prefix[256];
	int r = load(text, &c, err, sizeof(err));

	snprintf(prefix, sizeof(prefix), "%s:%d: ", cfgpath, line);
	CU_ASSERT_EQUAL(r, -EINVAL);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, what))
		fprintf(stderr, "\n  expected '%s...%s', got '%s'\n", prefix, what, err);
	CU_ASSERT_EQUAL(strncmp(err, prefix, strlen(prefix)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, what));
	fs_config_clear(&c);
}

static void test_good(void)
{
	struct fs_config c;
	char err[256];
	int r;

	/* A BOM is skipped on line 1 only: later it is a syntax error. */
	r = load("; redfishfs configuration\n\xEF\xBB\xBF\n", &c, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":2: syntax error"));
	fs_config_clear(&c);

	r = load("\xEF\xBB\xBF# comment\n"
		 "[redfishfs]\n"
		 "timeout = 300\n"
		 "  max_age=500   ; inline comment\n"
		 "\n"
		 "poll = 2\n"
		 "[kasa PowerStrip]\n"
		 "host = 127.0.0.1:12345\n"
		 "  [kasa Rack_A.2-x]\n"
		 "\thost = plug.example.org\n"
		 "[kasa v6]\n"
		 "host = [::1]:9998\n",
		 &c, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_EQUAL(c.timeout_ms, 300);
	CU_ASSERT_EQUAL(c.max_age_ms, 500);
	CU_ASSERT_EQUAL(c.poll_s, 2);
	CU_ASSERT_EQUAL_FATAL(c.n_kasa, 3);
	CU_ASSERT_STRING_EQUAL(c.kasa[0].name, "PowerStrip");
	CU_ASSERT_STRING_EQUAL(c.kasa[0].host, "127.0.0.1");
	CU_ASSERT_EQUAL(c.kasa[0].port, 12345);
	CU_ASSERT_STRING_EQUAL(c.kasa[1].name, "Rack_A.2-x");
	CU_ASSERT_STRING_EQUAL(c.kasa[1].host, "plug.example.org");
	CU_ASSERT_EQUAL(c.kasa[1].port, 9999);
	CU_ASSERT_STRING_EQUAL(c.kasa[2].host, "::1");
	CU_ASSERT_EQUAL(c.kasa[2].port, 9998);
	fs_config_clear(&c);
	CU_ASSERT_EQUAL(c.n_kasa, 0);
	CU_ASSERT_PTR_NULL(c.kasa);
	CU_ASSERT_EQUAL(c.timeout_ms, FS_DEFAULT_TIMEOUT_MS);
}

/* TP-Link accounts: [kasa] for every strip, user=/password_file= in [kasa
 * NAME] before or after its host. */
static void test_accounts(void)
{
	struct fs_config c;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(load("[kasa]\nuser = me@example.com\npassword_file = /etc/pw\n"
				   "[kasa A]\nuser = a@example.com\nhost = 10.0.0.1\npassword_file = /a\n"
				   "[kasa B]\nhost = 10.0.0.2\n", &c, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.kasa_user, "me@example.com");
	CU_ASSERT_STRING_EQUAL(c.kasa_password_file, "/etc/pw");
	CU_ASSERT_EQUAL_FATAL(c.n_kasa, 2);
	CU_ASSERT_STRING_EQUAL(c.kasa[0].user, "a@example.com");
	CU_ASSERT_STRING_EQUAL(c.kasa[0].password_file, "/a");
	CU_ASSERT_PTR_NULL(c.kasa[1].user);
	CU_ASSERT_PTR_NULL(c.kasa[1].password_file);
	fs_config_clear(&c);
}

static void test_defaults_and_empty(void)
{
	struct fs_config c;
	char err[256];

	CU_ASSERT_EQUAL(load("", &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.timeout_ms, FS_DEFAULT_TIMEOUT_MS);
	CU_ASSERT_EQUAL(c.max_age_ms, FS_DEFAULT_MAX_AGE_MS);
	CU_ASSERT_EQUAL(c.poll_s, FS_DEFAULT_POLL_S);
	CU_ASSERT_EQUAL(c.n_kasa, 0);
	fs_config_clear(&c);

	/* An empty [redfishfs] is fine; max_age 0 means "always refresh". */
	CU_ASSERT_EQUAL(load("[redfishfs]\n[redfishfs]\nmax_age=0\n", &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.max_age_ms, 0);
	fs_config_clear(&c);

	/* Keys are written with '-'; '_' is the same key. */
	CU_ASSERT_EQUAL(load("[redfishfs]\nmax-age = 7\ndiscover-interval = 9\n", &c, err,
			     sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.max_age_ms, 7);
	CU_ASSERT_EQUAL(c.discover_interval_s, 9);
	fs_config_clear(&c);
	expect_error("[redfishfs]\nmax_age = 1\nmax-age = 2\n", 3, "'max-age' given twice");
}

static void test_errors(void)
{
	expect_error("[redfishfs]\ntimeout = 2000\n[bogus]\n", 3, "unknown section [bogus]");
	expect_error("[redfishfs]\ntiemout = 2000\n", 2, "unknown key 'tiemout'");
	expect_error("timeout = 2000\n", 1, "outside a section");
	expect_error("[redfishfs]\ntimeout = fast\n", 2, "not a number");
	expect_error("[redfishfs]\ntimeout = 20x\n", 2, "not a number");
	expect_error("[redfishfs]\ntimeout = \n", 2, "not a number");
	expect_error("[redfishfs]\n\ntimeout = 0\n", 3, "must be from 1 to");
	expect_error("[redfishfs]\npoll = 99999999999999999999\n", 2, "must be from");
	expect_error("[redfishfs]\nmax_age = -1\n", 2, "must be from 0");
	expect_error("[redfishfs]\ntimeout = 100\npoll = 1\ntimeout = 200\n", 4, "given twice");
	expect_error("[redfishfs]\npoll = 1\n[redfishfs]\npoll = 2\n", 4, "given twice");
	expect_error("[redfishfs]\ntimeout 2000\n", 2, "syntax error");
	expect_error("[redfishfs\n", 1, "syntax error");
	/* A syntax error before a later error of ours is the one reported. */
	expect_error("[redfishfs]\njunk\n[bogus]\n", 2, "syntax error");
	/* kasa sections */
	expect_error("[kasa]\nhost = 1.2.3.4\n", 2, "unknown key 'host' in [kasa]");
	expect_error("[kasa]\nuser = a\nuser = b\n", 3, "'user' given twice");
	expect_error("[kasa A]\nuser = a\nhost = 1.2.3.4\nuser = b\n", 4, "'user' given twice");
	expect_error("[kasa A]\nhost = 1.2.3.4\npassword_file =\n", 3, "empty");
	expect_error("[kasa Rack A]\nhost = 1.2.3.4\n", 1, "invalid strip name 'Rack A'");
	expect_error("[kasa ..]\nhost = 1.2.3.4\n", 1, "invalid strip name");
	expect_error("[kasa A]\nhost = 1.2.3.4\n[kasa A]\nhost = 1.2.3.5\n", 3, "defined twice");
	expect_error("[kasa A]\nhost = 1.2.3.4\nhost = 1.2.3.5\n", 3, "'host' given twice");
	expect_error("[kasa A]\nport = 9999\n", 2, "unknown key 'port'");
	expect_error("[kasa A]\n; no host\n[redfishfs]\npoll = 1\n", 1, "[kasa A] has no host");
	expect_error("[redfishfs]\n[kasa Last]\n", 2, "[kasa Last] has no host");
	expect_error("[kasa A]\nhost = 1.2.3.4:0\n", 2, "port must be");
	expect_error("[kasa A]\nhost = 1.2.3.4:65536\n", 2, "port must be");
	expect_error("[kasa A]\nhost = 1.2.3.4:\n", 2, "port must be");
	expect_error("[kasa A]\nhost = :99\n", 2, "empty host");
	expect_error("[kasa A]\nhost = ::1\n", 2, "IPv6");
	expect_error("[kasa A]\nhost = bad/host\n", 2, "invalid character");
	expect_error("[kasa A]\nhost = 1.2.3.4\n[kasa B]\nhost = 1.2.3.4:9999\n", 4, "given twice");

	/* An overlong line is refused, not split into two. */
	{
		char text[600];

		snprintf(text, sizeof(text), "[redfishfs]\n; %0400d\n", 0);
		expect_error(text, 2, "line longer");
	}
}

static void test_unreadable(void)
{
	struct fs_config c;
	char err[512], path[200];
	int r;

	snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
	fs_config_init(&c);
	r = fs_config_load(&c, path, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
	r = fs_config_load(&c, tmpdir, err, sizeof(err));   /* a directory */
	CU_ASSERT(r < 0);
	fs_config_clear(&c);
}

static void test_parse_kasa(void)
{
	struct fs_kasa k;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(fs_parse_kasa("PowerStrip=127.0.0.1:1234", &k, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(k.name, "PowerStrip");
	CU_ASSERT_STRING_EQUAL(k.host, "127.0.0.1");
	CU_ASSERT_EQUAL(k.port, 1234);
	fs_kasa_clear(&k);

	CU_ASSERT_EQUAL_FATAL(fs_parse_kasa("10.0.0.7", &k, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NULL(k.name);
	CU_ASSERT_STRING_EQUAL(k.host, "10.0.0.7");
	CU_ASSERT_EQUAL(k.port, 9999);
	fs_kasa_clear(&k);

	CU_ASSERT_EQUAL_FATAL(fs_parse_kasa("a.b-c_d=[fe80::1%eth0]:65535", &k, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(k.name, "a.b-c_d");
	CU_ASSERT_STRING_EQUAL(k.host, "fe80::1%eth0");
	CU_ASSERT_EQUAL(k.port, 65535);
	fs_kasa_clear(&k);

	CU_ASSERT_EQUAL_FATAL(fs_parse_kasa("[::1]", &k, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(k.host, "::1");
	CU_ASSERT_EQUAL(k.port, 9999);
	fs_kasa_clear(&k);

	static const char *const bad[] = {
		"", "=1.2.3.4", "Rack A=1.2.3.4", "a/b=1.2.3.4", "..=1.2.3.4", "x=", "x=:9999",
		"1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:9x", "1.2.3.4:", "::1",
		"[::1", "[::1]x", "[]:99", "-f", "x=-h:1", "[1.2.3.4]", "host name", "a=b=c",
		"x012345678901234567890123456789012345678901234567890123456789012345=h",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&k, 0x55, sizeof(k));
		err[0] = '\0';
		if (fs_parse_kasa(bad[i], &k, err, sizeof(err)) != -EINVAL)
			fprintf(stderr, "\n  accepted bad --kasa '%s'\n", bad[i]);
		CU_ASSERT_EQUAL(fs_parse_kasa(bad[i], &k, err, sizeof(err)), -EINVAL);
		CU_ASSERT(err[0] != '\0');
	}
	CU_ASSERT_EQUAL(fs_parse_kasa(NULL, &k, err, sizeof(err)), -EINVAL);
}

static void test_names_and_numbers(void)
{
	char name[FS_NAME_MAX + 2];
	int v = -7;

	CU_ASSERT_TRUE(fs_name_valid("PowerStrip"));
	CU_ASSERT_TRUE(fs_name_valid("a"));
	CU_ASSERT_TRUE(fs_name_valid("..."));
	CU_ASSERT_FALSE(fs_name_valid(""));
	CU_ASSERT_FALSE(fs_name_valid("."));
	CU_ASSERT_FALSE(fs_name_valid(".."));
	CU_ASSERT_FALSE(fs_name_valid("a b"));
	CU_ASSERT_FALSE(fs_name_valid("ä"));
	CU_ASSERT_FALSE(fs_name_valid(NULL));
	memset(name, 'x', FS_NAME_MAX);
	name[FS_NAME_MAX] = '\0';
	CU_ASSERT_TRUE(fs_name_valid(name));
	name[FS_NAME_MAX] = 'x';
	name[FS_NAME_MAX + 1] = '\0';
	CU_ASSERT_FALSE(fs_name_valid(name));

	CU_ASSERT_EQUAL(fs_parse_int("42", 0, 100, &v), 0);
	CU_ASSERT_EQUAL(v, 42);
	CU_ASSERT_EQUAL(fs_parse_int("0", 0, 100, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	v = 5;
	CU_ASSERT_EQUAL(fs_parse_int("101", 0, 100, &v), -ERANGE);
	CU_ASSERT_EQUAL(fs_parse_int("-1", 0, 100, &v), -ERANGE);
	CU_ASSERT_EQUAL(fs_parse_int("", 0, 100, &v), -EINVAL);
	CU_ASSERT_EQUAL(fs_parse_int(" 1", 0, 100, &v), -EINVAL);
	CU_ASSERT_EQUAL(fs_parse_int("+1", 0, 100, &v), -EINVAL);
	CU_ASSERT_EQUAL(fs_parse_int("1 ", 0, 100, &v), -EINVAL);
	CU_ASSERT_EQUAL(fs_parse_int("0x10", 0, 100, &v), -EINVAL);
	CU_ASSERT_EQUAL(fs_parse_int("99999999999999999999999", 0, 100, &v), -ERANGE);
	CU_ASSERT_EQUAL(v, 5);   /* untouched on error */
}

static void test_add_kasa(void)
{
	struct fs_config c;
	struct fs_kasa k;
	char err[256];

	fs_config_init(&c);
	CU_ASSERT_EQUAL_FATAL(fs_parse_kasa("A=1.2.3.4", &k, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(fs_config_add_kasa(&c, &k, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NULL(k.host);   /* stolen */
	CU_ASSERT_EQUAL_FATAL(fs_parse_kasa("A=1.2.3.5", &k, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(fs_config_add_kasa(&c, &k, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'A'"));
	fs_kasa_clear(&k);
	CU_ASSERT_EQUAL_FATAL(fs_parse_kasa("1.2.3.4:9999", &k, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(fs_config_add_kasa(&c, &k, err, sizeof(err)), -EEXIST);
	fs_kasa_clear(&k);
	CU_ASSERT_EQUAL_FATAL(fs_parse_kasa("1.2.3.4:9998", &k, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(fs_config_add_kasa(&c, &k, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.n_kasa, 2);
	CU_ASSERT_PTR_NULL(c.kasa[1].name);
	fs_config_clear(&c);
}

static void test_discover(void)
{
	struct fs_config c;
	struct fs_discover d;
	char err[256];
	int r;

	/* The file: a list, repeated keys add, duplicates once, the interval. */
	r = load("[redfishfs]\n"
		 "discover = 192.168.1.255, 10.0.0.255:9998\n"
		 "discover=192.168.2.255\n"
		 "discover = 192.168.1.255\n"
		 "discover_interval = 30\n",
		 &c, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_EQUAL_FATAL(c.n_discover, 3);
	CU_ASSERT_STRING_EQUAL(c.discover[0].addr, "192.168.1.255");
	CU_ASSERT_EQUAL(c.discover[0].port, 9999);
	CU_ASSERT_STRING_EQUAL(c.discover[1].addr, "10.0.0.255");
	CU_ASSERT_EQUAL(c.discover[1].port, 9998);
	CU_ASSERT_STRING_EQUAL(c.discover[2].addr, "192.168.2.255");
	CU_ASSERT_EQUAL(c.discover_interval_s, 30);
	fs_config_clear(&c);
	CU_ASSERT_EQUAL(c.n_discover, 0);
	CU_ASSERT_PTR_NULL(c.discover);
	CU_ASSERT_EQUAL(c.discover_interval_s, FS_DEFAULT_DISCOVER_INTERVAL_S);

	CU_ASSERT_EQUAL(load("", &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.n_discover, 0);
	CU_ASSERT_EQUAL(c.discover_interval_s, 60);
	fs_config_clear(&c);

	expect_error("[redfishfs]\ndiscover = lan.example.org\n", 2, "numeric IPv4");
	expect_error("[redfishfs]\ndiscover = 192.168.1.255:0\n", 2, "port");
	expect_error("[redfishfs]\ndiscover = 192.168.1.255,,10.0.0.255\n", 2, "empty item");
	expect_error("[redfishfs]\ndiscover =\n", 2, "empty");
	expect_error("[redfishfs]\ndiscover = 1.2.3.4.5\n", 2, "numeric IPv4");
	expect_error("[redfishfs]\ndiscover_interval = 0\n", 2, "must be from 1 to 86400");
	expect_error("[redfishfs]\ndiscover_interval = 1m\n", 2, "not a number");
	expect_error("[redfishfs]\ndiscover_interval = 5\ndiscover_interval = 6\n", 3, "given twice");
	expect_error("[kasa X]\nhost = 1.2.3.4\ndiscover = 1.2.3.255\n", 3, "unknown key");

	/* A bad item leaves the list as it was. */
	fs_config_init(&c);
	CU_ASSERT_EQUAL(fs_config_add_discover(&c, "10.1.1.255", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(fs_config_add_discover(&c, "10.1.2.255, nope", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'nope'"));
	CU_ASSERT_EQUAL(c.n_discover, 1);
	fs_config_clear(&c);

	CU_ASSERT_EQUAL(fs_parse_discover("255.255.255.255", &d, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(d.addr, "255.255.255.255");
	CU_ASSERT_EQUAL(d.port, 9999);
	CU_ASSERT_EQUAL(fs_parse_discover("127.255.255.255:65535", &d, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(d.port, 65535);
	CU_ASSERT_EQUAL(fs_parse_discover("", &d, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(fs_parse_discover(":9999", &d, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(fs_parse_discover("1.2.3.4:65536", &d, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(fs_parse_discover("::1", &d, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(fs_parse_discover("1.2.3.4:", &d, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("config", suite_init, suite_clean);
	CU_add_test(s, "good file", test_good);
	CU_add_test(s, "defaults and empty", test_defaults_and_empty);
	CU_add_test(s, "TP-Link accounts", test_accounts);
	CU_add_test(s, "errors name file and line", test_errors);
	CU_add_test(s, "unreadable file", test_unreadable);
	CU_add_test(s, "--kasa strings", test_parse_kasa);
	CU_add_test(s, "names and numbers", test_names_and_numbers);
	CU_add_test(s, "adding strips", test_add_kasa);
	CU_add_test(s, "discovery targets and interval", test_discover);
	return tu_run_cunit();
}
