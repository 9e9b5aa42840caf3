/* Stand-in for lewisxhe/XPowersLib 0.2.7's AXP2101 API as the generated sketch uses it
 * (declarations only): the T-SIM7080G-S3 powers its modem from the AXP2101's DC3 rail. */
#pragma once
#include <Wire.h>
#define AXP2101_SLAVE_ADDRESS 0x34
class XPowersPMU {
  public:
    bool begin(TwoWire &wire, uint8_t address, int sda, int scl);
    bool setDC3Voltage(uint16_t millivolt);
    bool enableDC3();
    bool disableDC3();
    bool setBLDO1Voltage(uint16_t millivolt);
    bool enableBLDO1();
};
