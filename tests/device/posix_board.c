/* A board on Linux: the generated polysource_field.c and polysource_link.c, with this board's
 * polysource_config.h, driven by the board's hands made of POSIX calls instead of an ESP32's.
 *
 *   posix_board CONNECT_ADDRESS SECONDS VALUE|seq
 *
 * The simulated modem reads its state from $PS_TEST_STATE/coverage at every call:
 *   up      registered, data session open;     down    no registration (coverage lost)
 *   nodata  registered, no data session (APN);  silent  answers no AT until PWRKEY is pressed
 * Its network time is the real time ($PS_TEST_REAL_TIME at start, then the monotonic clock): the
 * board's own clock may start anywhere (libfaketime, year 2000); set_clock moves it by rewriting
 * $FAKETIME_TIMESTAMP_FILE, as settimeofday() moves an ESP32's. Pin writes go to stdout as
 * "pin GPIO LEVEL at MS". $PS_TEST_PORT, if set, is the port it connects to (a TLS front). A watchdog aborts the run when the loop is not fed for PS_TEST_WATCHDOG_MS.
 * Exits 0 after SECONDS, with "queued N" and "attempts N"; 3 when the board asks to reboot.
 * Once (no SECONDS loop): SECONDS 0 publishes one reading per sensor and exits 0, or 1 on failure.
 */
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "polysource_config.h"
#include "secrets.h"

#ifndef PS_TEST_WATCHDOG_MS
#define PS_TEST_WATCHDOG_MS 30000UL
#endif

typedef struct {
    const char *address;
    const char *value;
    int fd;
    double sequence;
    long long real_start;
    ps_ms mono_start;
    ps_ms last_fed;
    int once_failed;
} host;

static host here;
static int pwrkey_pin = -1;
static unsigned char buffer[PS_MQTT_BUFFER];

static ps_ms h_millis(void *ctx) {
    struct timespec t;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (ps_ms)t.tv_sec * 1000 + (ps_ms)(t.tv_nsec / 1000000);
}

static void h_delay(void *ctx, unsigned long ms) {
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    (void)ctx;
    nanosleep(&t, NULL);
}

static void state(const char *name, char *out, size_t len) {
    char path[512];
    FILE *f;
    const char *dir = getenv("PS_TEST_STATE");
    out[0] = 0;
    if (!dir) return;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "r");
    if (!f) return;
    if (fgets(out, (int)len, f)) out[strcspn(out, "\n")] = 0;
    fclose(f);
}

static void set_state(const char *name, const char *value) {
    char path[512];
    FILE *f;
    const char *dir = getenv("PS_TEST_STATE");
    if (!dir) return;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f) {
        fprintf(f, "%s\n", value);
        fclose(f);
    }
}

static void h_pin(void *ctx, int pin, int level) {
    char coverage[32];
    printf("pin %d %d at %llu\n", pin, level, h_millis(ctx));
    fflush(stdout);
    state("coverage", coverage, sizeof coverage);
    /* A hung modem comes back when its PWRKEY is pressed (released, for a held-key board). */
    if (pin == pwrkey_pin && strcmp(coverage, "silent") == 0) set_state("coverage", "up");
}

static int h_modem_answers(void *ctx) {
    char coverage[32];
    (void)ctx;
    state("coverage", coverage, sizeof coverage);
    return strcmp(coverage, "silent") != 0;
}

static int h_network_up(void *ctx) {
    char coverage[32];
    (void)ctx;
    state("coverage", coverage, sizeof coverage);
    if (strcmp(coverage, "silent") == 0) return PS_NET_MODEM_SILENT;
    if (strcmp(coverage, "down") == 0) return PS_NET_NO_REGISTRATION;
    if (strcmp(coverage, "nodata") == 0) return PS_NET_NO_DATA;
    return PS_NET_OK;
}

static long long h_network_time(void *ctx, int ask_ntp) {
    (void)ask_ntp;
    return here.real_start + (long long)((h_millis(ctx) - here.mono_start) / 1000);
}

static long long h_clock(void *ctx) {
    (void)ctx;
    return (long long)time(NULL);
}

