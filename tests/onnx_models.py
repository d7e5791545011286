"""Small ONNX models built in code, for the tests and the hostile-input corpus."""

from __future__ import annotations


def model_proto(nodes, inputs, outputs, initializers=(), opset=17, metadata=None, ir_version=8,
                domain_opsets=None, producer="inferdesk-tests"):
    """A ModelProto; inputs/outputs are (name, elem_type, shape) triples, metadata a dict."""
    from onnx import helper

    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=list(initializers),
    )
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in (domain_opsets or {}).items()]
    model = helper.make_model(graph, opset_imports=opsets, producer_name=producer)
    model.ir_version = ir_version
    for k, v in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    return model
