//! Static analysis of pickle streams (protocols 0 to 5): which callables a pickle imports when
//! loaded, found by walking its opcodes with a model of the unpickler's stack and memo, never
//! by loading it. Everything is bounded: line lengths, kept strings, stack, memo; the walk is a
//! loop, so no nesting depth can exhaust the native stack.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufRead, Read};
use std::rc::Rc;

/// Strings longer than this are not kept (no module or name is this long).
const MAX_KEPT_STRING: u64 = 1024;
/// The longest text line an opcode may carry (protocol 0).
const MAX_LINE: usize = 64 << 10;
/// The most stack entries and memo entries modelled.
const MAX_STACK: usize = 1 << 20;
const MAX_MEMO: usize = 1 << 20;
/// Nesting deeper than this is noted: what loads it may recurse that deep (repr, comparisons).
pub const DEEP_NESTING: usize = 1000;
/// The most distinct imports and problems recorded.
const MAX_IMPORTS: usize = 10_000;
const MAX_PROBLEMS: usize = 64;
/// PyTorch's legacy format: five pickles (magic number, protocol, system info, the object,
/// the storage keys), then raw tensor data, which is not walked.
const LEGACY_PICKLES: usize = 5;
const HIGHEST_PROTOCOL: u8 = 5;

/// An import a pickle performs: `module.name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Import {
    pub module: String,
    pub name: String,
}

/// What the walk found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    pub imports: BTreeSet<Import>,
    /// Reasons the pickle could not be analysed completely, or looks built to evade analysis.
    pub problems: Vec<String>,
    /// How many complete pickles were read.
    pub pickles: usize,
    pub deepest_nesting: usize,
}

/// A modelled stack entry. Strings are shared, so DUP and memo reads copy nothing.
#[derive(Clone, Debug)]
enum Item {
    Mark,
    Str(Rc<str>),
    Other,
}

/// Why one pickle's walk stopped early.
enum Stop {
    Eof,
    Malformed(String),
    /// One of this walker's own bounds, which Python does not have: always reported.
    Limit(String),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Stop::Eof
        } else {
            Stop::Malformed(e.to_string())
        }
    }
}

/// Walks every pickle in `reader`, one after another (PyTorch's legacy format holds several,
/// then raw tensor data, which ends the walk). Imports seen in a pickle that turns out to be
/// broken still count. `Err` only for failures to read the input itself.
pub fn analyse(reader: impl Read) -> io::Result<Analysis> {
    let mut input = io::BufReader::with_capacity(64 << 10, reader);
    let mut analysis = Analysis::default();
    loop {
        if input.fill_buf()?.is_empty() {
            if analysis.pickles == 0 {
                analysis.problem("the file is empty, not a pickle".into());
            }
            return Ok(analysis);
        }
        if analysis.pickles >= LEGACY_PICKLES {
            return Ok(analysis);
        }
        let mut walk = Walk::default();
        let result = walk.run(&mut input, &mut analysis);
        analysis.deepest_nesting = analysis.deepest_nesting.max(walk.deepest);
        match result {
            Ok(()) => analysis.pickles = analysis.pickles.saturating_add(1),
            Err(Stop::Limit(reason)) => {
                analysis.problem(format!(
                    "the pickle goes past a bound of this analysis: {reason}"
                ));
                return Ok(analysis);
            }
            // What follows complete pickles need not be a pickle (PyTorch's raw storages):
            // data that does not even begin like one ends the walk.
            Err(_) if analysis.pickles > 0 && walk.opcodes <= 1 => return Ok(analysis),
            Err(Stop::Eof) => {
                analysis.problem(format!(
                    "the pickle is truncated: it ends before its STOP opcode{}",
                    after(analysis.pickles)
                ));
                return Ok(analysis);
            }
            Err(Stop::Malformed(reason)) => {
                analysis.problem(format!(
                    "the pickle is malformed: {reason}{}",
                    after(analysis.pickles)
                ));
                return Ok(analysis);
            }
        }
    }
}

fn after(pickles: usize) -> String {
    if pickles == 0 {
        String::new()
    } else {
        format!(" (after {pickles} complete pickles)")
    }
}

