/* polysource_field: a board's life in the field, in portable C.
 *
 * Generated into each board's folder by polysource (the same file for every board). The sketch
 * gives it the board's hands (pins, modem, clock, socket, watchdog) as callbacks; everything that
 * decides (power-up, the clock before TLS, backoff, store and forward, keepalive) lives here, so
 * polysource's tests run this very code on a host: with a year-2000 clock, coverage that comes and
 * goes, a broker that restarts, a refused password.
 *
 * A reading is measured on time whatever the network does (ps_field_tick runs inside every wait
 * on the modem), queued with the time it was measured, and leaves the queue only when the broker
 * acknowledged it (QoS 1 PUBACK). Time is 64-bit milliseconds of uptime (esp_timer_get_time() on
 * the ESP32), never the 32-bit millis() that wraps after 49.7 days. The queue may live in RTC memory,
 * so readings outlive a watchdog or software reset.
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

/* A time is believed only inside [the day this firmware was built, PS_CLOCK_SPAN_YEARS later]: an
 * ESP32 boots at 1970, and a SIMCom modem reports a default date until the network sets it
 * (SIM800: 2004-01-01; the SIM7600 family 80/01/06, which reads as 2080). */
#ifndef PS_CLOCK_SPAN_YEARS
#define PS_CLOCK_SPAN_YEARS 25
#endif

typedef unsigned long long ps_ms; /* milliseconds of uptime: 64 bits, 585 million years */

#ifndef PS_PAYLOAD_MAX
#define PS_PAYLOAD_MAX 1024 /* the longest JSON a reading makes */
#endif

typedef struct {
    unsigned sensor;         /* index into the board's readings */
    unsigned boot;           /* the boot it was measured in (at_ms counts from that boot) */
    double value;
    ps_ms at_ms;             /* uptime when it was measured */
    long long at_unix_ms;    /* the Unix time then, when the clock was trusted; 0: not known then */
    unsigned long seq;       /* its number, to tell it from a reading that took its place */
} ps_reading;

#ifndef PS_QUEUE_LEN
#define PS_QUEUE_LEN 64 /* readings kept while the broker is out of reach; oldest dropped first */
#endif

/* In RTC memory on the ESP32 (RTC_NOINIT_ATTR): kept through a watchdog or software reset, noise
 * after a power cut, hence the magic number and the checksum. */
typedef struct {
    unsigned long magic;
    unsigned boot;          /* boots counted while this queue was kept */
    unsigned long next_seq;
    ps_reading items[PS_QUEUE_LEN];
    unsigned head, count;
    unsigned long dropped;  /* readings lost because the queue was full */
    unsigned long check;    /* of everything above */
} ps_queue;

/* A queue found in memory at boot: kept (1) when intact, else emptied (0). Counts the boot. */
int ps_queue_adopt(ps_queue *q);
void ps_queue_push(ps_queue *q, ps_reading r);
ps_reading *ps_queue_peek(ps_queue *q);
void ps_queue_pop(ps_queue *q);

/* The board's hands: each callback gets ctx. Pin and delay callbacks may be NULL on WiFi boards. */
typedef struct {
    void *ctx;
    ps_ms (*millis)(void *ctx);                       /* uptime, 64 bits */
    void (*delay_ms)(void *ctx, unsigned long ms);
    void (*pin_write)(void *ctx, int pin, int level);
    int (*modem_answers)(void *ctx);                  /* 1: the modem answered AT */
    void (*modem_ready)(void *ctx);                   /* after power-up: echo off, network time on */
    int (*network_up)(void *ctx);                     /* PS_NET_OK or why not */
    long long (*network_time)(void *ctx, int ask_ntp); /* Unix seconds: the modem's clock (0), or after
                                                         asking NTP through the data session (1) */
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
    unsigned reset_ms;    /* a reset pulse at power-up this long (0: reset held idle) */
} ps_power;

