/* Stand-in for ESP-IDF's esp_timer API as the generated sketch uses it (declarations only). */
#pragma once
#include <stdint.h>
int64_t esp_timer_get_time(void);
