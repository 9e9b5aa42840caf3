/* Stand-in for arduino-esp32's Preferences (NVS) API as the generated sketch uses it (declarations only). */
#pragma once
#include <stddef.h>
class Preferences {
  public:
    bool begin(const char *name, bool read_only = false, const char *partition_label = nullptr);
    void end();
    size_t putBytes(const char *key, const void *value, size_t len);
    size_t getBytesLength(const char *key);
    size_t getBytes(const char *key, void *buf, size_t max_len);
};