impl Analysis {
    /// Records a problem once, up to a bound.
    fn problem(&mut self, problem: String) {
        if !self.problems.contains(&problem) && self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        }
    }
}

#[derive(Default)]
struct Walk {
    stack: Vec<Item>,
    memo: HashMap<u64, Item>,
    marks: usize,
    deepest: usize,
    /// Opcodes read so far.
    opcodes: u64,
}

fn read_u8(input: &mut impl BufRead) -> Result<u8, Stop> {
    let [byte] = read_le::<1>(input)?;
    Ok(byte)
}

fn read_le<const N: usize>(input: &mut impl BufRead) -> Result<[u8; N], Stop> {
    let mut b = [0u8; N];
    input.read_exact(&mut b)?;
    Ok(b)
}

fn read_line(input: &mut impl BufRead) -> Result<String, Stop> {
    let mut line = Vec::new();
    let n = input
        .take((MAX_LINE as u64).saturating_add(1))
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(Stop::Eof);
    }
    if line.pop() != Some(b'\n') {
        return Err(if n > MAX_LINE {
            Stop::Limit(format!("a text argument is over {MAX_LINE} bytes"))
        } else {
            Stop::Eof
        });
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Reads `len` bytes of an argument: kept as a string if short, skipped otherwise.
fn read_data(input: &mut impl BufRead, len: u64, text: bool) -> Result<Item, Stop> {
    if text && len <= MAX_KEPT_STRING {
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        input.read_exact(&mut bytes)?;
        return Ok(Item::Str(Rc::from(
            String::from_utf8_lossy(&bytes).as_ref(),
        )));
    }
    let skipped = io::copy(&mut input.take(len), &mut io::sink())?;
    if skipped < len {
        return Err(Stop::Eof);
    }
    Ok(Item::Other)
}

impl Walk {
    fn push(&mut self, item: Item) -> Result<(), Stop> {
        if self.stack.len() >= MAX_STACK {
            return Err(Stop::Limit(format!(
                "its stack grows past {MAX_STACK} entries"
            )));
        }
        if matches!(item, Item::Mark) {
            self.marks = self.marks.saturating_add(1);
            self.deepest = self.deepest.max(self.marks);
        }
        self.stack.push(item);
        Ok(())
    }

    fn pop(&mut self) -> Result<Item, Stop> {
        let item = self
            .stack
            .pop()
            .ok_or_else(|| Stop::Malformed("it pops an empty stack".into()))?;
        if matches!(item, Item::Mark) {
            self.marks = self.marks.saturating_sub(1);
        }
        Ok(item)
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<Item>, Stop> {
        (0..n).map(|_| self.pop()).collect()
    }

    /// Pops down to and including the topmost mark; returns the items above it, bottom first.
    fn pop_mark(&mut self) -> Result<Vec<Item>, Stop> {
        let at = self
            .stack
            .iter()
            .rposition(|i| matches!(i, Item::Mark))
            .ok_or_else(|| Stop::Malformed("it uses a mark that was never set".into()))?;
        let above = self.stack.split_off(at.saturating_add(1));
        self.stack.pop();
        self.marks = self.marks.saturating_sub(1);
        Ok(above)
    }

    fn top(&self) -> Result<Item, Stop> {
        self.stack
            .last()
            .cloned()
            .ok_or_else(|| Stop::Malformed("it reads an empty stack".into()))
    }

    fn memo_put(&mut self, index: u64) -> Result<(), Stop> {
        let top = self.top()?;
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&index) {
            return Err(Stop::Malformed(format!(
                "its memo grows past {MAX_MEMO} entries"
            )));
        }
        self.memo.insert(index, top);
        Ok(())
    }

    fn memo_get(&mut self, index: u64) -> Result<(), Stop> {
        let item =
            self.memo.get(&index).cloned().ok_or_else(|| {
                Stop::Malformed(format!("it reads memo entry {index}, never set"))
            })?;
        self.push(item)
    }

    fn import(analysis: &mut Analysis, module: &str, name: &str) -> Result<(), Stop> {
        if analysis.imports.len() >= MAX_IMPORTS {
            return Err(Stop::Limit(format!(
                "it imports over {MAX_IMPORTS} distinct names"
            )));
        }
        analysis.imports.insert(Import {
            module: module.to_string(),
            name: name.to_string(),
        });
        Ok(())
    }

    /// Walks one pickle up to its STOP.
    fn run(&mut self, input: &mut impl BufRead, analysis: &mut Analysis) -> Result<(), Stop> {
        loop {
            let opcode = read_u8(input)?;
            self.opcodes = self.opcodes.saturating_add(1);
            match opcode {
                b'.' => return Ok(()),
                b'(' => self.push(Item::Mark)?,
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.push(top)?;
                }
                // Numbers and constants: pushed, never called.
                b'F' | b'I' | b'L' => {
                    read_line(input)?;
                    self.push(Item::Other)?;
                }
                b'J' => {
                    read_le::<4>(input)?;
                    self.push(Item::Other)?;
                }
                b'K' => {
                    read_le::<1>(input)?;
                    self.push(Item::Other)?;
                }
                b'M' => {
                    read_le::<2>(input)?;
                    self.push(Item::Other)?;
                }
                b'G' => {
                    read_le::<8>(input)?;
                    self.push(Item::Other)?;
                }
                b'N' | 0x88 | 0x89 | b'}' | b']' | b')' | 0x8f => self.push(Item::Other)?,
                0x8a => {
                    let len = u64::from(read_u8(input)?);
                    read_data(input, len, false)?;
                    self.push(Item::Other)?;
                }
                0x8b => {
                    let len = u64::from(u32::from_le_bytes(read_le::<4>(input)?));
                    read_data(input, len, false)?;
                    self.push(Item::Other)?;
                }
                // Strings: kept when short, as an import's operands may come from them.
                b'S' | b'V' => {
                    let line = read_line(input)?;
                    let text = line.trim_matches(|c| c == '\'' || c == '"');
                    let item = if text.len() as u64 <= MAX_KEPT_STRING {
                        Item::Str(Rc::from(text))
                    } else {
                        Item::Other
                    };
                    self.push(item)?;
                }
                b'T' | b'X' => {
                    let len = u64::from(u32::from_le_bytes(read_le::<4>(input)?));
                    let item = read_data(input, len, true)?;
                    self.push(item)?;
                }
                b'U' | 0x8c => {
                    let len = u64::from(read_u8(input)?);
                    let item = read_data(input, len, true)?;
                    self.push(item)?;
                }
                0x8d => {
                    let len = u64::from_le_bytes(read_le::<8>(input)?);
                    let item = read_data(input, len, true)?;
                    self.push(item)?;
                }
                b'B' => {
                    let len = u64::from(u32::from_le_bytes(read_le::<4>(input)?));
                    read_data(input, len, false)?;
                    self.push(Item::Other)?;
                }
                b'C' => {
                    let len = u64::from(read_u8(input)?);
                    read_data(input, len, false)?;
                    self.push(Item::Other)?;
                }
                0x8e | 0x96 => {
                    let len = u64::from_le_bytes(read_le::<8>(input)?);
                    read_data(input, len, false)?;
                    self.push(Item::Other)?;
                }
                0x97 => self.push(Item::Other)?,
                0x98 => {}
                // Containers.
                b'a' | b'b' => {
                    self.pop()?;
                }
                b's' => {
                    self.pop_n(2)?;
                }
                b'e' | b'u' | 0x90 => {
                    self.pop_mark()?;
                }
                b'd' | b'l' | b't' | 0x91 => {
                    self.pop_mark()?;
                    self.push(Item::Other)?;
                }
                0x85 => {
                    self.pop()?;
                    self.push(Item::Other)?;
                }
                0x86 => {
                    self.pop_n(2)?;
                    self.push(Item::Other)?;
                }
                0x87 => {
                    self.pop_n(3)?;
                    self.push(Item::Other)?;
                }
                // Memo.
                b'p' => {
                    let index = memo_index(&read_line(input)?)?;
                    self.memo_put(index)?;
                }
                b'q' => {
                    let index = u64::from(read_u8(input)?);
                    self.memo_put(index)?;
                }
                b'r' => {
                    let index = u64::from(u32::from_le_bytes(read_le::<4>(input)?));
                    self.memo_put(index)?;
                }
                0x94 => {
                    let index = self.memo.len() as u64;
                    self.memo_put(index)?;
                }
                b'g' => {
                    let index = memo_index(&read_line(input)?)?;
                    self.memo_get(index)?;
                }
                b'h' => {
                    let index = u64::from(read_u8(input)?);
                    self.memo_get(index)?;
                }
                b'j' => {
                    let index = u64::from(u32::from_le_bytes(read_le::<4>(input)?));
                    self.memo_get(index)?;
                }
                // Imports and calls: what this analysis is for.
                b'c' => {
                    let module = read_line(input)?;
                    let name = read_line(input)?;
                    Self::import(analysis, &module, &name)?;
                    self.push(Item::Other)?;
                }
                b'i' => {
                    let module = read_line(input)?;
                    let name = read_line(input)?;
                    Self::import(analysis, &module, &name)?;
                    self.pop_mark()?;
                    self.push(Item::Other)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Item::Str(module), Item::Str(name)) => {
                            Self::import(analysis, &module, &name)?;
                        }
                        _ => analysis.problem(
                            "it imports a callable whose name is computed, not written: it cannot be checked".into(),
                        ),
                    }
                    self.push(Item::Other)?;
                }
                0x82..=0x84 => {
                    let width = match opcode {
                        0x82 => 1,
                        0x83 => 2,
                        _ => 4,
                    };
                    let mut code = vec![0u8; width];
                    input.read_exact(&mut code)?;
                    analysis.problem(
                        "it imports through copyreg's extension registry (EXT opcodes): the callable cannot be known".into(),
                    );
                    self.push(Item::Other)?;
                }
                b'R' | 0x81 => {
                    self.pop_n(2)?;
                    self.push(Item::Other)?;
                }
                0x92 => {
                    self.pop_n(3)?;
                    self.push(Item::Other)?;
                }
                b'o' => {
                    self.pop_mark()?;
                    self.push(Item::Other)?;
                }
                b'P' => {
                    read_line(input)?;
                    self.push(Item::Other)?;
                }
                b'Q' => {
                    self.pop()?;
                    self.push(Item::Other)?;
                }
                // Framing and protocol: no effect on what is loaded.
                0x80 => {
                    let protocol = read_u8(input)?;
                    if protocol > HIGHEST_PROTOCOL {
                        return Err(Stop::Malformed(format!(
                            "it declares protocol {protocol}, which no Python reads"
                        )));
                    }
                }
                0x95 => {
                    read_le::<8>(input)?;
                }
                other => {
                    return Err(Stop::Malformed(format!("unknown opcode 0x{other:02x}")));
                }
            }
        }
    }
}

