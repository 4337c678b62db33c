//! The tensors a PyTorch checkpoint's `data.pkl` rebuilds, read without running the pickle.
//!
//! `torch.save` pickles a state dict whose values are calls of
//! `torch._utils._rebuild_tensor_v2(storage, offset, shape, stride, ...)`, where `storage` is a
//! persistent id `('storage', torch.<Type>Storage, key, location, numel)` naming the zip member
//! `data/<key>`. This reads just enough of the pickle machine to pair each dict key with such a
//! call: strings, integers, tuples, globals, the memo, marks, and the calls above; every other
//! object stands for itself as an opaque value. Anything it does not know (protocol 0's text
//! opcodes, `OBJ`, protocol 5's buffers, a malformed stream) ends the reading with `None`: the
//! archive's storages then keep their member names. Hostile input is bounded: values nest at
//! most [`MAX_DEPTH`] deep (a tensor's shape and stride must be tuples of integers), copies out
//! of the memo share their contents, a pickle makes at most [`MAX_VALUES`] values, and the
//! names and shapes handed out take at most twice the pickle's length ([`room`]; the pickles
//! of one zip archive share theirs).

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

/// One tensor the pickle stores under a dict key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    /// The key it is stored under (`"encoder.0.weight"`).
    pub name: String,
    /// The storage's class name in the `torch` module (`"FloatStorage"`).
    pub class: String,
    /// The storage's key: its bytes are the zip member `<archive>/data/<key>`.
    pub key: String,
    /// Offset of the tensor's first element in the storage, in elements.
    pub offset: u64,
    /// Its dimensions.
    pub shape: Vec<u64>,
    /// Its strides, in elements.
    pub stride: Vec<u64>,
}

impl TensorRef {
    /// The tensor is the whole storage of `bytes` bytes, in row-major order: the storage's
    /// bytes are exactly the tensor's.
    pub fn covers(&self, bytes: u64) -> bool {
        let Some(size) = element_size(&self.class) else {
            return false;
        };
        let mut numel = 1u64;
        for (&d, &s) in self.shape.iter().zip(&self.stride).rev() {
            if d > 1 && s != numel {
                return false;
            }
            numel = match numel.checked_mul(d) {
                Some(n) => n,
                None => return false,
            };
        }
        self.offset == 0
            && self.shape.len() == self.stride.len()
            && numel.checked_mul(size) == Some(bytes)
    }
}

/// torch's name for the element type of a storage class, and its size in bytes.
const CLASSES: [(&str, &str, u64); 17] = [
    ("FloatStorage", "float32", 4),
    ("HalfStorage", "float16", 2),
    ("BFloat16Storage", "bfloat16", 2),
    ("DoubleStorage", "float64", 8),
    ("LongStorage", "int64", 8),
    ("IntStorage", "int32", 4),
    ("ShortStorage", "int16", 2),
    ("CharStorage", "int8", 1),
    ("ByteStorage", "uint8", 1),
    ("BoolStorage", "bool", 1),
    ("ComplexFloatStorage", "complex64", 8),
    ("ComplexDoubleStorage", "complex128", 16),
    ("Float8_e4m3fnStorage", "float8_e4m3fn", 1),
    ("Float8_e5m2Storage", "float8_e5m2", 1),
    ("QInt8Storage", "qint8", 1),
    ("QUInt8Storage", "quint8", 1),
    ("QInt32Storage", "qint32", 4),
];

/// torch's dtype name for a storage class (`FloatStorage` → `float32`).
pub fn dtype_name(class: &str) -> Option<&'static str> {
    CLASSES.iter().find(|c| c.0 == class).map(|c| c.1)
}

fn element_size(class: &str) -> Option<u64> {
    CLASSES.iter().find(|c| c.0 == class).map(|c| c.2)
}

/// Tuples inside tuples this deep at most: a tensor's call needs two (its arguments, and the
/// shape and stride inside them); deeper ones become opaque. A tensor holds only tuples of
/// integers, so this also bounds the recursion of dropping values.
pub const MAX_DEPTH: usize = 4;

