/* test_bmc_fake.h — a fake Redfish BMC for the bmc tests: libmicrohttpd in
 * the test process on 127.0.0.1, port 0, serving a DMTF mockup directory
 * from memory, with sessions (or Basic only), ETags, If-None-Match /
 * If-Match, PATCH, ComputerSystem.Reset, and modes that misbehave on
 * purpose. Counts every request it receives. */
#ifndef TEST_BMC_FAKE_H
#define TEST_BMC_FAKE_H

#include <stdbool.h>
#include <stdint.h>

enum fake_mode {
	FAKE_OK,
	FAKE_401,         /* every authenticated request and every login: 401 */
	FAKE_503,         /* 503 with Retry-After: arg seconds (arg < 0: no header) */
	FAKE_SLOW,        /* answer after arg ms */
	FAKE_MALFORMED,   /* 200 with a body that is not JSON */
	FAKE_HUGE,        /* 200 with a body of arg MiB */
	FAKE_WRONG_ID,    /* 200 with an @odata.id of another resource */
};

struct fake_bmc;

/* sessions: offer Links.Sessions (else Basic only). Credentials admin/secret. */
struct fake_bmc *fake_bmc_start(const char *mockup_dir, bool sessions);
void fake_bmc_stop(struct fake_bmc *f);
uint16_t fake_bmc_port(struct fake_bmc *f);
/* Stop listening (connections refused) / listen again on the same port. */
void fake_bmc_down(struct fake_bmc *f);
int fake_bmc_up(struct fake_bmc *f);

/* The next count requests (-1: all) misbehave as mode says. */
void fake_bmc_set_mode(struct fake_bmc *f, enum fake_mode mode, int arg, int count);
/* Forget every session token (they expire): the next requests get 401. */
void fake_bmc_expire_sessions(struct fake_bmc *f);
int fake_bmc_sessions(struct fake_bmc *f);       /* live sessions */

/* Requests received with method (NULL: any) and exact path (NULL: any). */
int fake_bmc_count(struct fake_bmc *f, const char *method, const char *path);
/* Requests whose path starts with prefix. */
int fake_bmc_count_below(struct fake_bmc *f, const char *prefix);
/* GETs that asked for $expand (this BMC advertises it, as its mockup
 * does, but serves the plain resource). */
int fake_bmc_count_expand(struct fake_bmc *f);
/* How many distinct paths were GET more than once. */
int fake_bmc_repeated_gets(struct fake_bmc *f);
void fake_bmc_reset_counts(struct fake_bmc *f);
int fake_bmc_logins(struct fake_bmc *f);
/* The most FAKE_SLOW requests answered at once since the last call. */
int fake_bmc_slow_max(struct fake_bmc *f);

/* A property of a served resource, as a malloc'd string ("" for null);
 * path "PowerState" or "Boot/BootSourceOverrideTarget". NULL if absent. */
char *fake_bmc_get(struct fake_bmc *f, const char *uri, const char *path);
/* Every resource URI served (malloc'd array of malloc'd, NULL-terminated). */
char **fake_bmc_uris(struct fake_bmc *f);
/* The body of uri as served (new reference), or NULL. */
struct json_object *fake_bmc_body(struct fake_bmc *f, const char *uri);

#endif
