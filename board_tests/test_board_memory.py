"""Memory reporting: stack painting, arena, no heap, consistent with the board's limits."""

from edgel3_mote.export.boards import get_board


def test_memory_report_is_consistent(device, info, windows, request):
    device.run_window(windows[0], layer_ticks=True)  # the deepest stack use: a full inference
    mem = device.mem()
    board = get_board(request.config.getoption("--board"))
    assert mem["heap_bytes"] == 0
    assert mem["stack_bytes"] == info["stack_bytes"] == board.stack_size
    assert 256 <= mem["stack_high_water"] < mem["stack_bytes"], mem
    assert mem["arena_bytes"] == info["arena_bytes"]
    assert mem["pcm_buffer_bytes"] == 2 * info["window_samples"]
    assert mem["frontend_scratch_bytes"] <= mem["engine_scratch_bytes"]
    assert mem["static_ram_bytes"] == info["static_ram_bytes"] <= board.ram_size
    # the arena, the PCM window and the stack all live in static RAM
    assert mem["static_ram_bytes"] >= mem["arena_bytes"] + mem["pcm_buffer_bytes"] + mem["stack_bytes"]
    # ... and little else: no spectrogram copy (GET_SPECTROGRAM recomputes it into the input tensor), the
    # protocol's two 1 KiB frames and small statics (SEA-64 on qemu-netduinoplus2: 2,352 bytes)
    assert mem["spectrogram_buffer_bytes"] == 0
    assert mem["static_ram_bytes"] - mem["arena_bytes"] - mem["pcm_buffer_bytes"] - mem["stack_bytes"] < 3 * 1024
    assert info["flash_bytes"] <= board.flash_size
    assert info["flash_bytes"] >= info["weight_bytes"]
