/* ESP-IDF's task watchdog as arduino-esp32 2.x (IDF 4.4) declares it, a real one here: a thread
 * restarts the board (RTC memory kept, RAM lost) when the loop is not fed within the timeout. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
typedef int esp_err_t;
#define ESP_OK 0
#ifdef __cplusplus
extern "C" {
#endif
esp_err_t esp_task_wdt_init(uint32_t timeout_s, bool panic);
esp_err_t esp_task_wdt_add(void *task);
esp_err_t esp_task_wdt_reset(void);
#ifdef __cplusplus
}
#endif
