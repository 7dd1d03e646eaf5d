"""Test machinery shared by tests/ and board_tests/: ctypes bindings of the kernels, TF reference layers,
the in-QEMU kernel sweep, the classifier-head project. Not part of the product."""
