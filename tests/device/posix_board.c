/* The board's connection code, run on Linux: polysource_link.c with a board's generated
 * polysource_config.h, over a POSIX socket instead of the modem's. Publishes one reading per
 * sensor with the value given, then exits 0; on failure prints polysource_link's words, exits 1.
 *
 *   posix_board CONNECT_ADDRESS VALUE   (the name checked by TLS stays PS_BROKER_HOST)
 */
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "polysource_config.h"
#include "secrets.h"
#include "polysource_link.h"

static int tcp_send(void *io, const unsigned char *buf, size_t len) {
    int fd = *(int *)io;
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL);
        if (n <= 0) return PS_IO_ERROR;
        done += (size_t)n;
    }
    return (int)len;
}

static int tcp_recv(void *io, unsigned char *buf, size_t len, unsigned timeout_ms) {
    struct pollfd p = {*(int *)io, POLLIN, 0};
    int ready = poll(&p, 1, (int)timeout_ms);
    if (ready == 0) return PS_IO_TIMEOUT;
    if (ready < 0) return PS_IO_ERROR;
    ssize_t n = recv(*(int *)io, buf, len, 0);
    return n < 0 ? PS_IO_ERROR : (int)n;
}

int main(int argc, char **argv) {
    static unsigned char buffer[PS_MQTT_BUFFER];
    char port[8], payload[PS_MQTT_BUFFER];
    struct addrinfo hints = {0}, *found;
    ps_link link;
    int fd;
    if (argc != 3) return 2;
    snprintf(port, sizeof port, "%d", PS_BROKER_PORT);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(argv[1], port, &hints, &found) != 0) return 2;
    fd = socket(found->ai_family, SOCK_STREAM, 0);
    if (connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
        fprintf(stderr, "no TCP connection\n");
        return 1;
    }
    ps_link_config cfg = {PS_BROKER_HOST, PS_USE_TLS, PS_CA_DER, sizeof PS_CA_DER, PS_CLIENT_ID, PS_MQTT_USERNAME,
                          PS_MQTT_PASSWORD, PS_KEEPALIVE_S, 5000, buffer, sizeof buffer};
    if (ps_link_open(&link, &cfg, &fd, tcp_send, tcp_recv) != 0) {
        fprintf(stderr, "%s\n", link.error);
        ps_link_close(&link);
        return 1;
    }
    for (size_t i = 0; i < PS_READING_COUNT; i++) {
        const ps_reading_config *r = &PS_READINGS[i];
        if (ps_format_payload(payload, sizeof payload, r->payload, r->decimals, atof(argv[2])) < 0) return 2;
        if (ps_link_publish(&link, r->topic, payload, PS_QOS) != 0 || ps_link_ping(&link) != 0) {
            fprintf(stderr, "%s\n", link.error);
            return 1;
        }
        printf("%s %s\n", r->topic, payload);
    }
    ps_link_close(&link);
    close(fd);
    freeaddrinfo(found);
    return 0;
}
