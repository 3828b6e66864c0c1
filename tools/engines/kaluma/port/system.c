/* The Linux twin's system port: Kaluma's targets/linux/src/system.c with clocks that do not overflow in a 32-bit build. */
/*
 * targets/linux/src/system.c computes `long t = tv_sec * 1000000 + …`, which wraps after 36 minutes of uptime when
 * long is 32 bits (the twin is built -m32 so that the engine's structures have the boards' sizes). Same functions,
 * 64-bit arithmetic. millis() (src/global.c) and the event loop's timers read km_gettime().
 */
#include "system.h"

#include <time.h>

#include "adc.h"
#include "flash.h"
#include "gpio.h"
#include "i2c.h"
#include "pwm.h"
#include "rtc.h"
#include "spi.h"
#include "tty.h"
#include "uart.h"

const char km_system_arch[] = "i686";
const char km_system_platform[] = "linux";

void km_delay(uint32_t msec) {
  struct timespec ts = {msec / 1000, (long)(msec % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

uint64_t km_gettime() {
  struct timespec tval;
  clock_gettime(CLOCK_MONOTONIC, &tval);
  return (uint64_t)tval.tv_sec * 1000u + (uint64_t)(tval.tv_nsec / 1000000);
}

char *km_getuid() { return "0000000000000000"; /* pico_unique_id: 8 bytes as 16 hex digits */ }

uint64_t km_micro_maxtime() { return UINT32_MAX; }

uint64_t km_micro_gettime() {
  struct timespec tval;
  clock_gettime(CLOCK_MONOTONIC, &tval);
  return ((uint64_t)tval.tv_sec * 1000000u + (uint64_t)(tval.tv_nsec / 1000)) & UINT32_MAX;
}

void km_micro_delay(uint32_t usec) {
  struct timespec ts = {usec / 1000000, (long)(usec % 1000000) * 1000L};
  nanosleep(&ts, NULL);
}

void km_system_init() {
  km_gpio_init();
  km_adc_init();
  km_pwm_init();
  km_i2c_init();
  km_spi_init();
  km_uart_init();
  km_rtc_init();
  km_flash_init();
}

void km_system_cleanup() {
  km_adc_cleanup();
  km_pwm_cleanup();
  km_i2c_cleanup();
  km_spi_cleanup();
  km_uart_cleanup();
  km_gpio_cleanup();
  km_rtc_cleanup();
  km_flash_cleanup();
}

uint8_t km_running_script_check() { return false; }

void km_custom_infinite_loop() {}
