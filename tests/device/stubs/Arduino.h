/* Stand-in for the Arduino core's API as the generated sketch uses it: declarations only, so the
 * sketch compiles here. Not the real arduino-esp32 (which cannot be installed here). */
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HIGH 1
#define LOW 0
#define OUTPUT 1
#define SERIAL_8N1 0x800001c
#define RTC_NOINIT_ATTR __attribute__((section(".rtc_noinit")))
unsigned long millis();
void delay(unsigned long ms);
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);

class Print {
  public:
    size_t println(const char *text);
    size_t printf(const char *format, ...) __attribute__((format(printf, 2, 3)));
};

class HardwareSerial : public Print {
  public:
    void begin(unsigned long baud, uint32_t config = SERIAL_8N1, int8_t rx = -1, int8_t tx = -1);
};
extern HardwareSerial Serial;
class EspClass {
  public:
    void restart();
};
extern EspClass ESP;
void configTime(long gmt_offset_s, int daylight_offset_s, const char *server1, const char *server2 = nullptr);
extern HardwareSerial Serial1;

class Client {
  public:
    virtual ~Client() {}
    virtual int connect(const char *host, uint16_t port) = 0;
    virtual size_t write(const uint8_t *buf, size_t size) = 0;
    virtual int available() = 0;
    virtual int read(uint8_t *buf, size_t size) = 0;
    virtual void stop() = 0;
    virtual uint8_t connected() = 0;
};
