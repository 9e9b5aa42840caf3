/* polysource_link: a board's way into its MQTT broker, in portable C over mbedTLS.
 *
 * Generated into each board's folder by polysource (this file is the same for every board).
 * TLS runs on the ESP32 itself, with mbedTLS (the library arduino-esp32 and ESP-IDF ship), over
 * whatever carries plain TCP: a GSM modem's socket (TinyGSM's TinyGsmClient), WiFi, or a POSIX
 * socket in polysource's own tests. So the modem's TLS quirks (SIM800: TLS 1.0, no SNI) never
 * matter. MQTT 3.1.1 CONNECT and PUBLISH (QoS 0 or 1) are implemented here too, so the code that
 * runs on the board is the code polysource compiles and runs against a real broker.
 *
 * Only API shared by mbedTLS 2.28 (arduino-esp32 2.x) and 3.x (arduino-esp32 3.x) is used.
 */
#ifndef POLYSOURCE_LINK_H
#define POLYSOURCE_LINK_H

#include <stddef.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PS_IO_TIMEOUT (-1) /* recv: nothing arrived in time */
#define PS_IO_ERROR (-2)   /* send/recv: the connection is gone */

/* The transport: write all of buf (or return PS_IO_ERROR); read up to len bytes, waiting at most
 * timeout_ms (return the count, PS_IO_TIMEOUT or PS_IO_ERROR). */
typedef int (*ps_send_fn)(void *io, const unsigned char *buf, size_t len);
typedef int (*ps_recv_fn)(void *io, unsigned char *buf, size_t len, unsigned timeout_ms);

/* A TLS session kept between connections: the next handshake resumes it (an abbreviated handshake,
 * no certificate chain sent again: about 3 KB less over cellular), where the broker agrees. */
typedef struct {
    mbedtls_ssl_session session;
    int valid;
} ps_tls_resume;

typedef struct {
    const char *host;            /* the broker's name: TLS checks the certificate against it (SNI) */
    int tls;                     /* 1: TLS 1.2 with the CA below; 0: plain MQTT (a LAN broker) */
    const unsigned char *ca_der; /* the CAs the board trusts, DER, one after the other */
    size_t ca_der_len;
    long long now_s;             /* the board's clock (Unix s): every certificate's dates are checked
                                    against it, whatever the TLS library's own clock (0: unchecked) */
    const char *client_id;       /* unique per board: two boards with one id knock each other off */
    const char *username;
    const char *password;
    unsigned keepalive_s;        /* 60 s or more on GSM */
    unsigned timeout_ms;         /* for each answer: handshake steps, CONNACK, PUBACK */
    unsigned char *buffer;       /* room for the largest MQTT packet (checked at compile time) */
    size_t buffer_len;
    ps_tls_resume *resume;       /* where the TLS session is kept between connections (NULL: none) */
} ps_link_config;

typedef struct {
    ps_link_config cfg;
    void *io;
    ps_send_fn send;
    ps_recv_fn recv;
    int tls_ready; /* mbedTLS contexts initialised (to free) */
    int tls_open;  /* handshake done */
    int connected; /* CONNACK accepted */
    unsigned short packet_id;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    char error[160]; /* why the last call failed, in words */
    int refused;     /* 1: the broker refused this board's account or certificate: retrying soon won't help */
    int clock_wrong; /* 1: a certificate's dates do not fit the board's clock */
    int timed_out;   /* 1: the last call failed only for want of an answer in time (nothing half read) */
} ps_link;

/* TLS handshake (when cfg->tls), then MQTT CONNECT. 0, or -1 with link->error set. */
int ps_link_open(ps_link *link, const ps_link_config *cfg, void *io, ps_send_fn send, ps_recv_fn recv);
/* PUBLISH; with QoS 1, waits for the broker's PUBACK. 0, or -1 with link->error set (and
 * link->timed_out when no answer came in time). again: the same reading once more, on the same
 * session, with the same packet id and DUP set, after a PUBACK that did not come in time. */
int ps_link_publish(ps_link *link, const char *topic, const char *payload, int qos, int again);
/* PINGREQ/PINGRESP, to keep the session within its keepalive. */
int ps_link_ping(ps_link *link);
/* DISCONNECT (best effort) and free the TLS state. */
void ps_link_close(ps_link *link);

/* The reading into its JSON payload: template holds one %s where the value goes (written with
 * `decimals` digits, so 99.9 is 99.9 on the wire) and at most one %t where the time it was measured
 * goes (Unix milliseconds); %% is a %. Length, or -1 (NaN, no room). */
/* Unix seconds of a UTC civil date and time. */
long long ps_civil_to_unix(int year, int month, int day, int hour, int minute, int second);

int ps_format_payload(char *out, size_t out_len, const char *template_json, int decimals, double value,
                      long long time_ms);

#ifdef __cplusplus
}
#endif
#endif
