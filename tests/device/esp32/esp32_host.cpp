/* The ESP32 shims of Arduino.h, esp_timer.h and esp_task_wdt.h, over POSIX; and main(), which runs
 * the sketch's setup() then loop() forever, as arduino-esp32's app_main does.
 *
 * Environment (all optional but PS_MODEM_TTY):
 *   PS_MODEM_TTY    the pty of the modem emulator (Serial1)
 *   PS_TIME_SCALE   field seconds per host second (default 1)
 *   PS_UPTIME_MS    uptime at start, to run a board as if it had been up for days
 *   PS_RTC_FILE     RTC memory and the RTC clock, kept across ESP.restart() and the watchdog's
 *   PS_PINS_LOG     every digitalWrite, "UPTIME_MS PIN LEVEL", for the modem emulator's PWRKEY
 *   PS_WDT_LOG      the longest the watchdog went unfed, in field ms, rewritten when it grows
 *   PS_RUN_MS       field ms after which the board stops (exit 0), for bounded tests */
#include "Arduino.h"  // first: termios.h's B0 (a baud rate) would break ArduinoCore-API's B0 (a binary)
#include "esp_task_wdt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

void setup();
void loop();

HardwareSerial Serial(0);
HardwareSerial Serial1(1);
EspClass ESP;

extern "C" char __start_rtc_noinit[], __stop_rtc_noinit[];
/* The section exists even when the sketch keeps nothing in RTC memory. */
RTC_NOINIT_ATTR __attribute__((used)) static char rtc_reserved[8];

namespace {

/* What RTC memory holds besides the sketch's own: the clock ESP-IDF keeps across a reset. */
struct RtcClock {
    uint32_t magic;
    int64_t boot_unix_us; /* the Unix time (us) at uptime 0; 0: never set */
};
const uint32_t kRtcMagic = 0x52544331;
RtcClock rtc_clock;

double scale = 1.0;
int64_t uptime_start_us = 0;
struct timespec host_start;
char **saved_argv;
esp_reset_reason_t reset_reason = ESP_RST_POWERON;

std::atomic<int64_t> last_fed_us{-1};
std::atomic<int64_t> longest_unfed_us{0};
int64_t watchdog_timeout_us = 0;

int64_t host_us() {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - host_start.tv_sec) * 1000000 + (now.tv_nsec - host_start.tv_nsec) / 1000;
}

const char *rtc_path() { return getenv("PS_RTC_FILE"); }

void rtc_load() {
    size_t size = (size_t)(__stop_rtc_noinit - __start_rtc_noinit);
    memset(__start_rtc_noinit, 0xA5, size); /* power-on: RTC memory holds noise */
    rtc_clock = RtcClock{kRtcMagic, 0};
    const char *path = rtc_path();
    if (!path || reset_reason == ESP_RST_POWERON) return;
    FILE *file = fopen(path, "rb");
    if (!file) return;
    RtcClock kept;
    if (fread(&kept, sizeof kept, 1, file) == 1 && kept.magic == kRtcMagic) rtc_clock = kept;
    if (fread(__start_rtc_noinit, 1, size, file) != size) memset(__start_rtc_noinit, 0xA5, size);
    fclose(file);
}

/* Async-signal-safe: a reset may come from the reset button (SIGUSR1) at any instruction. */
void rtc_save() {
    const char *path = rtc_path();
    if (!path) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return;
    ssize_t ignored = write(fd, &rtc_clock, sizeof rtc_clock);
    ignored = write(fd, __start_rtc_noinit, (size_t)(__stop_rtc_noinit - __start_rtc_noinit));
    (void)ignored;
    close(fd);
}

char reason_env[32] = "PS_RESET_REASON=0";
char uptime_env[] = "PS_UPTIME_MS=0"; /* uptime starts again at a reset */

[[noreturn]] void reset(esp_reset_reason_t why) {
    fflush(stdout);
    rtc_save();
    reason_env[sizeof "PS_RESET_REASON=" - 1] = (char)('0' + (int)why % 10);
    putenv(reason_env);
    putenv(uptime_env);
    execv("/proc/self/exe", saved_argv);
    _exit(70);
}

void reset_button(int) {
    static const char said[] = "ets: rst:0x1 (reset button: RTC memory kept, RAM lost)\n";
    ssize_t ignored = write(1, said, sizeof said - 1);
    (void)ignored;
    reset(ESP_RST_SW);
}

