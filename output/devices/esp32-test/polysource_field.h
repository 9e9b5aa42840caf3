/* polysource_field: a board's life in the field, in portable C.
 *
 * Generated into each board's folder by polysource (the same file for every board). The sketch
 * gives it the board's hands (pins, modem, clock, socket, watchdog) as callbacks; everything that
 * decides (power-up, the clock before TLS, backoff, store and forward, keepalive) lives here, so
 * polysource's tests run this very code on a host: with a year-2000 clock, coverage that comes and
 * goes, a broker that restarts, a refused password.
 *
 * A reading is measured on time whatever the network does, queued with the time it was measured,
 * and leaves the queue only when the broker acknowledged it (QoS 1 PUBACK).
 */
#ifndef POLYSOURCE_FIELD_H
#define POLYSOURCE_FIELD_H

#include <stddef.h>

#include "polysource_link.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What network_up() reports: each failure is a different thing to check in the field. */
#define PS_NET_OK 0
#define PS_NET_MODEM_SILENT 1   /* the modem does not answer AT */
#define PS_NET_NO_REGISTRATION 2 /* no mobile network (antenna, SIM, coverage) */
#define PS_NET_NO_DATA 3        /* registered, but no data session (APN) */
#define PS_NET_NO_WIFI 4

/* Seconds since 1970 below this are a clock that was never set (an ESP32 boots at 1970 or 2000). */
#define PS_CLOCK_NOT_BEFORE 1735689600LL /* 2025-01-01 */

#ifndef PS_PAYLOAD_MAX
#define PS_PAYLOAD_MAX 1024 /* the longest JSON a reading makes */
#endif

typedef struct {
    size_t sensor;        /* index into the board's readings */
    double value;
    unsigned long at_ms;  /* millis() when it was measured */
} ps_reading;

#ifndef PS_QUEUE_LEN
#define PS_QUEUE_LEN 64 /* readings kept while the broker is out of reach; oldest dropped first */
#endif

typedef struct {
    ps_reading items[PS_QUEUE_LEN];
    size_t head, count;
    unsigned long dropped; /* readings lost because the queue was full */
} ps_queue;

void ps_queue_push(ps_queue *q, ps_reading r);
ps_reading *ps_queue_peek(ps_queue *q);
void ps_queue_pop(ps_queue *q);

/* The board's hands: each callback gets ctx. Pin and delay callbacks may be NULL on WiFi boards. */
typedef struct {
    void *ctx;
    unsigned long (*millis)(void *ctx);
    void (*delay_ms)(void *ctx, unsigned long ms);
    void (*pin_write)(void *ctx, int pin, int level);
    int (*modem_answers)(void *ctx);                  /* 1: the modem answered AT */
    int (*network_up)(void *ctx);                     /* PS_NET_OK or why not */
    long long (*network_time)(void *ctx);             /* Unix seconds from the network, 0: none yet */
    void (*set_clock)(void *ctx, long long unix_s);   /* the board's clock (settimeofday) */
    long long (*clock_now)(void *ctx);                /* Unix seconds from the board's clock */
    int (*connect)(void *ctx, const char *host, int port); /* TCP: 0, or -1 */
    void (*disconnect)(void *ctx);
    double (*read_sensor)(void *ctx, size_t index);
    void (*say)(void *ctx, const char *line);         /* the serial monitor */
    void (*feed_watchdog)(void *ctx);
    void (*reboot)(void *ctx);
    void *io;                                         /* the TCP socket, for polysource_link */
    ps_send_fn send;
    ps_recv_fn recv;
} ps_board_ops;

/* The modem's power-up, from the board preset (pins -1: none). */
typedef struct {
    int pwrkey, pwrkey_level;
    unsigned pwrkey_ms;   /* 0: held pressed */
    int power_enable, flight, reset, reset_level, dtr;
    unsigned boot_s;      /* bounded wait for AT after PWRKEY */
} ps_power;

/* A published reading: topic, and its JSON with %s where the value goes, %t the time (Unix ms). */
typedef struct {
    const char *topic;
    const char *payload;
    int decimals;
} ps_reading_out;

typedef struct {
    const ps_board_ops *ops;
    const ps_link_config *link_cfg;
    int port, qos;
    const ps_reading_out *readings;
    size_t reading_count;
    unsigned long interval_ms;
    ps_power power;
    int has_modem;

    ps_link link;
    ps_queue queue;
    int linked, modem_on, clock_set;
    unsigned long clock_millis;  /* millis() when the clock was set */
    long long clock_unix_ms;     /* the Unix time then */
    unsigned long last_read_ms, last_heard_ms, retry_at_ms;
    int has_read, waiting;
    unsigned failures;           /* failed attempts in a row */
    unsigned data_failures;      /* PS_NET_NO_DATA in a row: the modem is restarted after 3 */
    unsigned long attempts;      /* broker connections tried, for the tests */
    char line[PS_PAYLOAD_MAX + 320]; /* a message, or a topic and its payload */
} ps_field;

#ifndef PS_BACKOFF_MIN_MS
#define PS_BACKOFF_MIN_MS 5000UL
#endif
#ifndef PS_BACKOFF_MAX_MS
#define PS_BACKOFF_MAX_MS 300000UL /* 5 min between attempts at most, for a network problem */
#endif
#ifndef PS_BACKOFF_PERMANENT_MS
#define PS_BACKOFF_PERMANENT_MS 900000UL /* 15 min after a refused password or certificate */
#endif
#ifndef PS_REBOOT_AFTER
#define PS_REBOOT_AFTER 30 /* failed attempts in a row before the board restarts itself */
#endif

/* Backoff after `failures` failed attempts: capped exponential with jitter (random: any value). */
unsigned long ps_backoff_ms(unsigned failures, int permanent, unsigned long random);
/* Unix seconds of a civil date and time at UTC offset tz_minutes (the modem's +CCLK). */
long long ps_unix_time(int year, int month, int day, int hour, int minute, int second, int tz_minutes);
/* Measure, queue, connect, publish, keep alive: whatever is due. The ms until the next step. */
unsigned long ps_field_step(ps_field *f);
/* The modem's power-up: supply, flight mode off, PWRKEY, then a bounded wait for AT. 0 or -1. */
int ps_modem_power_up(ps_field *f);

#ifdef __cplusplus
}
#endif
#endif
