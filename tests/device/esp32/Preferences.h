/* arduino-esp32's Preferences (NVS), over a file (PS_NVS_FILE): kept through resets and power cuts,
 * as flash is. One key is enough for the sketch; the file holds the last value written. */
#pragma once
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

class Preferences {
  public:
    bool begin(const char *, bool = false, const char * = nullptr) { return getenv("PS_NVS_FILE") != nullptr; }
    void end() {}
    size_t putBytes(const char *, const void *value, size_t len) {
        FILE *file = fopen(getenv("PS_NVS_FILE"), "wb");
        if (!file) return 0;
        size_t done = fwrite(value, 1, len, file);
        fclose(file);
        char log[512];
        snprintf(log, sizeof log, "%s.writes", getenv("PS_NVS_FILE"));
        if (FILE *count = fopen(log, "a")) { /* one line a write: the tests count flash wear */
            fputs("w\n", count);
            fclose(count);
        }
        return done;
    }
    size_t getBytesLength(const char *) {
        FILE *file = fopen(getenv("PS_NVS_FILE"), "rb");
        if (!file) return 0;
        fseek(file, 0, SEEK_END);
        long size = ftell(file);
        fclose(file);
        return size > 0 ? (size_t)size : 0;
    }
    size_t getBytes(const char *, void *buf, size_t max_len) {
        FILE *file = fopen(getenv("PS_NVS_FILE"), "rb");
        if (!file) return 0;
        size_t got = fread(buf, 1, max_len, file);
        fclose(file);
        return got;
    }
};