/// Opcodes a pickle may run, each of which makes at most one value (whether that is later
/// dropped, kept in the memo or put in a tuple): `torch.save` runs about 40 a tensor, so this
/// reads pickles of some 25,000 tensors; a longer one gives `None`. It bounds what the reader
/// holds to some 70 MB and three times the pickle's length (strings decoded lossily).
pub const MAX_VALUES: usize = 1 << 20;

/// Longest `module.name` of a `STACK_GLOBAL` kept: its parts may come out of the memo, and
/// joining them copies them; torch's names are short.
const MAX_GLOBAL: usize = 256;

/// A value on the stack or in the memo. Copies (`BINPUT`, `BINGET`, `DUP`) share their
/// contents: a pickle that copies a big tuple again and again costs a pointer a copy.
#[derive(Debug, Clone)]
enum V {
    Mark,
    Str(Rc<str>),
    Int(i64),
    Tuple(Rc<Tuple>),
    /// `module.name`.
    Global(Rc<str>),
    /// A storage: its class's global (`torch.FloatStorage`) and its key, shared.
    Storage(Rc<(Rc<str>, Rc<str>)>),
    Tensor(Rc<Call>),
    /// Any other object.
    Other,
}

#[derive(Debug)]
struct Tuple {
    items: Vec<V>,
    depth: usize,
    /// Every item is an integer: a shape or a stride.
    ints: bool,
}

/// A tensor's rebuild call, its parts shared with the values it was made of (the reader
/// copies nothing a pickle can make large until a tensor is named).
#[derive(Debug)]
struct Call {
    storage: Rc<(Rc<str>, Rc<str>)>,
    offset: u64,
    shape: Rc<Tuple>,
    stride: Rc<Tuple>,
}

