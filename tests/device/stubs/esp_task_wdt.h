/* Stand-in for ESP-IDF's task watchdog API as the generated sketch uses it (declarations only):
 * IDF 4.4 (arduino-esp32 2.x) and IDF 5 (arduino-esp32 3.x) forms. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
typedef int esp_err_t;
typedef struct {
    uint32_t timeout_ms;
    uint32_t idle_core_mask;
    bool trigger_panic;
} esp_task_wdt_config_t;
#if defined(ESP_ARDUINO_VERSION_MAJOR) && ESP_ARDUINO_VERSION_MAJOR >= 3
esp_err_t esp_task_wdt_reconfigure(const esp_task_wdt_config_t *config);
#else
esp_err_t esp_task_wdt_init(uint32_t timeout_s, bool panic);
#endif
esp_err_t esp_task_wdt_add(void *task);
esp_err_t esp_task_wdt_reset(void);
