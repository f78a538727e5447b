/* web.c — the web page at /: the static files of httpd/web/ (index.html,
 * app.js, style.css), compiled into the daemon by scripts/embed-files so
 * the page works offline and installed, with no file to find at run time.
 *
 * Who calls: front.c, for GET/HEAD of "/" and of the files' names, on an
 * MHD thread. The files need no login (the page logs in through
 * SessionService itself). Responses are the constant arrays, never copied;
 * a Content-Security-Policy keeps the page to its own origin. */
#include "internal.h"

#include <string.h>

bool httpd_web_route(struct MHD_Connection *c, const char *method, const char *uri,
		     enum MHD_Result *ret)
{
	const char *name = strcmp(uri, "/") == 0 ? "/index.html" : uri;
	struct MHD_Response *r;

	for (const struct httpd_web_file *f = httpd_web_files; f->path; f++) {
		if (strcmp(f->path, name) != 0)
			continue;
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			struct httpd_fault fa = { .msg = HTTPD_MSG_OPERATION_NOT_ALLOWED };

			*ret = httpd_queue_fault(c, uri, &fa, "GET, HEAD");
			return true;
		}
		r = MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
		if (r) {
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
			MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
			MHD_add_response_header(r, "Content-Security-Policy",
						"default-src 'self'; img-src 'self' data:; "
						"frame-ancestors 'none'; form-action 'self'");
			MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
			MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
		}
		*ret = httpd_queue(c, uri, MHD_HTTP_OK, r);
		return true;
	}
	return false;
}
