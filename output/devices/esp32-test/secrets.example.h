/* secrets.h for board esp32-test (project polysource): copy this file to secrets.h, fill it in,
 * and never commit secrets.h (the .gitignore beside it keeps it out of git; render keeps it). */
#ifndef POLYSOURCE_SECRETS_H
#define POLYSOURCE_SECRETS_H

#define PS_SECRET_PASSWORD "" /* ${ESP32_TEST_PASSWORD}: the board's password on the broker */
#define PS_SECRET_APN "" /* ${SIM_APN}, e.g. "internet" */
#define PS_SECRET_APN_USER ""
#define PS_SECRET_APN_PASSWORD ""
#define PS_SECRET_SIM_PIN "" /* empty when the SIM has no PIN */

#endif
