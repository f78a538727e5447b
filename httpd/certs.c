/* certs.c — the CertificateService for the HTTPS certificate the server
 * uses (read-only):
 *
 *   /redfish/v1/CertificateService                         CertificateService
 *   /redfish/v1/CertificateService/CertificateLocations    CertificateLocations
 *   /redfish/v1/Managers/redfishfs/NetworkProtocol/HTTPS/Certificates    (tree-kept)
 *   /redfish/v1/Managers/redfishfs/NetworkProtocol/HTTPS/Certificates/1  Certificate
 *
 * Who calls: httpd_new (server.c), with the PEM it serves, before any
 * thread; httpd_free removes the resources. The certificate is parsed by
 * GnuTLS (already linked for MHD's TLS): subject and issuer fields, the
 * validity, the key usage and extended key usage extensions, the serial
 * number, the signature algorithm and a SHA-256 fingerprint. A PEM chain
 * shows its first (the server's) certificate; CertificateString is the
 * whole file as the server reads it. No ReplaceCertificate: the key and
 * certificate come from --http-cert/--http-key files the daemon reads
 * once, and MHD takes them at start; replacing them means new files and a
 * restart (the README says so). */
#include "internal.h"

#include <errno.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CERT_SVC   RF_ROOT "/CertificateService"
#define CERT_LOCS  RF_ROOT "/CertificateService/CertificateLocations"
#define CERTS_URI  HTTPD_NETPROTO "/HTTPS/Certificates"
#define CERT_URI   HTTPD_NETPROTO "/HTTPS/Certificates/1"

struct httpd_certs {
	struct rf_tree *tree;
	struct rf_provider prov;
	bool own_service;       /* CertificateService and its locations are ours */
};

static const struct rf_provider_ops certs_ops = { 0 };   /* nothing to refresh or write */

/* Subject or Issuer as a Certificate Identifier: the DN fields GnuTLS
 * finds, and the whole DN as DisplayString. */
static struct json_object *identifier(gnutls_x509_crt_t crt, bool issuer)
{
	static const struct {
		const char *oid, *key;
	} fields[] = {
		{ GNUTLS_OID_X520_COMMON_NAME, "CommonName" },
		{ GNUTLS_OID_X520_ORGANIZATION_NAME, "Organization" },
		{ GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME, "OrganizationalUnit" },
		{ GNUTLS_OID_X520_LOCALITY_NAME, "City" },
		{ GNUTLS_OID_X520_STATE_OR_PROVINCE_NAME, "State" },
		{ GNUTLS_OID_X520_COUNTRY_NAME, "Country" },
		{ GNUTLS_OID_PKCS9_EMAIL, "Email" },
	};
	struct json_object *o = json_object_new_object();
	gnutls_datum_t dn = { 0 };
	char buf[512];

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		size_t n = sizeof(buf);
		int r = issuer ? gnutls_x509_crt_get_issuer_dn_by_oid(crt, fields[i].oid, 0, 0, buf, &n)
			       : gnutls_x509_crt_get_dn_by_oid(crt, fields[i].oid, 0, 0, buf, &n);

		if (r == 0 && text_check(buf, strlen(buf), false) == 0)
			json_object_object_add(o, fields[i].key, json_object_new_string(buf));
	}
	if ((issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0) : gnutls_x509_crt_get_dn3(crt, &dn, 0)) == 0) {
		if (text_check((const char *)dn.data, dn.size, false) == 0)
			json_object_object_add(o, "DisplayString",
					       json_object_new_string_len((const char *)dn.data, (int)dn.size));
		gnutls_free(dn.data);
	}
	return o;
}

static void put_time(struct json_object *o, const char *key, time_t t)
{
	char buf[40];
	struct tm tm;

	if (t == (time_t)-1 || !gmtime_r(&t, &tm))
		return;
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, key, json_object_new_string(buf));
}

