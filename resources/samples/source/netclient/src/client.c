/* netclient: fetch with retries and a per-request timeout. */
#include "client.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int connect_once(const char *url, int timeout_ms) {
    (void)url;
    /* A real client would poll() the socket here until timeout_ms passes. */
    if (timeout_ms <= 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    return 0;
}

int client_fetch(const char *url, const struct client_options *options, char *out, size_t size) {
    int delay_ms = 100;
    for (int attempt = 0; attempt <= options->max_retries; ++attempt) {
        if (connect_once(url, options->timeout_ms) == 0) {
            strncpy(out, "200 OK", size);
            return 0;
        }
        /* Back off before the next attempt: 100 ms, 200 ms, 400 ms ... */
        usleep((useconds_t)delay_ms * 1000);
        delay_ms *= 2;
    }
    return -1; /* every attempt hit the timeout */
}
