/* test_e2e_tls.c — a BMC over HTTPS, as users meet it: the project's own
 * daemon serves the DMTF mockup over HTTPS with a self-signed certificate
 * made by openssl at test time (login required), and a second daemon mounts
 * it with --bmc rack1=https://127.0.0.1:PORT.
 *
 * - certificates are verified by default: an untrusted one stops the daemon
 *   before mounting, with a message that says what to do;
 * - --bmc-ca CERT trusts it;
 * - --bmc-insecure rack1 opts that one BMC out of verification.
 * Skips (exit 77) without /dev/fuse. */
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

static char work[] = "/tmp/rfs-tls-XXXXXX";
static char cert[300], key[300], pw[300], state[300], bmc[64];
static struct tu_daemon fake;

static int tls_init(void)
{
	const char *shared = getenv("SHARED_DIR");
	char mockup[512], log[300];
	FILE *f;

	if (!mkdtemp(work))
		return -1;
	snprintf(cert, sizeof(cert), "%s/cert.pem", work);
	snprintf(key, sizeof(key), "%s/key.pem", work);
	snprintf(pw, sizeof(pw), "%s/pw", work);
	snprintf(state, sizeof(state), "%s/state", work);
	snprintf(log, sizeof(log), "%s/fake.log", work);
	snprintf(mockup, sizeof(mockup), "%s/mockups/public-rackmount1", shared ? shared : "../shared");
	if (tu_sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
		  "-addext subjectAltName=IP:127.0.0.1 -keyout '%s' -out '%s' >/dev/null 2>&1",
		  key, cert) != 0)
		return -1;
	f = fopen(pw, "w");
	if (!f || fputs("tls-secret\n", f) < 0 || fclose(f) != 0 || chmod(pw, 0600) < 0)
		return -1;
	{
		const char *args[] = { "--mockup", mockup, "--http-cert", cert, "--http-key", key,
				       "--http-user", "admin", "--http-password-file", pw,
				       "--state-dir", state, NULL };

		if (tu_daemon_start(&fake, log, 0, args) < 0)
			return -1;
	}
	snprintf(bmc, sizeof(bmc), "rack1=https://127.0.0.1:%u", (unsigned)fake.port);
	return 0;
}

static int tls_clean(void)
{
	tu_daemon_stop(&fake, SIGTERM);
	tu_sh("rm -rf '%s'", work);
	return 0;
}

static void test_untrusted_refused(void)
{
	char *out = NULL;
	int st;

	/* In the foreground the daemon exits with its message before mounting. */
	st = tu_sh_out(&out, "mkdir -p '%s/m0' && '%s' -f --bmc '%s' --bmc-user admin "
		       "--bmc-password-file '%s' --timeout 2000 '%s/m0' 2>&1",
		       work, getenv("REDFISHFS"), bmc, pw, work);
	CU_ASSERT_NOT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "TLS"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "--bmc-ca"));
	CU_ASSERT_PTR_NULL(strstr(out, "tls-secret"));
	CU_ASSERT_FALSE(tu_is_mounted(tu_path(work, "m0")));
	free(out);
}

static void check_mount(const char *const *args)
{
	struct tu_mount m;
	char *v;

	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	v = tu_value(tu_path(m.mnt, "Systems/rack1_437XR1138R2/PowerState"));
	CU_ASSERT_PTR_NOT_NULL(v);
	if (v)
		CU_ASSERT_STRING_EQUAL(v, "On");
	free(v);
	v = tu_value(tu_path(m.mnt, "AggregationService/AggregationSources/rack1/HostName"));
	CU_ASSERT_PTR_NOT_NULL(v);
	if (v)
		CU_ASSERT_PTR_NOT_NULL(strstr(v, "https://127.0.0.1:"));
	free(v);
	tu_mount_stop(&m);
}

static void test_trusted_by_ca(void)
{
	const char *args[] = { "--bmc", bmc, "--bmc-user", "admin", "--bmc-password-file", pw,
			       "--bmc-ca", cert, NULL };

	check_mount(args);
}

static void test_insecure_opt_out(void)
{
	const char *args[] = { "--bmc", bmc, "--bmc-user", "admin", "--bmc-password-file", pw,
			       "--bmc-insecure", "rack1", NULL };

	check_mount(args);
}

int main(void)
{
	CU_pSuite s;

	if (!tu_have_fuse()) {
		fprintf(stderr, "no usable /dev/fuse: skipped\n");
		return 77;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("bmc over https", tls_init, tls_clean);
	CU_add_test(s, "an untrusted certificate stops the daemon, saying what to do", test_untrusted_refused);
	CU_add_test(s, "--bmc-ca trusts it", test_trusted_by_ca);
	CU_add_test(s, "--bmc-insecure NAME opts one BMC out", test_insecure_opt_out);
	return tu_run_cunit();
}
