/* Stand-in for arduino-esp32's WiFi API as the generated sketch uses it (declarations only). */
#pragma once
#include <Arduino.h>
#define WL_CONNECTED 3
class WiFiClass {
  public:
    int begin(const char *ssid, const char *password);
    int status();
};
extern WiFiClass WiFi;
class WiFiClient : public Client {
  public:
    int connect(const char *host, uint16_t port) override;
    size_t write(const uint8_t *buf, size_t size) override;
    int available() override;
    int read(uint8_t *buf, size_t size) override;
    void stop() override;
    uint8_t connected() override;
};
