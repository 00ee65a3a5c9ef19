//! What a pickle's imports mean: a deny list of callables that run code, touch the system or
//! the network when a pickle is loaded (each finding names why), an allow list of what model
//! checkpoints need (PyTorch tensor rebuilding, NumPy arrays, plain containers), and everything
//! else flagged for review.

use super::Severity;
use super::pickle::Import;

/// Modules denied whole, with the severity of importing anything from them and why.
const DENIED_MODULES: &[(&str, Severity, &str)] = &[
    ("os", Severity::Critical, "runs commands and touches files"),
    (
        "posix",
        Severity::Critical,
        "runs commands and touches files",
    ),
    ("nt", Severity::Critical, "runs commands and touches files"),
    ("sys", Severity::Critical, "reaches the interpreter"),
    ("subprocess", Severity::Critical, "runs commands"),
    ("pty", Severity::Critical, "runs commands"),
    ("commands", Severity::Critical, "runs commands"),
    ("popen2", Severity::Critical, "runs commands"),
    ("platform", Severity::Critical, "runs commands"),
    ("runpy", Severity::Critical, "runs code"),
    ("code", Severity::Critical, "runs code"),
    ("codeop", Severity::Critical, "compiles code"),
    ("timeit", Severity::Critical, "runs code"),
    ("cProfile", Severity::Critical, "runs code"),
    ("profile", Severity::Critical, "runs code"),
    ("trace", Severity::Critical, "runs code"),
    ("bdb", Severity::Critical, "runs code"),
    ("pdb", Severity::Critical, "runs code"),
    ("doctest", Severity::Critical, "runs code"),
    ("importlib", Severity::Critical, "imports anything"),
    ("imp", Severity::Critical, "imports anything"),
    ("ctypes", Severity::Critical, "calls native code"),
    ("marshal", Severity::Critical, "loads code objects"),
    (
        "types",
        Severity::Critical,
        "builds functions and code objects",
    ),
    ("pickle", Severity::Critical, "loads another pickle"),
    ("_pickle", Severity::Critical, "loads another pickle"),
    ("cPickle", Severity::Critical, "loads another pickle"),
    ("dill", Severity::Critical, "loads another pickle"),
    ("shelve", Severity::Critical, "loads another pickle"),
    ("multiprocessing", Severity::Critical, "starts processes"),
    ("asyncio", Severity::Critical, "runs commands"),
    ("signal", Severity::Critical, "controls the process"),
    ("shutil", Severity::Critical, "moves and deletes files"),
    ("tempfile", Severity::High, "writes files"),
    ("glob", Severity::High, "reads the file system"),
    ("pathlib", Severity::High, "reads and writes files"),
    ("io", Severity::High, "opens files"),
    ("socket", Severity::Critical, "opens network connections"),
    ("ssl", Severity::High, "opens network connections"),
    ("http", Severity::High, "opens network connections"),
    ("httplib", Severity::High, "opens network connections"),
    ("urllib", Severity::High, "opens network connections"),
    ("urllib2", Severity::High, "opens network connections"),
    ("urllib3", Severity::High, "opens network connections"),
    ("requests", Severity::High, "opens network connections"),
    ("aiohttp", Severity::High, "opens network connections"),
    ("ftplib", Severity::High, "opens network connections"),
    ("smtplib", Severity::High, "opens network connections"),
    ("telnetlib", Severity::High, "opens network connections"),
    ("paramiko", Severity::High, "opens network connections"),
    ("webbrowser", Severity::High, "opens URLs"),
    ("torch.hub", Severity::Critical, "downloads and runs code"),
    ("pip", Severity::Critical, "installs packages"),
];

/// Single callables denied from modules that are otherwise harmless.
const DENIED_CALLABLES: &[(&str, &str, Severity, &str)] = &[
    ("builtins", "eval", Severity::Critical, "runs code"),
    ("builtins", "exec", Severity::Critical, "runs code"),
    ("builtins", "compile", Severity::Critical, "compiles code"),
    (
        "builtins",
        "__import__",
        Severity::Critical,
        "imports anything",
    ),
    (
        "builtins",
        "getattr",
        Severity::Critical,
        "reaches any attribute",
    ),
    (
        "builtins",
        "setattr",
        Severity::Critical,
        "changes any attribute",
    ),
    (
        "builtins",
        "delattr",
        Severity::Critical,
        "changes any attribute",
    ),
    (
        "builtins",
        "globals",
        Severity::Critical,
        "reaches the interpreter",
    ),
    (
        "builtins",
        "locals",
        Severity::Critical,
        "reaches the interpreter",
    ),
    (
        "builtins",
        "vars",
        Severity::Critical,
        "reaches the interpreter",
    ),
    ("builtins", "open", Severity::Critical, "opens files"),
    (
        "builtins",
        "breakpoint",
        Severity::Critical,
        "starts a debugger",
    ),
    ("builtins", "input", Severity::High, "reads the terminal"),
    ("builtins", "apply", Severity::Critical, "calls anything"),
    ("builtins", "execfile", Severity::Critical, "runs code"),
    ("builtins", "file", Severity::Critical, "opens files"),
    (
        "operator",
        "attrgetter",
        Severity::Critical,
        "reaches any attribute",
    ),
    (
        "operator",
        "methodcaller",
        Severity::Critical,
        "calls any method",
    ),
    ("functools", "partial", Severity::High, "chains calls"),
    ("functools", "reduce", Severity::High, "chains calls"),
    ("torch", "load", Severity::Critical, "loads another pickle"),
    (
        "torch.serialization",
        "load",
        Severity::Critical,
        "loads another pickle",
    ),
    (
        "torch.storage",
        "_load_from_bytes",
        Severity::High,
        "loads another pickle",
    ),
    ("numpy", "load", Severity::High, "loads another pickle"),
    (
        "numpy.testing._private.utils",
        "runstring",
        Severity::Critical,
        "runs code",
    ),
];

