/* sim.h — the simulator's own declarations, shared by kasa/sim.c (the
 * loop, the IOT personality, the control port) and kasa/sim_http.c (KLAP
 * and AES over HTTP, the SMART personality, UDP 20002 discovery). Part of
 * the kasa-sim program only, not of the kasa library. One thread: nothing
 * here is locked. */
#ifndef REDFISHFS_KASA_SIM_H
#define REDFISHFS_KASA_SIM_H

#include <json-c/json.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common.h"
#include "kasa.h"

#define SIM_MAX_OUTLETS 16
#define SIM_MAX_CONNS 256
#define SIM_MAX_LINE 4096
#define SIM_MAX_LOG 100000
#define SIM_UDP_MAX 65536

enum sim_units { SIM_UNITS_NONE, SIM_UNITS_NEW, SIM_UNITS_OLD };

enum sim_mode {
	SIM_MODE_NORMAL,
	SIM_MODE_SILENT,
	SIM_MODE_CLOSE,
	SIM_MODE_GARBAGE,
	SIM_MODE_SLOW,
	SIM_MODE_OVERSIZE,
	SIM_MODE_COUNT,
	SIM_MODE_INVALID = -EINVAL,
};

struct sim_outlet {
	char id[96];             /* full child id: deviceId + "NN" */
	char *alias;
	bool on;
	int64_t on_since_ms;
	double base_mw;        /* power around which the reading wanders */
	double voltage_mv;
	double total_wh;
	int64_t total_at_ms;   /* when total_wh was last brought up to date */
	bool fixed;            /* "meter" control: exact values */
	double fix_mw, fix_mv, fix_ma;
};

struct sim_conn {
	int fd;
	bool control;
	bool closing;          /* close once the output is flushed */
	struct kasa_frame_reader rd;
	char line[SIM_MAX_LINE];
	size_t line_len;
	uint8_t *out;
	size_t out_len, out_off;
	uint8_t *slow;         /* a reply waiting for its time (slow mode) */
	size_t slow_len;
	int64_t slow_at;
};

struct sim_udp_pending {
	struct sim_udp_pending *next;
	int64_t at;
	struct sockaddr_storage to;
	socklen_t to_len;
	uint8_t *data;
	size_t len;
};

struct sim {
	json_object *base;     /* sysinfo template (children stripped) */
	bool strip;            /* children[] addressing */
	enum sim_units units;
	char device_id[80];
	char mac[18];
	char *alias;
	bool led_off;
	size_t n_outlets;
	struct sim_outlet outlets[SIM_MAX_OUTLETS];
	enum sim_mode mode;
	int slow_ms;
	char fail_method[64];  /* "fail" control: this method answers an error */
	int fail_code;
	char fail_msg[128];
	char **log;            /* received requests, compact JSON */
	size_t n_log;
	FILE *logf;
	int tcp_fd, udp_fd, bcast_fd, ctl_fd;
	uint16_t port, ctl_port;
	struct sim_conn *conns[SIM_MAX_CONNS];
	size_t n_conns;
	struct sim_udp_pending *udp_pending;
	bool quit;

	/* sim_http.c: KLAP/AES over HTTP, the SMART personality, discovery */
	enum kasa_transport transport;   /* XOR unless the fixture or --transport says */
	int klap_version;
	const char *username, *password;
	int session_timeout_s;
	size_t page_size;                /* children per get_child_device_list page */
	json_object *smart;              /* a SMART fixture, or NULL (IOT) */
	json_object *discovery;          /* the fixture's discovery_result, or NULL */
	struct sim_http *http;
	char *account_user, *account_password;   /* set by "account": owned */
	int disc_fd, disc_bcast_fd;
	uint16_t disc_port;
	struct sockaddr_in listen_sa;
};


void sim_logf(struct sim *s, const char *fmt, ...) _printf_(2, 3);
/* An IOT request text answered (malloc'd reply text). */
char *sim_answer(struct sim *s, const char *text, int64_t now);
void sim_record(struct sim *s, const char *text);
json_object *sim_get(json_object *o, const char *key, json_type t);
double sim_num(json_object *o, const char *key, double dflt);
void sim_set_on(struct sim_outlet *o, bool on, int64_t now);
long long sim_round(double d);
void sim_meter(struct sim_outlet *o, int64_t now, size_t idx, double *ret_mw, double *ret_mv,
	       double *ret_ma);
void sim_outlet_init(struct sim_outlet *o, size_t i, bool on, int64_t now);

/* sim_http.c */
/* A SMART fixture (root has get_device_info) as personality; errors printed. */
int sim_smart_load(struct sim *s, json_object *root, const char *path, int64_t now);
/* Serve s->transport on the listening socket s->tcp_fd (taken over). */
int sim_http_start(struct sim *s);
void sim_http_stop(struct sim *s);
/* The fd to poll for HTTP work (-1 when none) and the ms until MHD wants
 * to run again (-1: no deadline); run it after poll. */
int sim_http_fd(struct sim *s);
int64_t sim_http_timeout(struct sim *s);
void sim_http_run(struct sim *s);
/* A new account (copied); every session ends. 0 or -EINVAL (XOR). */
int sim_http_account(struct sim *s, const char *user, const char *password);
/* Drop every session (the control port's "expire"). */
void sim_http_expire(struct sim *s);
/* Answer a datagram on the discovery port. */
void sim_disc_read(struct sim *s, int fd);

#endif
