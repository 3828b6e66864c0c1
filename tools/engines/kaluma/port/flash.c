/* The Linux twin's flash: a NOR flash with rp2 geometry kept in the file named by $TINYHSM_FLASH (Kaluma's storage, program and file-system sectors). */
/*
 * Replaces Kaluma's targets/linux/src/flash.c (a RAM array that programs by copying). Behaves as
 * targets/rp2/src/flash.c over the RP2040's QSPI NOR flash:
 *   * the region is KALUMA_FLASH_SECTOR_COUNT sectors of KALUMA_FLASH_SECTOR_SIZE (4 KiB) bytes from
 *     KALUMA_FLASH_OFFSET (targets/rp2/boards/pico/board.h: 260 sectors = 16 KiB storage, 512 KiB program,
 *     512 KiB littlefs), read through the memory map km_flash_addr;
 *   * km_flash_program refuses (-EINVAL) an address or size that is not a multiple of the 256-byte program page
 *     (KALUMA_FLASH_PAGE_SIZE) and otherwise ANDs the data into the cells (NOR programming only clears bits;
 *     flash_range_program in the pico-sdk);
 *   * km_flash_erase refuses what is not whole sectors and sets them to 0xFF.
 * The file is mapped MAP_SHARED, so what was programmed survives a kill of the process (a power cut) as it does
 * on the chip. A missing file is created factory-erased (all 0xFF); without $TINYHSM_FLASH the flash lives in
 * memory only.
 */
#include "flash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board.h"

#define FLASH_BYTES ((size_t)KALUMA_FLASH_SECTOR_SIZE * KALUMA_FLASH_SECTOR_COUNT)

static uint8_t *flash_mem = NULL;
const uint8_t *km_flash_addr = NULL;

static void die(const char *what, const char *path) {
  fprintf(stderr, "flash: %s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

void km_flash_init() {
  if (flash_mem != NULL) return; /* km_runtime_cleanup/km_system_init again after a program error */
  const char *path = getenv("TINYHSM_FLASH");
  if (path == NULL || path[0] == '\0') {
    flash_mem = mmap(NULL, FLASH_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (flash_mem == MAP_FAILED) die("cannot map", "memory");
    memset(flash_mem, 0xFF, FLASH_BYTES);
  } else {
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) die("cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) die("cannot stat", path);
    if ((size_t)st.st_size < FLASH_BYTES) {
      /* factory-erased: everything past the end of the file reads 0xFF */
      uint8_t ff[4096];
      memset(ff, 0xFF, sizeof(ff));
      if (lseek(fd, st.st_size, SEEK_SET) < 0) die("cannot seek", path);
      size_t left = FLASH_BYTES - (size_t)st.st_size;
      while (left > 0) {
        size_t n = left < sizeof(ff) ? left : sizeof(ff);
        ssize_t w = write(fd, ff, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("cannot extend", path);
        left -= (size_t)w;
      }
    }
    flash_mem = mmap(NULL, FLASH_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (flash_mem == MAP_FAILED) die("cannot map", path);
    close(fd);
  }
  km_flash_addr = flash_mem;
}

void km_flash_cleanup() {}

int km_flash_program(uint32_t sector, uint32_t offset, uint8_t *buffer, size_t size) {
  const uint64_t base = (uint64_t)sector * KALUMA_FLASH_SECTOR_SIZE + offset;
  if (base % KALUMA_FLASH_PAGE_SIZE > 0) return -22; /* EINVAL, as targets/rp2/src/flash.c */
  if (size % KALUMA_FLASH_PAGE_SIZE > 0) return -22;
  if (base + size > FLASH_BYTES) return -22;
  for (size_t i = 0; i < size; i++) flash_mem[base + i] &= buffer[i];
  return 0;
}

int km_flash_erase(uint32_t sector, size_t count) {
  const uint64_t base = (uint64_t)sector * KALUMA_FLASH_SECTOR_SIZE;
  const uint64_t size = (uint64_t)count * KALUMA_FLASH_SECTOR_SIZE;
  if (base + size > FLASH_BYTES) return -22;
  memset(flash_mem + base, 0xFF, size);
  return 0;
}
