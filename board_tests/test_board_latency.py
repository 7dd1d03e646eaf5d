"""Latency reporting: ticks split front-end / engine / per layer, repeatable under icount."""


def test_ticks_are_reported_and_repeat(device, windows, info):
    device.load_audio(windows[0])
    first = device.infer(layer_ticks=True)
    second = device.infer(layer_ticks=True)
    assert first.frontend_ticks > 0 and first.engine_ticks > 0
    assert len(first.layer_ticks) == info["num_layers"]
    names = device.layers()
    # a RESHAPE can be free (an alias) and the tick counter has a resolution: >= 0 for all,
    # > 0 for every convolution and pooling
    assert all(t >= 0 for t in first.layer_ticks)
    assert all(t > 0 for t, n in zip(first.layer_ticks, names) if "conv" in n.lower() or "pool" in n.lower())
    # layers are timed inside the engine's own interval
    assert sum(first.layer_ticks) <= first.engine_ticks
    assert sum(first.layer_ticks) >= 0.9 * first.engine_ticks
    if info["ticks_are_instructions"]:
        # QEMU -icount shift=0: the same instructions run; the reading can only differ by one
        # step of the tick counter (its resolution, e.g. 40 instructions for a 25 MHz timer)
        step = info["tick_resolution"]
        assert 1 <= step <= 1000
        pairs = [(first.frontend_ticks, second.frontend_ticks), (first.engine_ticks, second.engine_ticks),
                 *zip(first.layer_ticks, second.layer_ticks)]
        assert all(abs(a - b) <= step for a, b in pairs), pairs
    else:  # cycles on silicon: caches and flash wait states jitter a little
        assert abs(second.engine_ticks - first.engine_ticks) <= 0.02 * first.engine_ticks
    assert (second.embedding == first.embedding).all()
    assert device.infer(layer_ticks=False).layer_ticks == []