impl V {
    fn tuple(items: Vec<V>) -> V {
        let depth = 1 + items
            .iter()
            .map(|v| match v {
                V::Tuple(t) => t.depth,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let ints = items.iter().all(|v| matches!(v, V::Int(_)));
        if depth > MAX_DEPTH {
            V::Other
        } else {
            V::Tuple(Rc::new(Tuple { items, depth, ints }))
        }
    }

    fn str(s: &[u8]) -> V {
        V::Str(String::from_utf8_lossy(s).into())
    }
}

struct Reader<'a> {
    src: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.src.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn le(&mut self, n: usize) -> Option<u64> {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(self.take(n)?);
        Some(u64::from_le_bytes(b))
    }
    fn line(&mut self) -> Option<String> {
        let rest = self.src.get(self.at..)?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        self.at += end + 1;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
    fn text(&mut self, n: u64) -> Option<V> {
        Some(V::str(self.take(usize::try_from(n).ok()?)?))
    }
}

/// What the tensors found in pickles of `len` bytes in all may take, in bytes: names, shapes
/// and strides, each pickled once (a pickle that names one tensor again and again runs out).
pub fn room(len: usize) -> usize {
    len.saturating_mul(2).saturating_add(4096)
}

/// The tensors `pickle` stores under dict keys, in the order it stores them; `None` when the
/// pickle uses anything this reader does not follow, is malformed, or names more than `room`
/// allows (what its tensors take is taken from `room`; nothing on `None`).
pub fn tensors(pickle: &[u8], room: &mut usize) -> Option<Vec<TensorRef>> {
    let mut left = *room;
    let found = read(pickle, &mut left)?;
    *room = left;
    Some(found)
}

fn read(pickle: &[u8], room: &mut usize) -> Option<Vec<TensorRef>> {
    let mut r = Reader { src: pickle, at: 0 };
    let mut stack: Vec<V> = Vec::new();
    let mut memo: BTreeMap<u64, V> = BTreeMap::new();
    let mut found = Vec::new();
    let mut made = 0usize;
    loop {
        let op = r.u8()?;
        match op {
            0x80 => {
                r.u8()?; // PROTO
            }
            0x95 => {
                r.le(8)?; // FRAME
            }
            b'.' => return Some(found), // STOP
            b'c' => {
                let (module, name) = (r.line()?, r.line()?);
                stack.push(V::Global((module + "." + &name).into()));
            }
            0x93 => {
                // STACK_GLOBAL
                let (V::Str(name), V::Str(module)) = (stack.pop()?, stack.pop()?) else {
                    return None;
                };
                stack.push(if module.len() + name.len() < MAX_GLOBAL {
                    V::Global(alloc::format!("{module}.{name}").into())
                } else {
                    V::Other
                });
            }
            b'q' | b'r' | 0x94 => {
                // BINPUT, LONG_BINPUT, MEMOIZE
                let at = match op {
                    b'q' => r.le(1)?,
                    b'r' => r.le(4)?,
                    _ => memo.len() as u64,
                };
                memo.insert(at, stack.last()?.clone());
            }
            b'h' | b'j' => {
                let at = if op == b'h' { r.le(1)? } else { r.le(4)? };
                stack.push(memo.get(&at)?.clone());
            }
            b'2' => {
                stack.push(stack.last()?.clone());
            }
            b'(' => stack.push(V::Mark),
            b')' => stack.push(V::tuple(Vec::new())),
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let items = stack.split_off(stack.len().checked_sub(n)?);
                if items.iter().any(|v| matches!(v, V::Mark)) {
                    return None;
                }
                stack.push(V::tuple(items));
            }
            b't' => {
                let items = to_mark(&mut stack)?;
                stack.push(V::tuple(items));
            }
            b'}' | b']' | 0x8f | b'N' | 0x88 | 0x89 => stack.push(V::Other),
            b'l' | 0x91 => {
                to_mark(&mut stack)?;
                stack.push(V::Other);
            }
            b'd' => {
                let items = to_mark(&mut stack)?;
                pairs(items, &mut found, room)?;
                stack.push(V::Other);
            }
            b'a' => {
                stack.pop()?;
                stack.last()?;
            }
            b'e' | 0x90 => {
                to_mark(&mut stack)?; // APPENDS, ADDITEMS
                stack.last()?;
            }
            b's' => {
                let (value, key) = (stack.pop()?, stack.pop()?);
                stack.last()?;
                pairs(alloc::vec![key, value], &mut found, room)?;
            }
            b'u' => {
                let items = to_mark(&mut stack)?;
                stack.last()?;
                pairs(items, &mut found, room)?;
            }
            b'X' => {
                let n = r.le(4)?;
                stack.push(r.text(n)?);
            }
            0x8c | b'U' => {
                let n = r.le(1)?;
                stack.push(r.text(n)?);
            }
            0x8d => {
                let n = r.le(8)?;
                stack.push(r.text(n)?);
            }
            b'T' => {
                let n = r.le(4)?;
                stack.push(r.text(n)?);
            }
            b'B' | b'C' | 0x8e => {
                let n = match op {
                    b'B' => r.le(4)?,
                    b'C' => r.le(1)?,
                    _ => r.le(8)?,
                };
                r.take(usize::try_from(n).ok()?)?;
                stack.push(V::Other);
            }
            b'K' => stack.push(V::Int(r.le(1)? as i64)),
            b'M' => stack.push(V::Int(r.le(2)? as i64)),
            b'J' => stack.push(V::Int(r.le(4)? as u32 as i32 as i64)),
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = usize::from(r.u8()?);
                let b = r.take(n)?;
                if n == 0 || n > 8 {
                    stack.push(if n == 0 { V::Int(0) } else { V::Other });
                } else {
                    let mut v = [if b[n - 1] & 0x80 != 0 { 0xFF } else { 0 }; 8];
                    v[..n].copy_from_slice(b);
                    stack.push(V::Int(i64::from_le_bytes(v)));
                }
            }
            0x8b => {
                let n = r.le(4)?;
                r.take(usize::try_from(n).ok()?)?;
                stack.push(V::Other);
            }
            b'G' => {
                r.take(8)?;
                stack.push(V::Other);
            }
            b'R' => {
                let (args, callable) = (stack.pop()?, stack.pop()?);
                stack.push(reduce(&callable, &args));
            }
            0x81 => {
                // NEWOBJ
                let (_args, _class) = (stack.pop()?, stack.pop()?);
                stack.push(V::Other);
            }
            0x92 => {
                // NEWOBJ_EX
                let (_kwargs, _args, _class) = (stack.pop()?, stack.pop()?, stack.pop()?);
                stack.push(V::Other);
            }
            b'Q' => {
                let pid = stack.pop()?;
                stack.push(storage(&pid));
            }
            b'b' => {
                stack.pop()?; // BUILD: the state; the object stays as it was
                stack.last()?;
            }
            b'0' => {
                stack.pop()?;
            }
            b'1' => {
                to_mark(&mut stack)?;
            }
            _ => return None,
        }
        if matches!(stack.last(), Some(V::Mark)) && op != b'(' {
            return None;
        }
        made += 1;
        if made > MAX_VALUES {
            return None;
        }
    }
}