/// Imports model checkpoints need, which load no code.
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "torch._utils",
        &[
            "_rebuild_tensor",
            "_rebuild_tensor_v2",
            "_rebuild_tensor_v3",
            "_rebuild_parameter",
            "_rebuild_parameter_with_state",
            "_rebuild_sparse_tensor",
            "_rebuild_qtensor",
            "_rebuild_device_tensor_from_numpy",
            "_rebuild_meta_tensor_no_storage",
            "_rebuild_nested_tensor",
            "_rebuild_wrapper_subclass",
        ],
    ),
    (
        "torch",
        &[
            "FloatStorage",
            "DoubleStorage",
            "HalfStorage",
            "BFloat16Storage",
            "LongStorage",
            "IntStorage",
            "ShortStorage",
            "CharStorage",
            "ByteStorage",
            "BoolStorage",
            "ComplexFloatStorage",
            "ComplexDoubleStorage",
            "QInt8Storage",
            "QUInt8Storage",
            "QInt32Storage",
            "Size",
            "device",
            "float32",
            "float16",
            "bfloat16",
            "float64",
            "int64",
            "int32",
            "int16",
            "int8",
            "uint8",
            "bool",
            "complex64",
            "complex128",
        ],
    ),
    ("torch.storage", &["UntypedStorage", "TypedStorage"]),
    (
        "collections",
        &["OrderedDict", "defaultdict", "Counter", "deque"],
    ),
    (
        "builtins",
        &[
            "set",
            "frozenset",
            "list",
            "dict",
            "tuple",
            "int",
            "float",
            "complex",
            "bytes",
            "bytearray",
            "str",
            "bool",
            "slice",
            "range",
            "object",
        ],
    ),
    ("copyreg", &["_reconstructor"]),
    ("copy_reg", &["_reconstructor"]),
    ("numpy", &["ndarray", "dtype"]),
    ("numpy.core.multiarray", &["_reconstruct", "scalar"]),
    ("numpy._core.multiarray", &["_reconstruct", "scalar"]),
    ("_codecs", &["encode"]),
    (
        "datetime",
        &["datetime", "date", "time", "timedelta", "timezone"],
    ),
];

/// Python 2 names for `builtins`.
fn canonical_module(module: &str) -> &str {
    match module {
        "__builtin__" | "__builtins__" => "builtins",
        other => other,
    }
}

fn in_module(module: &str, denied: &str) -> bool {
    module == denied
        || module
            .strip_prefix(denied)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The severity of an import and why; `None` for an allowed one.
pub fn judge(import: &Import) -> Option<(Severity, String)> {
    let module = canonical_module(&import.module);
    let name = import.name.as_str();
    let full = format!("{}.{name}", import.module);
    if let Some((_, severity, why)) = DENIED_MODULES.iter().find(|(m, _, _)| in_module(module, m)) {
        return Some((*severity, format!("imports {full}, which {why}")));
    }
    if let Some((_, _, severity, why)) = DENIED_CALLABLES
        .iter()
        .find(|(m, n, _, _)| *m == module && *n == name)
    {
        return Some((*severity, format!("imports {full}, which {why}")));
    }
    if ALLOWED
        .iter()
        .any(|(m, names)| *m == module && names.contains(&name))
    {
        return None;
    }
    // From protocol 4 on, the unpickler follows dotted names from the module it imports
    // (`numpy.dtypes` / `__builtins__.get`), reaching anything.
    if name.contains('.') {
        return Some((
            Severity::High,
            format!("imports {full}, a dotted name that reaches through an attribute chain"),
        ));
    }
    Some((
        Severity::Medium,
        format!("imports {full}, which is not on the allow list: review it before loading"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(module: &str, name: &str) -> Option<Severity> {
        judge(&Import {
            module: module.into(),
            name: name.into(),
        })
        .map(|(s, _)| s)
    }

    #[test]
    fn denies_allows_and_flags_the_rest() {
        assert_eq!(judged("posix", "system"), Some(Severity::Critical));
        assert_eq!(judged("os.path", "join"), Some(Severity::Critical));
        assert_eq!(judged("__builtin__", "eval"), Some(Severity::Critical));
        assert_eq!(judged("webbrowser", "open"), Some(Severity::High));
        assert_eq!(judged("torch._utils", "_rebuild_tensor_v2"), None);
        assert_eq!(judged("collections", "OrderedDict"), None);
        assert_eq!(judged("builtins", "set"), None);
        assert_eq!(judged("osmosis", "run"), Some(Severity::Medium));
        assert_eq!(judged("mymodule", "Net"), Some(Severity::Medium));
        assert_eq!(
            judged("numpy.dtypes", "__builtins__.get"),
            Some(Severity::High)
        );
        assert_eq!(
            judged("collections", "OrderedDict.fromkeys"),
            Some(Severity::High)
        );
    }
}