/* A published reading: topic, and its JSON with %s where the value goes, %t the time (Unix ms). */
typedef struct {
    const char *topic;
    const char *payload;
    const char *payload_untimed; /* without the time: while the board has no clock it trusts */
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
    ps_tls_resume resume;        /* the TLS session, resumed at the next connection */
    ps_queue *queue;             /* RTC memory on the ESP32 */
    int linked, modem_on, clock_set;
    ps_ms clock_millis;          /* uptime when the clock was set */
    long long clock_unix_ms;     /* the Unix time then */
    ps_ms last_read_ms, last_sent_ms, last_heard_ms, retry_at_ms;
    unsigned long resend_seq;    /* the reading whose PUBACK is overdue: sent again with DUP (0: none) */
    ps_ms busy_since;            /* a step is running since (0: none): ps_field_tick feeds the
                                    watchdog only while it is within PS_STEP_MAX_MS */
    int has_read, waiting, ticking;
    int time_awaited;            /* waiting for a trusted time since time_awaited_since */
    ps_ms time_awaited_since, next_time_try;
    int dates_unchecked;         /* linked without a trusted time: certificate dates not checked */
    /* Where a board on battery keeps its queue through a power cut (NVS), or NULL: written only
     * while the broker is out of reach, at most every PS_FLASH_EVERY_MS (flash wears). */
    int (*load_queue)(void *ctx, ps_queue *queue);        /* 1: a queue was read */
    void (*save_queue)(void *ctx, const ps_queue *queue);
    ps_ms flash_saved_ms;
    unsigned long flash_seq;     /* the queue's next_seq when it was saved */
    int flash_holds;             /* the flash holds readings (0: empty, or never written) */
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
#ifndef PS_CLOCK_WAIT_MS
#define PS_CLOCK_WAIT_MS 180000UL /* no trusted time after this: connect anyway, readings without time */
#endif
#ifndef PS_CLOCK_RETRY_MS
#define PS_CLOCK_RETRY_MS 600000UL /* while linked without a trusted time, ask for one this often */
#endif
#ifndef PS_FLASH_EVERY_MS
#define PS_FLASH_EVERY_MS 600000UL /* a board on battery saves its queue to flash at most this often */
#endif
#ifndef PS_STEP_MAX_MS
#define PS_STEP_MAX_MS 600000UL /* a step still waiting after this is left to the watchdog: TinyGSM
                                  bounds each wait (75 s), a SIM7000's data session tries 5 x 60 s */
#endif
#ifndef PS_REBOOT_AFTER
#define PS_REBOOT_AFTER 30 /* failed attempts in a row before the board restarts itself */
#endif

/* Backoff after `failures` failed attempts: capped exponential with jitter (random: any value). */
unsigned long ps_backoff_ms(unsigned failures, int permanent, unsigned long random);
/* Unix seconds of a civil date and time at UTC offset tz_minutes (the modem's +CCLK). */
long long ps_unix_time(int year, int month, int day, int hour, int minute, int second, int tz_minutes);
/* 1 when unix_s can be a real time for a board built at build_unix_s. */
int ps_time_plausible(long long unix_s, long long build_unix_s);
/* The Unix time this firmware was built (the compiler's __DATE__ and __TIME__, taken as UTC). */
long long ps_build_time(void);
/* At boot: adopt the queue (RTC memory) and say what it kept. */
void ps_field_begin(ps_field *f, ps_queue *queue);
/* Measure, queue, connect, publish, keep alive: whatever is due. The ms until the next step. */
unsigned long ps_field_step(ps_field *f);
/* From inside any wait (the modem's, TLS's): measure what is due, and feed the watchdog while the
 * step in progress is within its bound. */
void ps_field_tick(ps_field *f);
/* The modem's power-up: supply, flight mode off, PWRKEY, then a bounded wait for AT. 0 or -1. */
int ps_modem_power_up(ps_field *f);

#ifdef __cplusplus
}
#endif
#endif
