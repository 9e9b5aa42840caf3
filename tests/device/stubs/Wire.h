/* Stand-in for the Arduino Wire (I2C) API as the generated sketch uses it (declarations only). */
#pragma once
#include <Arduino.h>
class TwoWire {
  public:
    bool begin(int sda, int scl);
    void beginTransmission(uint8_t address);
    size_t write(uint8_t byte);
    uint8_t endTransmission();
};
extern TwoWire Wire;
