"""Writes the scanner's test corpus into the directory given: malicious pickles (each
dangerous import, protocols 0 to 5, raw and inside PyTorch-style zip archives) and benign
ones (plain data, and a checkpoint shaped as torch.save writes it), plus a safetensors and a
GGUF file. Nothing here is ever loaded; the pickles are only written."""

import builtins
import collections
import datetime
import io
import marshal
import operator
import os
import pickle
import runpy
import shutil
import socket
import struct
import subprocess
import sys
import timeit
import webbrowser
import zipfile
import importlib
import http.client
import urllib.request
import ftplib
import pty
import pdb

out = sys.argv[1]
malicious = os.path.join(out, "malicious")
benign = os.path.join(out, "benign")
os.makedirs(malicious)
os.makedirs(benign)

DANGEROUS = {
    "os-system": (os.system, ("echo pwned",)),
    "os-popen": (os.popen, ("echo pwned",)),
    "subprocess-popen": (subprocess.Popen, (["echo", "pwned"],)),
    "subprocess-check-output": (subprocess.check_output, (["id"],)),
    "builtins-eval": (builtins.eval, ("1+1",)),
    "builtins-exec": (builtins.exec, ("print(1)",)),
    "builtins-compile": (builtins.compile, ("1", "f", "eval")),
    "builtins-open": (builtins.open, ("/etc/passwd",)),
    "builtins-import": (builtins.__import__, ("os",)),
    "builtins-getattr": (builtins.getattr, (str, "join")),
    "socket-socket": (socket.socket, ()),
    "socket-create-connection": (socket.create_connection, (("example.com", 80),)),
    "runpy-run-path": (runpy.run_path, ("/tmp/x.py",)),
    "shutil-rmtree": (shutil.rmtree, ("/tmp/x",)),
    "pty-spawn": (pty.spawn, ("/bin/sh",)),
    "webbrowser-open": (webbrowser.open, ("http://example.com",)),
    "operator-attrgetter": (operator.attrgetter, ("system",)),
    "pdb-run": (pdb.run, ("1",)),
    "sys-exit": (sys.exit, (1,)),
    "timeit-timeit": (timeit.timeit, ("1",)),
    "importlib-import-module": (importlib.import_module, ("os",)),
    "pickle-loads": (pickle.loads, (b"N.",)),
    "marshal-loads": (marshal.loads, (b"N",)),
    "http-client": (http.client.HTTPConnection, ("example.com",)),
    "urllib-urlopen": (urllib.request.urlopen, ("http://example.com",)),
    "ftplib-ftp": (ftplib.FTP, ("example.com",)),
}


class Call:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def torch_zip(path, data_pkl, compression=zipfile.ZIP_STORED, extra=None):
    """An archive laid out as torch.save lays it out."""
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", bytes(range(256)) * 4)
        z.writestr("archive/version", "3\n")
        for name, data in (extra or {}).items():
            z.writestr(name, data)


for name, (fn, args) in DANGEROUS.items():
    for protocol in range(0, 6):
        payload = pickle.dumps({"weights": [1.0, 2.0], "x": Call(fn, args)}, protocol=protocol)
        with open(os.path.join(malicious, f"{name}-p{protocol}.pkl"), "wb") as f:
            f.write(payload)
    for protocol in (2, 4, 5):
        payload = pickle.dumps(Call(fn, args), protocol=protocol)
        torch_zip(os.path.join(malicious, f"{name}-p{protocol}.pt"), payload)
    torch_zip(
        os.path.join(malicious, f"{name}-deflated.pt"),
        pickle.dumps(Call(fn, args), protocol=2),
        compression=zipfile.ZIP_DEFLATED,
    )

BENIGN = {
    "numbers": [1, -2, 3.5, 2**70, complex(1, 2), True, None],
    "text": {"name": "tiny", "bytes": b"\x00\x01", "array": bytearray(b"ab")},
    "nested": {"a": [{"b": (1, 2, {3, 4})}], "f": frozenset({1})},
    "ordered": collections.OrderedDict([("layer.0.weight", [0.1, 0.2]), ("layer.0.bias", [0.0])]),
    "dates": {"when": datetime.datetime(2026, 1, 1), "span": datetime.timedelta(days=1)},
    "shared": [[1, 2]] * 3,
}
for name, value in BENIGN.items():
    for protocol in range(0, 6):
        with open(os.path.join(benign, f"{name}-p{protocol}.pkl"), "wb") as f:
            f.write(pickle.dumps(value, protocol=protocol))

# A checkpoint as torch.save writes it: a state dict of tensors rebuilt by
# torch._utils._rebuild_tensor_v2 from persistent storage references. A stand-in torch
# package supplies the names, so no torch is needed (or imported by the scanner, ever).
stub = os.path.join(out, "stub")
os.makedirs(os.path.join(stub, "torch"))
with open(os.path.join(stub, "torch", "__init__.py"), "w") as f:
    f.write("class FloatStorage:\n    pass\n")
with open(os.path.join(stub, "torch", "_utils.py"), "w") as f:
    f.write("def _rebuild_tensor_v2(*args):\n    pass\n")
sys.path.insert(0, stub)
import torch  # noqa: E402  (the stand-in)
import torch._utils  # noqa: E402


class Tensor:
    def __reduce__(self):
        return (
            torch._utils._rebuild_tensor_v2,
            (Storage(), 0, (2, 2), (2, 1), False, collections.OrderedDict()),
        )


class Storage:
    pass


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", 4)
        return None


def torch_pickle(protocol):
    buffer = io.BytesIO()
    TorchPickler(buffer, protocol=protocol).dump(
        collections.OrderedDict([("linear.weight", Tensor()), ("linear.bias", Tensor())])
    )
    return buffer.getvalue()


for protocol in (2, 4):
    torch_zip(os.path.join(benign, f"checkpoint-p{protocol}.pt"), torch_pickle(protocol))
with open(os.path.join(benign, "checkpoint-legacy.pkl"), "wb") as f:
    f.write(torch_pickle(2))

header = b'{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}'
with open(os.path.join(benign, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + bytes(16))

gguf = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
gguf += struct.pack("<Q", 20) + b"general.architecture" + struct.pack("<I", 8)
gguf += struct.pack("<Q", 5) + b"llama"
gguf += struct.pack("<Q", 1) + b"w" + struct.pack("<I", 2) + struct.pack("<QQ", 4, 4)
gguf += struct.pack("<IQ", 0, 0) + bytes(64)
with open(os.path.join(benign, "model.gguf"), "wb") as f:
    f.write(gguf)

shutil.rmtree(stub)
