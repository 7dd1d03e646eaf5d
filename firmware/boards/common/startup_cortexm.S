/*
 * Reset handler shared by every Cortex-M board.
 *
 * Written in assembly so that nothing can touch the FPU before CP10/CP11 are
 * enabled in CPACR: a float instruction executed with the coprocessor off is a
 * UsageFault (NOCP). Then .data is copied from flash, .bss zeroed, main() runs
 * and its return value ends the program through em_board_exit().
 */
    .syntax unified
    .thumb

    .section .text.Reset_Handler, "ax", %progbits
    .global Reset_Handler
    .type   Reset_Handler, %function
    .thumb_func
Reset_Handler:
    /* CPACR (0xE000ED88): CP10 and CP11 full access (bits 20..23). */
    ldr   r0, =0xE000ED88
    ldr   r1, [r0]
    orr   r1, r1, #(0xF << 20)
    str   r1, [r0]
    dsb
    isb

    /* The vector table already set SP; set it again for debuggers that jump here. */
    ldr   r0, =_estack
    mov   sp, r0

    /* Copy initialised data from its load address in flash. */
    ldr   r0, =_sdata
    ldr   r1, =_edata
    ldr   r2, =_sidata
1:  cmp   r0, r1
    bhs   2f
    ldr   r3, [r2], #4
    str   r3, [r0], #4
    b     1b

    /* Zero .bss. */
2:  ldr   r0, =_sbss
    ldr   r1, =_ebss
    movs  r2, #0
3:  cmp   r0, r1
    bhs   4f
    str   r2, [r0], #4
    b     3b

4:  bl    main
    bl    em_board_exit          /* r0 = main's return value; does not return */
5:  b     5b
    .size Reset_Handler, . - Reset_Handler
    .ltorg