/// A memo index as Python's `int()` reads it (whitespace, a sign, underscores).
fn memo_index(text: &str) -> Result<u64, Stop> {
    let digits: String = text.trim().chars().filter(|c| *c != '_').collect();
    digits
        .strip_prefix('+')
        .unwrap_or(&digits)
        .parse()
        .map_err(|_| Stop::Malformed(format!("memo index {text:?} is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imports(bytes: &[u8]) -> Vec<String> {
        analyse(bytes)
            .unwrap()
            .imports
            .into_iter()
            .map(|i| format!("{}.{}", i.module, i.name))
            .collect()
    }

    #[test]
    fn finds_global_imports_in_protocol_0() {
        // cos\nsystem\n(S'echo hi'\ntR.  = os.system('echo hi')
        let bytes = b"cos\nsystem\n(S'echo hi'\ntR.";
        assert_eq!(imports(bytes), vec!["os.system"]);
        let analysis = analyse(&bytes[..]).unwrap();
        assert!(analysis.problems.is_empty(), "{:?}", analysis.problems);
        assert_eq!(analysis.pickles, 1);
    }

    #[test]
    fn finds_stack_global_imports_through_the_memo() {
        // protocol 4: SHORT_BINUNICODE 'posix' MEMOIZE, SHORT_BINUNICODE 'system' MEMOIZE,
        // STACK_GLOBAL, then BINGET 0 BINGET 1 STACK_GLOBAL again.
        let mut bytes = vec![0x80, 4, 0x95];
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&[0x8c, 5]);
        bytes.extend_from_slice(b"posix");
        bytes.push(0x94);
        bytes.extend_from_slice(&[0x8c, 6]);
        bytes.extend_from_slice(b"system");
        bytes.push(0x94);
        bytes.push(0x93);
        bytes.extend_from_slice(&[b'h', 0, b'h', 1, 0x93, b'0', b'.']);
        assert_eq!(imports(&bytes), vec!["posix.system"]);
    }

    #[test]
    fn a_computed_import_is_a_problem() {
        // Two non-string operands to STACK_GLOBAL.
        let bytes = [0x80, 4, b'N', b'N', 0x93, b'.'];
        let analysis = analyse(&bytes[..]).unwrap();
        assert!(analysis.imports.is_empty());
        assert!(
            analysis.problems[0].contains("computed"),
            "{:?}",
            analysis.problems
        );
    }

    #[test]
    fn truncated_malformed_and_empty_pickles_are_problems() {
        for (bytes, needle) in [
            (&b"cos\nsys"[..], "truncated"),
            (&b"\x80\x02]q\x00(K\x01"[..], "truncated"),
            (&b"\xff"[..], "unknown opcode"),
            (&b"\x80\x09."[..], "protocol 9"),
            (&b"0."[..], "empty stack"),
            (&b"h\x05."[..], "never set"),
            (&b""[..], "empty"),
        ] {
            let analysis = analyse(bytes).unwrap();
            assert!(
                analysis.problems.iter().any(|p| p.contains(needle)),
                "{bytes:?}: {:?}",
                analysis.problems
            );
        }
        // An import before the break still counts.
        assert_eq!(imports(b"cos\nsystem\n("), vec!["os.system"]);
    }

    #[test]
    fn deep_nesting_is_walked_without_recursion() {
        let mut bytes = vec![0x80, 2];
        bytes.extend(std::iter::repeat_n(b']', 1));
        bytes.extend(std::iter::repeat_n(b'(', 100_000));
        bytes.extend(std::iter::repeat_n(b'l', 100_000));
        bytes.push(b'.');
        let analysis = analyse(&bytes[..]).unwrap();
        assert_eq!(analysis.deepest_nesting, 100_000);
        assert_eq!(analysis.pickles, 1);
    }

    #[test]
    fn a_broken_pickle_after_a_complete_one_is_a_problem() {
        // A second pickle that begins like one and hides an import behind a long line.
        let mut bytes = b"K\x01.".to_vec();
        bytes.extend_from_slice(b"S'");
        bytes.extend(std::iter::repeat_n(b'a', 70 << 10));
        bytes.extend_from_slice(b"'\n0cos\nsystem\n.");
        let analysis = analyse(&bytes[..]).unwrap();
        assert!(
            analysis.problems[0].contains("bound"),
            "{:?}",
            analysis.problems
        );
        // A memo index written as Python's int() reads it.
        let analysis = analyse(&b"cos\nsystem\np1_0\n0g1_0\n."[..]).unwrap();
        assert!(analysis.problems.is_empty(), "{:?}", analysis.problems);
    }

    #[test]
    fn data_after_complete_pickles_ends_the_walk() {
        let mut bytes = b"K\x01.K\x02.".to_vec();
        bytes.extend_from_slice(&[0xff; 64]);
        let analysis = analyse(&bytes[..]).unwrap();
        assert_eq!(analysis.pickles, 2);
        assert!(analysis.problems.is_empty());
    }

    #[test]
    fn large_arguments_are_skipped_not_kept() {
        let mut bytes = vec![0x80, 4, 0x8e];
        bytes.extend_from_slice(&(1u64 << 20).to_le_bytes());
        bytes.extend(std::iter::repeat_n(0u8, 1 << 20));
        bytes.extend_from_slice(b"0.");
        let analysis = analyse(&bytes[..]).unwrap();
        assert_eq!(analysis.pickles, 1);
        // A length that runs past the end is a truncation, not an allocation.
        let mut huge = vec![0x80, 4, 0x8e];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        let analysis = analyse(&huge[..]).unwrap();
        assert!(analysis.problems[0].contains("truncated"));
    }
}