void *watchdog(void *) {
    for (;;) {
        usleep(20000);
        int64_t fed = last_fed_us.load();
        if (fed < 0 || watchdog_timeout_us <= 0) continue;
        int64_t unfed = esp_timer_get_time() - fed;
        if (unfed > watchdog_timeout_us) {
            printf("E (%lld) task_wdt: Task watchdog got triggered: loop() not fed for %lld ms\n",
                   (long long)(esp_timer_get_time() / 1000), (long long)(unfed / 1000));
            reset(ESP_RST_TASK_WDT);
        }
        const char *run_ms = getenv("PS_RUN_MS");
        if (run_ms && esp_timer_get_time() / 1000 >= atoll(run_ms)) {
            fflush(stdout);
            _exit(0);
        }
    }
    return nullptr;
}

void note_unfed(int64_t unfed) {
    if (unfed <= longest_unfed_us.load()) return;
    longest_unfed_us = unfed;
    const char *path = getenv("PS_WDT_LOG");
    if (!path) return;
    FILE *file = fopen(path, "w");
    if (!file) return;
    fprintf(file, "%lld\n", (long long)(unfed / 1000));
    fclose(file);
}

}  // namespace

/* --- time ----------------------------------------------------------------------------------------- */

extern "C" int64_t esp_timer_get_time(void) { return uptime_start_us + (int64_t)((double)host_us() * scale); }

unsigned long millis(void) { return (uint32_t)(esp_timer_get_time() / 1000); /* 32 bits, as on the ESP32 */ }
unsigned long micros(void) { return (uint32_t)esp_timer_get_time(); }

void delay(unsigned long ms) {
    int64_t host = (int64_t)((double)ms * 1000.0 / scale);
    if (host > 0) usleep((useconds_t)host);
}
void delayMicroseconds(unsigned int us) { usleep((useconds_t)((double)us / scale)); }
void yield(void) {}

extern "C" int gettimeofday(struct timeval *tv, void *) {
    int64_t now = rtc_clock.boot_unix_us + esp_timer_get_time();
    if (tv) {
        tv->tv_sec = (time_t)(now / 1000000);
        tv->tv_usec = (suseconds_t)(now % 1000000);
    }
    return 0;
}

extern "C" int settimeofday(const struct timeval *tv, const struct timezone *) {
    if (tv) rtc_clock.boot_unix_us = (int64_t)tv->tv_sec * 1000000 + tv->tv_usec - esp_timer_get_time();
    return 0;
}

extern "C" time_t time(time_t *out) {
    struct timeval now;
    gettimeofday(&now, nullptr);
    if (out) *out = now.tv_sec;
    return now.tv_sec;
}

/* --- pins ------------------------------------------------------------------------------------------ */

void pinMode(pin_size_t, PinMode) {}

void digitalWrite(pin_size_t pin, PinStatus level) {
    const char *path = getenv("PS_PINS_LOG");
    if (!path) return;
    FILE *file = fopen(path, "a");
    if (!file) return;
    fprintf(file, "%lld %u %d\n", (long long)(esp_timer_get_time() / 1000), (unsigned)pin, level == HIGH ? 1 : 0);
    fclose(file);
}

PinStatus digitalRead(pin_size_t) { return LOW; }

/* --- the UARTs --------------------------------------------------------------------------------------- */

void HardwareSerial::begin(unsigned long, uint32_t, int8_t, int8_t, bool, unsigned long, uint8_t) {
    if (uart_ == 0) return;
    const char *tty = getenv("PS_MODEM_TTY");
    if (!tty) {
        fprintf(stderr, "PS_MODEM_TTY: the modem emulator's pty is not set\n");
        exit(64);
    }
    fd_ = open(tty, O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd_ < 0) {
        perror(tty);
        exit(64);
    }
    struct termios mode;
    if (tcgetattr(fd_, &mode) == 0) {
        cfmakeraw(&mode);
        tcsetattr(fd_, TCSANOW, &mode);
    }
}

void HardwareSerial::end() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
}

int HardwareSerial::fill(int wait_ms) {
    if (uart_ == 0 || fd_ < 0) return 0;
    if (head_ == tail_) head_ = tail_ = 0;
    if (tail_ == sizeof buf_) return (int)(tail_ - head_);
    struct pollfd p = {fd_, POLLIN, 0};
    if (poll(&p, 1, wait_ms) > 0 && (p.revents & POLLIN)) {
        ssize_t got = ::read(fd_, buf_ + tail_, sizeof buf_ - tail_);
        if (got > 0) tail_ += (size_t)got;
    }
    return (int)(tail_ - head_);
}