/// Pops the values above the topmost mark, and the mark.
fn to_mark(stack: &mut Vec<V>) -> Option<Vec<V>> {
    let at = stack.iter().rposition(|v| matches!(v, V::Mark))?;
    let items = stack.split_off(at + 1);
    stack.pop();
    Some(items)
}

/// Keys and values in turn: the tensors among the values, named by their keys. What the
/// names and shapes take is bounded by the pickle's length (`room`, in bytes), since each
/// name is in the pickle once; a pickle that names one tensor again and again runs out.
fn pairs(items: Vec<V>, found: &mut Vec<TensorRef>, room: &mut usize) -> Option<()> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    for kv in items.chunks_exact(2) {
        let [V::Str(name), V::Tensor(call)] = kv else {
            continue;
        };
        let (global, key) = &*call.storage;
        let dims = call.shape.items.len() + call.stride.items.len();
        *room = room.checked_sub(name.len() + global.len() + key.len() + 8 * dims + 64)?;
        found.push(TensorRef {
            name: String::from(&**name),
            class: String::from(global.strip_prefix("torch.").unwrap_or(global)),
            key: String::from(&**key),
            offset: call.offset,
            shape: ints(&call.shape),
            stride: ints(&call.stride),
        });
    }
    Some(())
}

/// `('storage', torch.<Type>Storage, key, location, numel)`, or an opaque value.
fn storage(pid: &V) -> V {
    if let V::Tuple(t) = pid {
        if let [V::Str(tag), V::Global(class), V::Str(key), ..] = &t.items[..] {
            if &**tag == "storage" && class.starts_with("torch.") {
                return V::Storage(Rc::new((class.clone(), key.clone())));
            }
        }
    }
    V::Other
}

/// A tuple of integers (checked when it was made) as dimensions; negative ones as 0, which no
/// storage's length matches.
fn ints(t: &Tuple) -> Vec<u64> {
    t.items
        .iter()
        .map(|i| match i {
            V::Int(n) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        })
        .collect()
}

