"""Tiny ONNX graphs written as protobuf bytes, for tests that need a model with a given shape of
inputs and outputs (a recurrent stand-in for RVM) without the onnx package.

Only the few fields those graphs use: nodes (op, inputs, output), float scalar constants, float
tensor inputs/outputs with fixed or symbolic dimensions, IR version 8, opset 13.
"""
from __future__ import annotations

import numpy as np


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, value) -> bytes:
    """One protobuf field: an int as a varint, a str/bytes length-delimited."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def node(op: str, inputs, output: str) -> bytes:
    return b"".join(field(1, i) for i in inputs) + field(2, output) + field(4, op)


def tensor_info(name: str, dims) -> bytes:
    """A float tensor value-info; an int dimension is fixed, a str one symbolic."""
    shape = b"".join(field(1, field(1, d) if isinstance(d, int) else field(2, d)) for d in dims)
    tensor_type = field(1, 1) + field(2, shape)  # elem_type 1 = float
    return field(1, name) + field(2, field(1, tensor_type))


def constant(name: str, value: float) -> bytes:
    return field(2, 1) + field(8, name) + field(9, np.float32(value).tobytes())


def model(name: str, nodes: list[bytes], constants: dict[str, float], inputs: list[bytes],
          outputs: list[bytes]) -> bytes:
    """A ModelProto: graph ``name`` with ``nodes``, scalar ``constants``, value-infos in and out."""
    graph = b"".join([*(field(1, n) for n in nodes), field(2, name),
                      *(field(5, constant(k, v)) for k, v in constants.items()),
                      *(field(11, i) for i in inputs), *(field(12, o) for o in outputs)])
    return field(1, 8) + field(7, graph) + field(8, field(2, 13))
