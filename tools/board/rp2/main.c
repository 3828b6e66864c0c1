/* tinyhsm board image main: Kaluma 1.2.0 targets/rp2/src/main.c that runs the built-in "tinyhsm" snapshot module at boot, with no REPL and no uploaded program. */
/*
 * Changes from upstream targets/rp2/src/main.c (Copyright (c) 2017 Kaluma, MIT; notice below), the same two as the
 * Linux image twin's tools/engines/kaluma/image/main.c (which adds only its heap statistics and probes, twin.h):
 *   1. The firmware bundle is one more JerryScript snapshot module (tools/engines/kaluma/js2c.mjs --boot=tinyhsm=…),
 *      a const array in flash. jerry_exec_snapshot with JERRY_SNAPSHOT_EXEC_ALLOW_STATIC and without
 *      JERRY_SNAPSHOT_EXEC_COPY_DATA runs its bytecode in place from XIP flash, as Kaluma runs its own modules
 *      (src/global.c run_startup_module / process_get_builtin_module_fn); nothing is parsed at boot. It is a static
 *      snapshot (js2c.mjs --static, tools/board/build.sh): its byte code and literal tables stay in flash and its
 *      strings are external magic strings (the generated kaluma_magic_strings.c, which km_runtime_init registers
 *      with jerry_register_magic_strings before run_boot_module executes the snapshot), so none of it goes to the heap.
 *   2. No REPL and no uploaded program: km_repl_init and km_running_script_check / km_runtime_load are not called,
 *      so no tty handle takes the USB CDC bytes; the program reads them with process.stdin.read().
 * The module is called as Kaluma calls board.js (src/global.c run_board_module): fn(exports, require, module).
 * tools/board/check-image.mjs checks that the linked image has neither km_repl_init nor km_running_script_check.
 *
 * Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
 * documentation files (the "Software"), to deal in the Software without restriction, including without limitation
 * the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and
 * to permit persons to whom the Software is furnished to do so, subject to the following conditions: The above
 * copyright notice and this permission notice shall be included in all copies or substantial portions of the
 * Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
 * LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT
 * SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION
 * OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
 * DEALINGS IN THE SOFTWARE.
 */
#include "board.h"
#include "gpio.h"
#include "io.h"
#include "jerryscript.h"
#include "jerryxx.h"
#include "kaluma_modules.h"
#include "magic_strings.h"
#include "runtime.h"
#include "system.h"
#include "tty.h"

static void run_boot_module(void) {
  jerry_value_t fn = jerry_exec_snapshot((const uint32_t *)module_tinyhsm_code, module_tinyhsm_size, 0,
                                         JERRY_SNAPSHOT_EXEC_ALLOW_STATIC);
  if (jerry_value_is_error(fn)) {
    jerryxx_print_error(fn, true);
    jerry_release_value(fn);
    return;
  }
  jerry_value_t this_val = jerry_create_undefined();
  jerry_value_t global = jerry_get_global_object();
  jerry_value_t require = jerryxx_get_property(global, MSTR_REQUIRE);
  jerry_value_t exports = jerry_create_object();
  jerry_value_t module = jerry_create_object();
  jerry_value_t args[3] = {exports, require, module};
  jerry_value_t ret_val = jerry_call_function(fn, this_val, args, 3);
  if (jerry_value_is_error(ret_val)) {
    jerryxx_print_error(ret_val, true);
  }
  jerry_release_value(ret_val);
  jerry_release_value(module);
  jerry_release_value(exports);
  jerry_release_value(require);
  jerry_release_value(global);
  jerry_release_value(this_val);
  jerry_release_value(fn);
}

int main(void) {
  km_system_init();
  km_tty_init();
  km_io_init();
  km_runtime_init(false, true);
  run_boot_module();
  /* The firmware owns its loop and should not return; if it does (a fault), timers and the idler keep running. */
  km_io_run(true);
}
