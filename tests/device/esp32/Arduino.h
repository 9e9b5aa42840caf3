/* The ESP32 parts of the Arduino core, on Linux, for polysource's tests: the real ArduinoCore-API
 * (../shared/vendor/arduinocore-api-1.5.2) below, and these shims above it with the signatures
 * arduino-esp32 publishes (cores/esp32/HardwareSerial.h, Esp.h, esp32-hal-misc.c):
 *   - millis() is 32 bits and wraps after 49.7 days, as on the ESP32;
 *   - esp_timer_get_time() is the 64-bit microsecond clock that does not wrap;
 *   - Serial1 is a pty (PS_MODEM_TTY), the modem's UART; Serial is standard output;
 *   - ESP.restart() loses RAM (the program is executed again) and keeps RTC memory (a file);
 *   - gettimeofday()/settimeofday()/time() are the board's clock, not the host's: 1970 at power-on,
 *     kept across a software reset as ESP-IDF keeps it.
 * Time may run faster than the host's (PS_TIME_SCALE) and uptime may start late (PS_UPTIME_MS), so a
 * test drives minutes of field time in seconds and days of uptime without waiting. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ArduinoAPI.h"

using namespace arduino;

#define SERIAL_8N1 0x800001c
#define RTC_NOINIT_ATTR __attribute__((section("rtc_noinit")))
#define RTC_DATA_ATTR __attribute__((section("rtc_noinit")))

class HardwareSerial : public Stream {
  public:
    explicit HardwareSerial(int uart) : uart_(uart) {}
    void begin(unsigned long baud, uint32_t config = SERIAL_8N1, int8_t rx_pin = -1, int8_t tx_pin = -1,
               bool invert = false, unsigned long timeout_ms = 20000UL, uint8_t rxfifo_full_thrhd = 112);
    void end();
    int available() override;
    int read() override;
    int peek() override;
    size_t write(uint8_t c) override { return write(&c, 1); }
    size_t write(const uint8_t *buffer, size_t size) override;
    using Print::write;
    void flush() override {}
    operator bool() const { return true; }

  private:
    int fill(int wait_ms);
    int uart_;
    int fd_ = -1;
    unsigned char buf_[512];
    size_t head_ = 0, tail_ = 0;
};

extern HardwareSerial Serial;
extern HardwareSerial Serial1;

class EspClass {
  public:
    [[noreturn]] void restart();
};
extern EspClass ESP;

typedef enum {
    ESP_RST_UNKNOWN = 0,
    ESP_RST_POWERON = 1,
    ESP_RST_SW = 3,
    ESP_RST_PANIC = 4,
    ESP_RST_TASK_WDT = 6,
    ESP_RST_BROWNOUT = 9,
} esp_reset_reason_t;
esp_reset_reason_t esp_reset_reason(void);

#include "esp_timer.h"
