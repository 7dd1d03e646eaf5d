/*
 * The few newlib system calls, with no heap.
 *
 * _sbrk always fails: the firmware plans all memory statically, so a malloc
 * anywhere (ours or a library's) returns NULL instead of silently eating the
 * stack or the arena. The rest are the minimal stubs newlib-nano links against.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "em_board.h"

void *_sbrk(ptrdiff_t increment) {
  (void)increment;
  errno = ENOMEM;
  return (void *)-1;
}

int _write(int fd, const char *buf, int n) {
  (void)fd;
  em_uart_write((const uint8_t *)buf, (uint32_t)n);
  return n;
}

int _read(int fd, char *buf, int n) {
  (void)fd;
  (void)buf;
  (void)n;
  return 0;
}

int _close(int fd) {
  (void)fd;
  return -1;
}

int _lseek(int fd, int offset, int whence) {
  (void)fd;
  (void)offset;
  (void)whence;
  return 0;
}

int _fstat(int fd, struct stat *st) {
  (void)fd;
  st->st_mode = S_IFCHR;
  return 0;
}

int _isatty(int fd) {
  (void)fd;
  return 1;
}

int _getpid(void) {
  return 1;
}

int _kill(int pid, int sig) {
  (void)pid;
  (void)sig;
  errno = EINVAL;
  return -1;
}

void _exit(int code) {
  em_board_exit(code);
}
