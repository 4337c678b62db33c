//! PyTorch checkpoints (`torch.save`, `.pth`/`.bin`/`.pt`) and TorchScript files are zip
//! archives whose tensor storages are stored uncompressed as `<archive>/data/<key>` entries.
//! We read the central directory (zip64 included) to locate them. The element types and the
//! tensors' names live in the pickle `<archive>/data.pkl`, which we read without running it
//! ([`super::pickle`]): a storage that holds exactly one named tensor, whole, takes its name,
//! type name and shape; the others keep their member names (with the type name where the
//! pickle gives one). Each storage's grouping is
//! measured either way (an fp32 storage of fp16-exact values codes best in its own way).
//! NumPy's `.npz` archives are zips too: their stored `.npy` members name their types.

use super::tensors::{shape, Tensor};
use super::{npy, pickle, Container};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

const EOCD: u32 = 0x0605_4b50;
const EOCD64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?) as u64)
}
fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?) as u64)
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?).into()
}

/// (central directory offset, entry count), from the end-of-central-directory records.
fn directory(data: &[u8]) -> Option<(usize, u64)> {
    let from = data.len().saturating_sub(22 + 0xFFFF);
    let at = (from..=data.len().checked_sub(22)?)
        .rev()
        .find(|&i| u32_at(data, i) == Some(EOCD as u64))?;
    let (mut count, mut offset) = (u16_at(data, at + 10)?, u32_at(data, at + 16)?);
    // Without a zip64 locator those values are what they say: Python's zipfile writes exactly
    // 65,535 entries so.
    let loc = at
        .checked_sub(20)
        .filter(|&l| u32_at(data, l) == Some(LOCATOR64 as u64));
    if let Some(loc) = loc.filter(|_| count == 0xFFFF || offset == 0xFFFF_FFFF) {
        let e64 = usize::try_from(u64_at(data, loc + 8)?).ok()?;
        if u32_at(data, e64)? != EOCD64 as u64 {
            return None;
        }
        count = u64_at(data, e64 + 32)?;
        offset = u64_at(data, e64 + 48)?;
    }
    Some((usize::try_from(offset).ok()?, count))
}

/// The storages of a PyTorch zip archive or the arrays of an `.npz` (the container is `Npz`
/// when there are arrays and no storages), or `None` if `data` is not a zip archive.
pub fn tensors(data: &[u8]) -> Option<(Container, Vec<Tensor>)> {
    if u32_at(data, 0)? != LOCAL as u64 {
        return None;
    }
    let (mut at, count) = directory(data)?;
    let mut out = Vec::new();
    // Member ranges taken so far (start -> end). Many entries can name one member: each is read
    // once, so a hostile directory cannot make the .npy headers parse (and copy) again and again.
    let mut taken: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut storages, mut arrays, mut npy_names) = (0, 0, 0);
    // Each archive's pickle (`<archive>/data.pkl`, stored), by archive.
    let mut pickles: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for _ in 0..count {
        if u32_at(data, at)? != CENTRAL as u64 {
            return None;
        }
        let method = u16_at(data, at + 10)?;
        let (mut csize, mut usize_, mut local) = (
            u32_at(data, at + 20)?,
            u32_at(data, at + 24)?,
            u32_at(data, at + 42)?,
        );
        let (n, e, c) = (
            u16_at(data, at + 28)? as usize,
            u16_at(data, at + 30)? as usize,
            u16_at(data, at + 32)? as usize,
        );
        let name = data.get(at + 46..at + 46 + n)?;
        let extra = data.get(at + 46 + n..at + 46 + n + e)?;
        // zip64 extra field: the 0xFFFFFFFF fields, in the order usize, csize, offset.
        let mut p = 0;
        while p + 4 <= extra.len() {
            let (id, len) = (u16_at(extra, p)?, u16_at(extra, p + 2)? as usize);
            if id == 1 {
                let mut q = p + 4;
                for v in [&mut usize_, &mut csize, &mut local] {
                    if *v == 0xFFFF_FFFF {
                        *v = u64_at(extra, q)?;
                        q += 8;
                    }
                }
            }
            p += 4 + len;
        }
        at += 46 + n + e + c;
        let name = String::from_utf8_lossy(name).into_owned();
        let is_storage = name
            .rsplit_once("/data/")
            .is_some_and(|(_, k)| !k.is_empty() && !k.contains('/'));
        let is_array = name.ends_with(".npy");
        npy_names += usize::from(is_array);
        // (A member `m/data/data.pkl` is a storage, as it always was.)
        let archive = name.strip_suffix("/data.pkl").filter(|_| !is_storage);
        let wanted = is_storage || is_array || archive.is_some();
        if method != 0 || csize != usize_ || !wanted || usize_ == 0 {
            continue;
        }
        let local = usize::try_from(local).ok()?;
        if u32_at(data, local)? != LOCAL as u64 {
            return None;
        }
        let start = local as u64 + 30 + u16_at(data, local + 26)? + u16_at(data, local + 28)?;
        let end = start.checked_add(usize_)?;
        let before = taken.range(..end).next_back();
        if before.is_some_and(|(_, &e)| e > start) {
            continue;
        }
        taken.insert(start, end);
        if let Some(archive) = archive {
            let range = (usize::try_from(start).ok()?, usize::try_from(end).ok()?);
            pickles.insert(archive.into(), range);
            continue;
        }
        if is_array {
            let (s, e) = (usize::try_from(start).ok()?, usize::try_from(end).ok()?);
            let name = String::from(name.trim_end_matches(".npy"));
            // A member that is not a valid .npy stays bytes, in the gaps.
            if let Some(t) = npy::array(data, s, e, name) {
                arrays += 1;
                out.push(t);
            }
            continue;
        }
        storages += 1;
        out.push(Tensor {
            name,
            label: "storage".into(),
            dtype: None,
            shape: Vec::new(),
            start,
            end,
        });
    }
    // Named by what it holds, even where none of it can be coded in place (a deflated .npz);
    // a zip of neither kind is no container of ours.
    let container = if storages > 0 {
        name_storages(data, &pickles, &mut out);
        Container::PytorchZip
    } else if arrays > 0 || npy_names > 0 {
        Container::Npz
    } else {
        return None;
    };
    Some((container, out))
}

