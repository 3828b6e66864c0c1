/* Shared by the Linux twin's port files: memory statistics, the exit paths of a "power off", and the link's EOF. */
#ifndef TINYHSM_TWIN_H
#define TINYHSM_TWIN_H

#include <stdbool.h>

/* Installs the SIGTERM/SIGINT handlers that write the statistics and exit 0 (a power off). */
void twin_stats_init(void);

/* Records jerry_get_memory_stats().allocated_bytes once the program's top level has returned. */
void twin_stats_after_load(void);

/* With $TINYHSM_PROBE set: collects garbage and prints the heap by kind to stderr, labelled `stage`. */
void twin_probe(const char *stage);

/* Writes the statistics line (with "fatal" when given) to $TINYHSM_ENGINE_STATS and exits with `code`. */
void twin_exit(int code, const char *fatal);

#endif