/// The calls that build tensors; any other call's result is opaque.
fn reduce(callable: &V, args: &V) -> V {
    let (V::Global(f), V::Tuple(args)) = (callable, args) else {
        return V::Other;
    };
    match (&**f, &args.items[..]) {
        (
            "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor",
            [V::Storage(s), V::Int(offset), V::Tuple(shape), V::Tuple(stride), ..],
        ) if shape.ints && stride.ints => match u64::try_from(*offset) {
            Ok(offset) => V::Tensor(Rc::new(Call {
                storage: s.clone(),
                offset,
                shape: shape.clone(),
                stride: stride.clone(),
            })),
            _ => V::Other,
        },
        // A parameter wraps its tensor.
        (
            "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state",
            [t @ V::Tensor(_), ..],
        ) => t.clone(),
        _ => V::Other,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;

    fn unicode(out: &mut Vec<u8>, s: &str) {
        out.push(b'X');
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// A storage's persistent id, the tuple `BINPERSID` takes (not yet taken).
    fn pid(out: &mut Vec<u8>, class: &str, key: &str) {
        out.push(b'(');
        unicode(out, "storage");
        out.extend_from_slice(alloc::format!("ctorch\n{class}\n").as_bytes());
        unicode(out, key);
        unicode(out, "cpu");
        out.extend_from_slice(b"K\x10t");
    }

    /// What `torch.save` writes for one tensor (protocol 2, as in a real checkpoint): the
    /// rebuild call, its storage's persistent id, offset, shape and stride, memoised.
    fn tensor(out: &mut Vec<u8>, name: &str, class: &str, key: &str, offset: u8, shape: &[u8]) {
        unicode(out, name);
        out.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\nq\x03(");
        pid(out, class, key);
        out.extend_from_slice(b"QK");
        out.push(offset);
        out.push(b'(');
        for &d in shape {
            out.extend_from_slice(&[b'K', d]);
        }
        out.extend_from_slice(b"t(");
        let mut stride = 1u8;
        let mut strides = vec![];
        for &d in shape.iter().rev() {
            strides.push(stride);
            stride = stride.wrapping_mul(d);
        }
        for s in strides.iter().rev() {
            out.extend_from_slice(&[b'K', *s]);
        }
        out.extend_from_slice(b"t\x89ccollections\nOrderedDict\n)Rtq\x04R");
    }

    /// One pickle read alone, with the room of its own length.
    fn tensors(p: &[u8]) -> Option<Vec<TensorRef>> {
        super::tensors(p, &mut room(p.len()))
    }

    /// A state dict's pickle: (name, storage class, storage key, offset, shape) per tensor.
    pub(crate) fn checkpoint(entries: &[(&str, &str, &str, u8, &[u8])]) -> Vec<u8> {
        let mut p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(".to_vec();
        for &(name, class, key, offset, shape) in entries {
            tensor(&mut p, name, class, key, offset, shape);
        }
        p.extend_from_slice(b"u.");
        p
    }

    #[test]
    fn a_state_dict_names_its_storages() {
        let p = checkpoint(&[
            ("conv.weight", "FloatStorage", "0", 0, &[4, 1, 3, 3]),
            ("conv.bias", "BFloat16Storage", "1", 0, &[4]),
            ("head.weight", "HalfStorage", "2", 2, &[2, 2]),
        ]);
        let t = tensors(&p).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].name, "conv.weight");
        assert_eq!(t[0].class, "FloatStorage");
        assert_eq!((t[0].key.as_str(), t[0].offset), ("0", 0));
        assert_eq!(
            (t[0].shape.clone(), t[0].stride.clone()),
            (vec![4, 1, 3, 3], vec![9, 9, 3, 1])
        );
        assert!(t[0].covers(36 * 4) && !t[0].covers(36 * 4 + 4) && !t[0].covers(36 * 2));
        assert_eq!(dtype_name(&t[1].class), Some("bfloat16"));
        assert!(t[1].covers(8));
        // A view at an offset is not the whole storage.
        assert_eq!(t[2].offset, 2);
        assert!(!t[2].covers(8) && !t[2].covers(12));
    }

    #[test]
    fn transposed_views_do_not_cover_their_storage() {
        let mut t = tensors(&checkpoint(&[("w", "FloatStorage", "0", 0, &[2, 3])])).unwrap();
        assert!(t[0].covers(24));
        t[0].stride = vec![1, 2];
        assert!(!t[0].covers(24));
    }

    #[test]
    fn damaged_pickles_give_none_not_a_panic() {
        let p = checkpoint(&[
            ("a", "FloatStorage", "0", 0, &[3]),
            ("b", "LongStorage", "1", 0, &[2, 2]),
        ]);
        for cut in 0..p.len() {
            assert_eq!(tensors(&p[..cut]), None, "cut at {cut}");
        }
        for at in 0..p.len() {
            for x in [0x01u8, 0x80, 0xFF] {
                let mut q = p.clone();
                q[at] ^= x;
                let _ = tensors(&q);
            }
        }
        // Protocol 0's text opcodes are not followed.
        assert_eq!(tensors(b"(dp0\nS'a'\np1\nI1\ns."), None);
    }

    #[test]
    fn hostile_pickles_stop_early() {
        // A memoised pair of pairs doubled again and again (deeper ones are opaque): the
        // copies share, and 2^60 values are never made.
        let mut p = b"\x80\x02K\x01q\x00".to_vec();
        for i in 0..60u8 {
            p.extend_from_slice(&[b'h', i, b'h', i, 0x86, b'q', i + 1]);
        }
        p.extend_from_slice(b"ccollections\nOrderedDict\n)R(");
        for i in 0..60u8 {
            p.extend_from_slice(&[b'h', i, b'h', i]);
        }
        p.extend_from_slice(b"u.");
        assert_eq!(tensors(&p), Some(vec![]));
        // Tuples nested 900,000 deep become opaque before they are deep.
        let mut p = b"\x80\x02)".to_vec();
        p.extend(core::iter::repeat_n(0x85, 900_000));
        p.push(b'.');
        assert_eq!(tensors(&p), Some(vec![]));
        // One long name given to one tensor again and again: what the names take is
        // bounded by the pickle's length (10,000 copies of 100 KB, else).
        let mut p = b"\x80\x02ccollections\nOrderedDict\n)R".to_vec();
        tensor(&mut p, &"n".repeat(100_000), "FloatStorage", "0", 0, &[4]);
        p.extend_from_slice(b"q\x02" /* the tensor */);
        p.extend_from_slice(b"0q\x01" /* its name */);
        p.extend_from_slice(b"0(");
        for _ in 0..10_000 {
            p.extend_from_slice(b"h\x01h\x02");
        }
        p.extend_from_slice(b"u.");
        assert_eq!(tensors(&p), None);
        let once = [&p[..p.len() - 2 - 4 * 9_999], b"u."].concat();
        assert_eq!(tensors(&once).map(|t| t.len()), Some(1));
        // More values than the reader holds.
        let mut p = b"\x80\x02(".to_vec();
        p.extend(core::iter::repeat_n(*b"K\x01", MAX_VALUES + 1).flatten());
        p.extend_from_slice(b"1.");
        assert_eq!(tensors(&p), None);
        // PROTO, MARK, the integers, POP_MARK: MAX_VALUES opcodes.
        let fits = [&p[..3 + 2 * (MAX_VALUES - 3)], b"1."].concat();
        assert_eq!(tensors(&fits), Some(vec![]));
        // A tensor whose shape holds the tensor before it, 90,000 times over: a chain the
        // reader once dropped by recursion (a stack overflow). Shapes and strides must now be
        // tuples of integers, so no tensor is made at all.
        let mut p = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x000".to_vec();
        pid(&mut p, "FloatStorage", "0");
        p.extend_from_slice(b"Qq\x010K\x01\x85q\x020");
        for _ in 0..90_000 {
            p.extend_from_slice(b"h\x00(h\x01K\x00h\x02\x85)tRq\x020");
        }
        p.push(b'.');
        assert_eq!(tensors(&p), Some(vec![]));
        // A long string joined with itself by STACK_GLOBAL, and a long storage key given to
        // BINPERSID, 50,000 times each: 10 GB and 5 GB of copies, once.
        let long = "k".repeat(100_000);
        let mut p = b"\x80\x02".to_vec();
        unicode(&mut p, &long);
        p.extend_from_slice(b"q\x000");
        p.extend(core::iter::repeat_n(*b"h\x00h\x00\x93", 50_000).flatten());
        p.push(b'.');
        assert_eq!(tensors(&p), Some(vec![]));
        let mut p = b"\x80\x02".to_vec();
        pid(&mut p, "FloatStorage", &long);
        p.extend_from_slice(b"q\x000");
        p.extend(core::iter::repeat_n(*b"h\x00Q", 50_000).flatten());
        p.push(b'.');
        assert_eq!(tensors(&p), Some(vec![]));
        // One tensor of 250,000 dimensions named 10,000 times: each name's shape is charged
        // before it is copied out (once, a quadratic pass of 45 s for a 1 MB pickle).
        let mut p = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(".to_vec();
        pid(&mut p, "FloatStorage", "0");
        p.extend_from_slice(b"QK\x00(");
        p.extend(core::iter::repeat_n(*b"K\x01", 250_000).flatten());
        p.extend_from_slice(b"t(K\x01t\x89tRq\x01X\x01\x00\x00\x00wq\x00}(");
        p.extend(core::iter::repeat_n(*b"h\x00h\x01", 10_000).flatten());
        p.extend_from_slice(b"u.");
        assert_eq!(tensors(&p), None);
        // Marks without end, and ends without marks.
        assert_eq!(tensors(&[b'('; 1000]), None);
        assert_eq!(tensors(b"\x80\x02t."), None);
        assert_eq!(tensors(b"\x80\x02(\x85."), None);
    }
}
