/*
 * Hand-written Thumb-2 loops whose cycle counts the core timing tables fix (tests/board_tests/
 * test_cycles_loops.py computes them by hand). Each takes r0 = iterations (>= 1), r1 = a word
 * buffer of at least 16 words; AAPCS (r4-r11 saved where used).
 */
    .syntax unified
    .thumb
    .text

    .global loop_smlad
    .type loop_smlad, %function
    .align 2
loop_smlad:                     @ 8 x SMLAD, SUBS, BNE
1:  smlad r2, r3, ip, r2
    smlad r2, r3, ip, r2
    smlad r2, r3, ip, r2
    smlad r2, r3, ip, r2
    smlad r2, r3, ip, r2
    smlad r2, r3, ip, r2
    smlad r2, r3, ip, r2
    smlad r2, r3, ip, r2
    subs r0, r0, #1
    bne 1b
    bx lr
    .size loop_smlad, . - loop_smlad

    .global loop_ldr
    .type loop_ldr, %function
    .align 2
loop_ldr:                       @ 4 independent LDRs (pipelined), SUBS, BNE
1:  ldr r2, [r1]
    ldr r3, [r1, #4]
    ldr ip, [r1, #8]
    ldr r2, [r1, #12]
    subs r0, r0, #1
    bne 1b
    bx lr
    .size loop_ldr, . - loop_ldr

    .global loop_mix
    .type loop_mix, %function
    .align 2
loop_mix:                       @ address stall, store rules, LDRD, UDIV, PUSH/POP
    push {r4, r5}
    movs ip, #0
1:  adds r1, r1, #0             @ writes r1: the next LDR's base waits a cycle
    ldr r2, [r1]
    str r2, [r1, #4]
    ldrd r2, r3, [r1]
    str r2, [r1, ip]
    ldr r3, [r1]
    udiv r2, r1, r1
    push {r4, r5}
    pop {r4, r5}
    subs r0, r0, #1
    bne 1b
    pop {r4, r5}
    bx lr
    .size loop_mix, . - loop_mix

    .global loop_call
    .type loop_call, %function
    .align 2
loop_call:                      @ BL to a leaf that returns with BX LR
    push {r4, lr}
1:  bl leaf
    subs r0, r0, #1
    bne 1b
    pop {r4, pc}
    .size loop_call, . - loop_call

    .type leaf, %function
    .align 2
leaf:
    bx lr
    .size leaf, . - leaf