static void h_set_clock(void *ctx, long long unix_s) {
    const char *file = getenv("FAKETIME_TIMESTAMP_FILE");
    char offset_text[64];
    long long offset = 0;
    FILE *f;
    if (!file) return;
    f = fopen(file, "r");
    if (f) {
        if (fgets(offset_text, sizeof offset_text, f)) offset = atoll(offset_text);
        fclose(f);
    }
    offset += unix_s - h_clock(ctx);
    f = fopen(file, "w");
    if (f) {
        fprintf(f, "%+lld\n", offset);
        fclose(f);
    }
}

static int h_connect(void *ctx, const char *name, int port) {
    char port_text[8];
    struct addrinfo hints, *found;
    (void)ctx;
    (void)name; /* the broker's name stays what TLS checks; the test's broker is at CONNECT_ADDRESS */
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port_text, sizeof port_text, "%d", getenv("PS_TEST_PORT") ? atoi(getenv("PS_TEST_PORT")) : port);
    if (getaddrinfo(here.address, port_text, &hints, &found) != 0) return -1;
    here.fd = socket(found->ai_family, SOCK_STREAM, 0);
    if (connect(here.fd, found->ai_addr, found->ai_addrlen) != 0) {
        close(here.fd);
        here.fd = -1;
        freeaddrinfo(found);
        return -1;
    }
    freeaddrinfo(found);
    return 0;
}

static void h_disconnect(void *ctx) {
    (void)ctx;
    if (here.fd >= 0) close(here.fd);
    here.fd = -1;
}

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
    ssize_t n;
    if (ready == 0) return PS_IO_TIMEOUT;
    if (ready < 0) return PS_IO_ERROR;
    n = recv(*(int *)io, buf, len, 0);
    return n < 0 ? PS_IO_ERROR : (int)n;
}

static double h_read(void *ctx, size_t index) {
    (void)ctx;
    (void)index;
    if (strcmp(here.value, "seq") == 0) return here.sequence += 1.0;
    return atof(here.value);
}

static void h_say(void *ctx, const char *line) {
    (void)ctx;
    printf("%s\n", line);
    fflush(stdout);
}

static void h_feed(void *ctx) {
    ps_ms now = h_millis(ctx);
    if (here.last_fed && now - here.last_fed > PS_TEST_WATCHDOG_MS) {
        fprintf(stderr, "watchdog: not fed for %llu ms\n", now - here.last_fed);
        abort();
    }
    here.last_fed = now;
}

static void h_reboot(void *ctx) {
    (void)ctx;
    printf("reboot\n");
    fflush(stdout);
    exit(3);
}

int main(int argc, char **argv) {
    static const ps_board_ops ops = {
        NULL,        h_millis,  h_delay,      h_pin,   h_modem_answers, NULL,     h_network_up, h_network_time,
        h_set_clock, h_clock,   h_connect,    h_disconnect, h_read,     h_say,        h_feed,
        h_reboot,    &here.fd,  tcp_send,     tcp_recv,
    };
    static const ps_link_config cfg = {
        PS_BROKER_HOST, PS_USE_TLS, PS_CA_DER, sizeof PS_CA_DER, 0, PS_CLIENT_ID, PS_MQTT_USERNAME,
        PS_MQTT_PASSWORD, PS_KEEPALIVE_S, 5000, buffer, sizeof buffer, NULL,
    };
    static ps_field field;
    static ps_queue queue;
    unsigned long seconds;
    ps_ms start;
    const char *real = getenv("PS_TEST_REAL_TIME");
    if (argc != 4) return 2;
    here.address = argv[1];
    here.value = argv[3];
    here.fd = -1;
    here.real_start = real ? atoll(real) : (long long)time(NULL);
    seconds = strtoul(argv[2], NULL, 10);
    here.mono_start = h_millis(NULL);
    ps_field_setup(&field, &ops, &cfg);
    ps_field_begin(&field, &queue);
    pwrkey_pin = field.power.pwrkey;
    start = h_millis(NULL);
    if (seconds == 0) { /* once: one reading per sensor, then out */
        ps_field_step(&field);
        if (field.queue->count) {
            fprintf(stderr, "not sent: %u readings queued\n", (unsigned)field.queue->count);
            return 1;
        }
        return 0;
    }
    while (h_millis(NULL) - start < seconds * 1000ULL) h_delay(NULL, ps_field_step(&field));
    printf("queued %u\nattempts %lu\n", (unsigned)field.queue->count, field.attempts);
    return 0;
}
