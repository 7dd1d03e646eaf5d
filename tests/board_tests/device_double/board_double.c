/*
 * TEST DOUBLE: a fake board (byte queues, a settable tick counter) around the REAL
 * protocol server (firmware/app/serial_main.c compiled with EM_SERIAL_NO_MAIN) and the
 * REAL framing (firmware/protocol/em_protocol.c), so pytest drives the device's command
 * logic on the host through ctypes. Front-end and engine doubles: engine_double.c.
 */
#include <stdlib.h>
#include <string.h>

#include "em_board.h"
#include "em_frontend_tables.h"
#include "em_logmel.h"
#include "model_engine.h"

void em_serial_server_init(void);
void em_serial_server_poll(void);

/* ---- fake board: a byte queue each way and a settable tick counter ---- */
#define RX_CAP (1u << 20)
#define TX_CAP (1u << 20)
static uint8_t rx_buf[RX_CAP];
static uint32_t rx_head, rx_tail;
static uint8_t tx_buf[TX_CAP];
static uint32_t tx_len;
static uint32_t ticks;

void em_board_init(void) {}
const char *em_board_name(void) { return "host-double"; }
const char *em_board_core(void) { return "x86-64"; }
uint32_t em_board_clock_hz(void) { return 1000000u; }
uint32_t em_board_ticks(void) { return ticks += 7u; }
void em_board_ticks_sync(void) {}
int em_board_ticks_are_instructions(void) { return 0; } /* cycles: timeout = clock / 4 */
void em_uart_write(const uint8_t *buf, uint32_t n) {
    if (tx_len + n > TX_CAP) abort(); /* the test must drain */
    memcpy(tx_buf + tx_len, buf, n);
    tx_len += n;
}
int em_uart_read(uint8_t *byte) {
    if (rx_head == rx_tail) return 0;
    *byte = rx_buf[rx_head++];
    return 1;
}
void em_board_exit(int code) { exit(code); }
void em_semihost_write(const char *s) { (void)s; }
void em_stack_paint(void) {}
uint32_t em_stack_high_water(void) { return 777u; }
uint32_t em_board_stack_size(void) { return 8192u; }

/* ---- the test API (ctypes) ---- */
void double_boot(void) {
    rx_head = rx_tail = 0;
    tx_len = 0;
    ticks = 0;
    em_serial_server_init();
}
void double_feed(const uint8_t *data, uint32_t n) {
    if (rx_tail + n > RX_CAP) { /* compact */
        memmove(rx_buf, rx_buf + rx_head, rx_tail - rx_head);
        rx_tail -= rx_head;
        rx_head = 0;
        if (rx_tail + n > RX_CAP) abort();
    }
    memcpy(rx_buf + rx_tail, data, n);
    rx_tail += n;
    while (rx_head != rx_tail) em_serial_server_poll();
}
void double_advance(uint32_t n) { ticks += n; }
void double_poll(void) { em_serial_server_poll(); }
uint32_t double_take(uint8_t *out, uint32_t cap) {
    uint32_t n = tx_len < cap ? tx_len : cap;
    memcpy(out, tx_buf, n);
    memmove(tx_buf, tx_buf + n, tx_len - n);
    tx_len -= n;
    return n;
}