/// Storages named after the one tensor each holds whole, as their archive's pickle says (see
/// the module's comment). A name that would repeat, or that looks like one of the format's
/// own (`__header__`), leaves its storage under its member name.
/// The pickles share one room (what their tensors may take): each its own, thousands of small
/// pickles naming one tensor many times each took 25 times the archive's size.
fn name_storages(data: &[u8], pickles: &BTreeMap<String, (usize, usize)>, out: &mut [Tensor]) {
    // (archive, storage key) -> the tensors over that storage, only for storages there are;
    // how often each name occurs.
    let mut over: BTreeMap<(String, String), Vec<pickle::TensorRef>> = out
        .iter()
        .filter(|s| s.label == "storage")
        .filter_map(|s| s.name.rsplit_once("/data/"))
        .map(|(archive, key)| ((archive.into(), key.into()), Vec::new()))
        .collect();
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    let mut room = pickle::room(pickles.values().map(|&(s, e)| e - s).sum());
    for (archive, &(s, e)) in pickles {
        let Some(found) = data.get(s..e).and_then(|p| pickle::tensors(p, &mut room)) else {
            continue;
        };
        for t in found {
            *uses.entry(t.name.clone()).or_default() += 1;
            if let Some(ts) = over.get_mut(&(archive.clone(), t.key.clone())) {
                ts.push(t);
            }
        }
    }
    for s in out.iter() {
        *uses.entry(s.name.clone()).or_default() += 1;
    }
    for s in out.iter_mut().filter(|s| s.label == "storage") {
        let Some(ts) = s
            .name
            .rsplit_once("/data/")
            .and_then(|(archive, key)| over.get(&(archive.into(), key.into())))
        else {
            continue;
        };
        // One storage has one element type, whichever tensors view it.
        let Some(label) = ts.first().map(|t| pickle::dtype_name(&t.class)) else {
            continue;
        };
        let whole = match &ts[..] {
            [t] => {
                let own = t.name.starts_with("__") && t.name.ends_with("__");
                let unique = uses[&t.name] == 1 && !t.name.is_empty() && !own;
                Some(t).filter(|t| unique && t.covers(s.end - s.start))
            }
            _ => None,
        };
        if let Some(t) = whole {
            s.name = t.name.clone();
            s.shape = shape(t.shape.iter().copied());
        }
        if let Some(label) = label {
            s.label = label.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::pickle::tests::checkpoint;
    use alloc::vec;

    /// A zip archive of stored members, as `torch.save` writes one.
    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let (mut out, mut central) = (Vec::new(), Vec::new());
        for (name, data) in members {
            let at = out.len() as u32;
            let sizes = [(data.len() as u32).to_le_bytes(); 2].concat();
            out.extend_from_slice(&LOCAL.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&sizes);
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(&CENTRAL.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&sizes);
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&at.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let at = out.len() as u32;
        let n = (members.len() as u16).to_le_bytes();
        out.extend_from_slice(&central);
        out.extend_from_slice(&EOCD.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, n[0], n[1], n[0], n[1]]);
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    fn rows(data: &[u8]) -> Vec<(String, String, Vec<u64>)> {
        let (c, t) = tensors(data).unwrap();
        assert_eq!(c, Container::PytorchZip);
        t.into_iter().map(|t| (t.name, t.label, t.shape)).collect()
    }

    fn row(name: &str, label: &str, shape: &[u64]) -> (String, String, Vec<u64>) {
        (name.into(), label.into(), shape.to_vec())
    }

    #[test]
    fn storages_take_the_names_of_their_tensors() {
        let pkl = checkpoint(&[
            ("conv.weight", "FloatStorage", "0", 0, &[2, 1, 3]),
            ("conv.bias", "BFloat16Storage", "1", 0, &[2]),
            // Two views of one storage (an LSTM's flattened weights).
            ("rnn.w", "HalfStorage", "2", 0, &[2, 2]),
            ("rnn.b", "HalfStorage", "2", 4, &[2]),
            // A view of part of a storage.
            ("head.weight", "FloatStorage", "3", 1, &[2]),
        ]);
        let file = archive(&[
            ("m/data.pkl", &pkl),
            ("m/data/0", &[1; 24]),
            ("m/data/1", &[2; 4]),
            ("m/data/2", &[3; 12]),
            ("m/data/3", &[4; 12]),
            ("m/data/4", &[5; 8]),
            ("m/version", b"3\n"),
        ]);
        assert_eq!(
            rows(&file),
            vec![
                row("conv.weight", "float32", &[2, 1, 3]),
                row("conv.bias", "bfloat16", &[2]),
                row("m/data/2", "float16", &[]),
                row("m/data/3", "float32", &[]),
                // A storage no tensor names.
                row("m/data/4", "storage", &[]),
            ]
        );
        // A size that does not match the tensor's keeps the member's name.
        let short = archive(&[("m/data.pkl", &pkl), ("m/data/0", &[1; 20])]);
        assert_eq!(rows(&short), vec![row("m/data/0", "float32", &[])]);
    }

    /// Python's zipfile writes an archive of exactly 65,535 members with classic records only
    /// (their count 0xFFFF, no zip64 locator): it was taken for no zip at all.
    #[test]
    fn an_archive_of_65535_members_without_zip64_records() {
        let names: Vec<String> = (1..65_535).map(|i| alloc::format!("m/e{i}")).collect();
        let mut members = vec![("m/data/0", &[1u8; 64][..])];
        members.extend(names.iter().map(|n| (n.as_str(), &[][..])));
        let file = archive(&members);
        assert_eq!(rows(&file), vec![row("m/data/0", "storage", &[])]);
    }

    #[test]
    fn names_that_would_repeat_stay_member_names() {
        let pkl = checkpoint(&[
            ("w", "FloatStorage", "0", 0, &[1]),
            ("w", "FloatStorage", "1", 0, &[1]),
            ("__header__", "FloatStorage", "2", 0, &[1]),
            ("m/data/4", "FloatStorage", "3", 0, &[1]),
        ]);
        let mut members = vec![("m/data.pkl", &pkl[..])];
        let four = [7u8; 4];
        for name in ["m/data/0", "m/data/1", "m/data/2", "m/data/3", "m/data/4"] {
            members.push((name, &four));
        }
        let names: Vec<String> = rows(&archive(&members)).into_iter().map(|r| r.0).collect();
        assert_eq!(
            names,
            ["m/data/0", "m/data/1", "m/data/2", "m/data/3", "m/data/4"]
        );
    }

    #[test]
    fn a_damaged_or_missing_pickle_leaves_the_storages_as_they_were() {
        let pkl = checkpoint(&[("w", "FloatStorage", "0", 0, &[2])]);
        for pkl in [&pkl[..pkl.len() - 1], b"not a pickle", &[]] {
            let mut members = vec![("m/data/0", &[1u8; 8][..])];
            if !pkl.is_empty() {
                members.insert(0, ("m/data.pkl", pkl));
            }
            assert_eq!(
                rows(&archive(&members)),
                vec![row("m/data/0", "storage", &[])]
            );
        }
        // Another archive's pickle names nothing here.
        let file = archive(&[("other/data.pkl", &pkl), ("m/data/0", &[1; 8])]);
        assert_eq!(rows(&file), vec![row("m/data/0", "storage", &[])]);
    }
}
