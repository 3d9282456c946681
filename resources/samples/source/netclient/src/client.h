/* netclient: a minimal blocking HTTP client (sample source for Lectern). */
#ifndef NETCLIENT_CLIENT_H
#define NETCLIENT_CLIENT_H

#include <stddef.h>

struct client_options {
    int timeout_ms;     /* give up on a request after this long */
    int max_retries;    /* retries after a connection reset or timeout */
};

int client_fetch(const char *url, const struct client_options *options, char *out, size_t size);

#endif
