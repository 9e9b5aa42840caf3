/* ESP-IDF's esp_timer_get_time(): microseconds since boot, 64 bits (see Arduino.h here). */
#pragma once
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
int64_t esp_timer_get_time(void);
#ifdef __cplusplus
}
#endif