/* KeyUsage from the key usage and extended key usage extensions. */
static struct json_object *key_usage(gnutls_x509_crt_t crt)
{
	static const struct {
		unsigned bit;
		const char *name;
	} ku[] = {
		{ GNUTLS_KEY_DIGITAL_SIGNATURE, "DigitalSignature" },
		{ GNUTLS_KEY_NON_REPUDIATION, "NonRepudiation" },
		{ GNUTLS_KEY_KEY_ENCIPHERMENT, "KeyEncipherment" },
		{ GNUTLS_KEY_DATA_ENCIPHERMENT, "DataEncipherment" },
		{ GNUTLS_KEY_KEY_AGREEMENT, "KeyAgreement" },
		{ GNUTLS_KEY_KEY_CERT_SIGN, "KeyCertSign" },
		{ GNUTLS_KEY_CRL_SIGN, "CRLSigning" },
		{ GNUTLS_KEY_ENCIPHER_ONLY, "EncipherOnly" },
		{ GNUTLS_KEY_DECIPHER_ONLY, "DecipherOnly" },
	};
	static const struct {
		const char *oid, *name;
	} eku[] = {
		{ GNUTLS_KP_TLS_WWW_SERVER, "ServerAuthentication" },
		{ GNUTLS_KP_TLS_WWW_CLIENT, "ClientAuthentication" },
		{ GNUTLS_KP_CODE_SIGNING, "CodeSigning" },
		{ GNUTLS_KP_EMAIL_PROTECTION, "EmailProtection" },
		{ GNUTLS_KP_TIME_STAMPING, "Timestamping" },
		{ GNUTLS_KP_OCSP_SIGNING, "OCSPSigning" },
	};
	struct json_object *a = json_object_new_array();
	unsigned bits = 0;

	if (gnutls_x509_crt_get_key_usage(crt, &bits, NULL) >= 0)
		for (size_t i = 0; i < ARRAY_SIZE(ku); i++)
			if (bits & ku[i].bit)
				json_object_array_add(a, json_object_new_string(ku[i].name));
	for (unsigned idx = 0;; idx++) {
		char oid[128];
		size_t n = sizeof(oid);

		if (gnutls_x509_crt_get_key_purpose_oid(crt, idx, oid, &n, NULL) < 0)
			break;
		for (size_t i = 0; i < ARRAY_SIZE(eku); i++)
			if (strcmp(oid, eku[i].oid) == 0)
				json_object_array_add(a, json_object_new_string(eku[i].name));
	}
	return a;
}

static void put_hex(struct json_object *o, const char *key, const unsigned char *p, size_t n)
{
	char buf[3 * 64 + 1];
	size_t w = 0;

	for (size_t i = 0; i < n && i < 64; i++)
		w += (size_t)snprintf(buf + w, sizeof(buf) - w, "%s%02X", i ? ":" : "", p[i]);
	buf[w] = '\0';
	json_object_object_add(o, key, json_object_new_string(buf));
}

/* The Certificate body of pem (new reference), or NULL with *ret_err. */
static struct json_object *certificate(const char *pem, int *ret_err)
{
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)strlen(pem) };
	gnutls_x509_crt_t crt;
	struct json_object *o, *links;
	unsigned char buf[64];
	const char *end;
	size_t n;
	int alg;

	if (gnutls_x509_crt_init(&crt) < 0) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0) {
		gnutls_x509_crt_deinit(crt);
		*ret_err = -EINVAL;
		return NULL;
	}
	o = httpd_resource(CERT_URI, "#Certificate.v1_11_0.Certificate", "1", "HTTPS certificate");
	json_object_object_add(o, "Description",
			       json_object_new_string("The certificate this service's HTTPS uses "
						      "(--http-cert)"));
	json_object_object_add(o, "CertificateString", json_object_new_string(pem));
	end = strstr(pem, "-----END CERTIFICATE-----");
	json_object_object_add(o, "CertificateType",
			       json_object_new_string(end && strstr(end, "-----BEGIN CERTIFICATE-----")
							      ? "PEMchain" : "PEM"));
	json_object_object_add(o, "Subject", identifier(crt, false));
	json_object_object_add(o, "Issuer", identifier(crt, true));
	put_time(o, "ValidNotBefore", gnutls_x509_crt_get_activation_time(crt));
	put_time(o, "ValidNotAfter", gnutls_x509_crt_get_expiration_time(crt));
	json_object_object_add(o, "KeyUsage", key_usage(crt));
	n = sizeof(buf);
	if (gnutls_x509_crt_get_serial(crt, buf, &n) == 0)
		put_hex(o, "SerialNumber", buf, n);
	n = sizeof(buf);
	if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, buf, &n) == 0) {
		put_hex(o, "Fingerprint", buf, n);
		json_object_object_add(o, "FingerprintHashAlgorithm", json_object_new_string("TPM_ALG_SHA256"));
	}
	alg = gnutls_x509_crt_get_signature_algorithm(crt);
	if (alg >= 0) {
		const char *oid = gnutls_sign_get_oid((gnutls_sign_algorithm_t)alg);

		if (oid)
			json_object_object_add(o, "SignatureAlgorithm", json_object_new_string(oid));
	}
	json_object_object_add(o, "CertificateUsageTypes", json_object_new_array());
	json_object_array_add(json_object_object_get(o, "CertificateUsageTypes"),
			      json_object_new_string("Web"));
	links = json_object_new_object();
	json_object_object_add(o, "Links", links);
	gnutls_x509_crt_deinit(crt);
	return o;
}