int HardwareSerial::available() {
    int n = fill(0);
    if (n == 0) usleep(200); /* a polling loop must not spin a core */
    return n;
}

int HardwareSerial::read() {
    if (fill(0) == 0) return -1;
    return buf_[head_++];
}

int HardwareSerial::peek() {
    if (fill(0) == 0) return -1;
    return buf_[head_];
}

size_t HardwareSerial::write(const uint8_t *buffer, size_t size) {
    if (uart_ == 0) {
        fwrite(buffer, 1, size, stdout);
        if (memchr(buffer, '\n', size)) fflush(stdout);
        return size;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::write(fd_, buffer + done, size - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            break;
        } else {
            struct pollfd p = {fd_, POLLOUT, 0};
            poll(&p, 1, 10);
        }
    }
    return done;
}

/* --- resets and the watchdog -------------------------------------------------------------------------- */

void EspClass::restart() {
    printf("ets: rst:0xc (SW_CPU_RESET)\n");
    reset(ESP_RST_SW);
}

esp_reset_reason_t esp_reset_reason(void) { return reset_reason; }

extern "C" esp_err_t esp_task_wdt_init(uint32_t timeout_s, bool) {
    static pthread_t thread;
    static bool started = false;
    watchdog_timeout_us = (int64_t)timeout_s * 1000000;
    if (!started) {
        pthread_create(&thread, nullptr, watchdog, nullptr);
        started = true;
    }
    return ESP_OK;
}

extern "C" esp_err_t esp_task_wdt_add(void *) {
    last_fed_us = esp_timer_get_time();
    return ESP_OK;
}

extern "C" esp_err_t esp_task_wdt_reset(void) {
    int64_t now = esp_timer_get_time(), fed = last_fed_us.exchange(now);
    if (fed >= 0) note_unfed(now - fed);
    return ESP_OK;
}

/* main() is in host_main.cpp: ArduinoCore-API declares a main() of its own. */
extern "C" int ps_host_main(int argc, char **argv) {
    (void)argc;
    saved_argv = argv;
    clock_gettime(CLOCK_MONOTONIC, &host_start);
    setvbuf(stdout, nullptr, _IOLBF, 0);
    if (const char *s = getenv("PS_TIME_SCALE")) scale = atof(s) > 0 ? atof(s) : 1.0;
    if (const char *u = getenv("PS_UPTIME_MS")) uptime_start_us = atoll(u) * 1000;
    if (const char *r = getenv("PS_RESET_REASON")) reset_reason = (esp_reset_reason_t)atoi(r);
    rtc_load();
    signal(SIGUSR1, reset_button);
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &unblock, nullptr); /* exec keeps a handler's mask: SIGUSR1 was blocked */
    printf("ets: boot (reset reason %d)\n", (int)reset_reason);
    setup();
    for (;;) loop();
}

/* --- arduino-esp32's stdlib_noniso: the integer-to-text helpers ArduinoCore-API's String calls --- */

static char *unsigned_text(unsigned long long value, char *out, int base) {
    char digits[72];
    int n = 0;
    if (base < 2 || base > 36) base = 10;
    do {
        int d = (int)(value % (unsigned)base);
        digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        value /= (unsigned)base;
    } while (value);
    for (int i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    out[n] = 0;
    return out;
}

static char *signed_text(long long value, char *out, int base) {
    if (value < 0 && base == 10) {
        out[0] = '-';
        unsigned_text(0ULL - (unsigned long long)value, out + 1, base);
        return out;
    }
    return unsigned_text((unsigned long long)value, out, base);
}

extern "C" char *itoa(int value, char *out, int base) { return signed_text(value, out, base); }
extern "C" char *ltoa(long value, char *out, int base) { return signed_text(value, out, base); }
extern "C" char *utoa(unsigned value, char *out, int base) { return unsigned_text(value, out, base); }
extern "C" char *ultoa(unsigned long value, char *out, int base) { return unsigned_text(value, out, base); }
extern "C" char *dtostrf(double value, signed char width, unsigned char precision, char *out) {
    sprintf(out, "%*.*f", width, precision, value);
    return out;
}
