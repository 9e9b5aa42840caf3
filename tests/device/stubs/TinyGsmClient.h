/* Stand-in for TinyGSM's public API (vshymanskyy/TinyGSM 0.12) as the generated sketch uses it:
 * declarations only. The sketch defines TINY_GSM_MODEM_<family> first, as TinyGSM requires. */
#pragma once
#include <Arduino.h>
#if !defined(TINY_GSM_MODEM_SIM800) && !defined(TINY_GSM_MODEM_SIM7000SSL) && !defined(TINY_GSM_MODEM_SIM7080) && \
    !defined(TINY_GSM_MODEM_SIM7600) && !defined(TINY_GSM_MODEM_A7672X) && !defined(TINY_GSM_MODEM_BG96)
#error "define the modem family (TINY_GSM_MODEM_...) before including TinyGsmClient.h"
#endif
#if defined(TINY_GSM_MODEM_SIM7000SSL) || defined(TINY_GSM_MODEM_SIM7080) || defined(TINY_GSM_MODEM_SIM7600) || \
    defined(TINY_GSM_MODEM_A7672X) || defined(TINY_GSM_MODEM_SIM800)
#define TINY_GSM_MODEM_HAS_NTP /* stand-in: lets the sketch's NTP call compile for these families */
#endif
enum SimStatus { SIM_ERROR = 0, SIM_READY = 1, SIM_LOCKED = 2, SIM_ANTITHEFT_LOCKED = 3 };
class TinyGsm {
  public:
    explicit TinyGsm(HardwareSerial &serial);
    bool restart(const char *pin = NULL);
    bool init(const char *pin = NULL);
    SimStatus getSimStatus(uint32_t timeout_ms = 10000L);
    bool simUnlock(const char *pin);
    bool waitForNetwork(uint32_t timeout_ms = 60000L, bool check_signal = false);
    bool gprsConnect(const char *apn, const char *user = NULL, const char *pwd = NULL);
    bool isGprsConnected();
    bool isNetworkConnected();
    bool testAT(uint32_t timeout_ms = 10000L);
    bool getNetworkTime(int *year, int *month, int *day, int *hour, int *minute, int *second, float *timezone);
#ifdef TINY_GSM_MODEM_HAS_NTP
    uint8_t NTPServerSync(const char *server = "pool.ntp.org", int8_t timezone = 3);
#endif
};
class TinyGsmClient : public Client {
  public:
    explicit TinyGsmClient(TinyGsm &modem, uint8_t mux = 0);
    int connect(const char *host, uint16_t port) override;
    int connect(const char *host, uint16_t port, int timeout_s);
    size_t write(const uint8_t *buf, size_t size) override;
    int available() override;
    int read(uint8_t *buf, size_t size) override;
    void stop() override;
    uint8_t connected() override;
};
