/* Memory statistics of the Linux twin: one JSON line to $TINYHSM_ENGINE_STATS on SIGTERM, SIGINT, stdin EOF or a JerryScript fatal error. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jerryscript.h"
#include "twin.h"

/* jmem_heap_stats_t of JerryScript 2.4 (jerry-core/jmem/jmem.h, JERRY_MEM_STATS): the heap by kind of allocation. */
typedef struct {
  size_t size, allocated_bytes, peak_allocated_bytes, waste_bytes, peak_waste_bytes, byte_code_bytes,
      peak_byte_code_bytes, string_bytes, peak_string_bytes, object_bytes, peak_object_bytes, property_bytes,
      peak_property_bytes;
} twin_jmem_stats_t;
void jmem_heap_get_stats(twin_jmem_stats_t *out);

void jmem_heap_stats_reset_peak(void);

/* The highest heap use of the run: twin_probe resets JerryScript's peak at each stage, so it keeps the maximum here. */
static size_t run_peak = 0;
static struct timespec probe_t0;
static int probe_t0_set = 0;

/*
 * With $TINYHSM_PROBE set, one JSON line per stage, appended to the file it names when it is a path (has a '/'),
 * else on stderr: the milliseconds since the first stage, the highest heap use since the stage before ("peakSince"),
 * then the heap after a full collection, split into byte code (function headers and literal tables copied from a
 * snapshot, or whole functions), strings, objects and properties as JerryScript counts them (the rest: numbers,
 * BigInts, buffers, the literal storage's own chunks). The collection itself takes time; the statistics line at
 * power-off still has the run's peak.
 */
void twin_probe(const char *stage) {
  if (getenv("TINYHSM_PROBE") == NULL) return;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (!probe_t0_set) {
    probe_t0 = now;
    probe_t0_set = 1;
  }
  long ms = (long)((now.tv_sec - probe_t0.tv_sec) * 1000 + (now.tv_nsec - probe_t0.tv_nsec) / 1000000);
  twin_jmem_stats_t s;
  memset(&s, 0, sizeof(s));
  jmem_heap_get_stats(&s);
  size_t peak_since = s.peak_allocated_bytes;
  if (peak_since > run_peak) run_peak = peak_since;
  jerry_gc(JERRY_GC_PRESSURE_HIGH);
  memset(&s, 0, sizeof(s));
  jmem_heap_get_stats(&s);
  const char *where = getenv("TINYHSM_PROBE");
  FILE *out = strchr(where, '/') != NULL ? fopen(where, "a") : stderr;
  if (out == NULL) out = stderr;
  fprintf(out,
          "{\"probe\":\"%s\",\"ms\":%ld,\"peakSince\":%lu,\"allocated\":%lu,\"byteCode\":%lu,\"strings\":%lu,"
          "\"objects\":%lu,\"properties\":%lu}\n",
          stage, ms, (unsigned long)peak_since, (unsigned long)s.allocated_bytes, (unsigned long)s.byte_code_bytes,
          (unsigned long)s.string_bytes, (unsigned long)s.object_bytes, (unsigned long)s.property_bytes);
  if (out != stderr) fclose(out);
  else fflush(stderr);
  jmem_heap_stats_reset_peak();
}

/* -1 until the program's top level has returned. */
static long after_load = -1;
static volatile sig_atomic_t exiting = 0;

void twin_stats_after_load(void) {
  jerry_heap_stats_t s;
  memset(&s, 0, sizeof(s));
  if (jerry_get_memory_stats(&s)) after_load = (long)s.allocated_bytes;
}

/* Runs in a signal handler too: only a struct copy out of the engine's context, snprintf and write(2). */
static void write_stats(const char *fatal) {
  const char *path = getenv("TINYHSM_ENGINE_STATS");
  if (path == NULL || path[0] == '\0') return;
  jerry_heap_stats_t s;
  memset(&s, 0, sizeof(s));
  jerry_get_memory_stats(&s);
  char line[512];
  size_t peak = s.peak_allocated_bytes > run_peak ? s.peak_allocated_bytes : run_peak;
  int n = snprintf(line, sizeof(line), "{\"heap\":%lu,\"peak\":%lu,", (unsigned long)s.size, (unsigned long)peak);
  if (after_load >= 0) n += snprintf(line + n, sizeof(line) - n, "\"afterLoad\":%ld,", after_load);
  if (fatal != NULL) n += snprintf(line + n, sizeof(line) - n, "\"fatal\":\"%s\",", fatal);
  n += snprintf(line + n, sizeof(line) - n, "\"allocated\":%lu}\n", (unsigned long)s.allocated_bytes);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  ssize_t off = 0;
  while (off < n) {
    ssize_t w = write(fd, line + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += w;
  }
  close(fd);
}

void twin_exit(int code, const char *fatal) {
  if (exiting) _exit(code);
  exiting = 1;
  fflush(stdout);
  write_stats(fatal);
  _exit(code);
}

static void on_signal(int sig) {
  (void)sig;
  /* a power off: the firmware gets no chance to run, only the statistics are written */
  twin_exit(0, NULL);
}

void twin_stats_init(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/*
 * JerryScript calls jerry_port_fatal on out-of-memory and failed assertions; Kaluma's src/jerry_port.c then calls
 * exit(1) (on a board the chip stops). The link wraps it (-Wl,--wrap=jerry_port_fatal) to say which error and to
 * keep the statistics of the run that died; jerry_fatal_code_t values from jerryscript-port.h.
 */
void __real_jerry_port_fatal(jerry_fatal_code_t code);
void __wrap_jerry_port_fatal(jerry_fatal_code_t code) {
  const char *name = "UNKNOWN";
  switch (code) {
    case ERR_OUT_OF_MEMORY: name = "ERR_OUT_OF_MEMORY"; break;
    case ERR_REF_COUNT_LIMIT: name = "ERR_REF_COUNT_LIMIT"; break;
    case ERR_DISABLED_BYTE_CODE: name = "ERR_DISABLED_BYTE_CODE"; break;
    case ERR_UNTERMINATED_GC_LOOPS: name = "ERR_UNTERMINATED_GC_LOOPS"; break;
    case ERR_FAILED_INTERNAL_ASSERTION: name = "ERR_FAILED_INTERNAL_ASSERTION"; break;
    default: break;
  }
  fflush(stdout);
  fprintf(stderr, "jerry fatal: %s\n", name);
  twin_exit(1, name);
}