struct httpd_certs *httpd_certs_new(struct rf_tree *t, const char *pem, int *ret_err)
{
	struct httpd_certs *c = calloc(1, sizeof(*c));
	struct json_object *o, *locs, *a;
	uint64_t g = rf_tree_generation(t);
	int r = 0;

	if (!c) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	c->tree = t;
	c->prov = (struct rf_provider){ .name = "httpd certificates", .ops = &certs_ops, .userdata = c };
	if ((r = rf_tree_add_collection(t, &c->prov, CERTS_URI, "#CertificateCollection.CertificateCollection",
					"HTTPS Certificates")) < 0 ||
	    !(o = certificate(pem, &r)) || (r = rf_tree_install(t, &c->prov, CERT_URI, o, NULL, g)) < 0)
		goto fail;
	o = httpd_resource(CERT_LOCS, "#CertificateLocations.v1_0_4.CertificateLocations", "CertificateLocations",
		     "Certificate Locations");
	locs = json_object_new_object();
	a = json_object_new_array();
	json_object_array_add(a, httpd_link(CERT_URI));
	json_object_object_add(locs, "Certificates", a);
	json_object_object_add(locs, "Certificates@odata.count", json_object_new_int(1));
	json_object_object_add(o, "Links", locs);
	/* An unnamed mockup that brought its own CertificateService keeps it
	 * (-EPERM: another provider's); the certificate is still served. */
	if ((r = rf_tree_install(t, &c->prov, CERT_LOCS, o, NULL, g)) == -EPERM)
		return c;
	if (r < 0)
		goto fail;
	o = httpd_resource(CERT_SVC, "#CertificateService.v1_2_1.CertificateService", "CertificateService",
		     "Certificate Service");
	json_object_object_add(o, "Description",
			       json_object_new_string("Read-only: the HTTPS certificate comes from "
						      "--http-cert and is replaced by a restart"));
	json_object_object_add(o, "CertificateLocations", httpd_link(CERT_LOCS));
	if ((r = rf_tree_install(t, &c->prov, CERT_SVC, o, NULL, g)) == -EPERM)
		return c;
	if (r < 0)
		goto fail;
	c->own_service = true;
	r = rf_tree_add_root_link(t, "CertificateService", CERT_SVC);
	if (r < 0 && r != -EEXIST)
		goto fail;
	return c;
fail:
	log_error("httpd: the CertificateService: %s", strerror(-r));
	*ret_err = r;
	return httpd_certs_free(c);
}

struct httpd_certs *httpd_certs_free(struct httpd_certs *c)
{
	if (!c)
		return NULL;
	if (c->own_service) {
		rf_tree_remove(c->tree, CERT_SVC);
		rf_tree_remove(c->tree, CERT_LOCS);
	}
	rf_tree_remove(c->tree, CERT_URI);
	rf_tree_forget_provider(c->tree, &c->prov);
	free(c);
	return NULL;
}
