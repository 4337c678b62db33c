//! PyTorch checkpoints (`torch.save`, `.pth`/`.bin`/`.pt`) and TorchScript files are zip
//! archives whose tensor storages are stored uncompressed as `<archive>/data/<key>` entries.
//! We read the central directory (zip64 included) to locate them; the element types live in the
//! pickle, which we do not execute, so each storage's grouping is measured instead.
//! NumPy's `.npz` archives are zips too: their stored `.npy` members name their types.

use super::tensors::Tensor;
use super::{npy, Container};
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
    if count == 0xFFFF || offset == 0xFFFF_FFFF {
        let loc = at.checked_sub(20)?;
        if u32_at(data, loc)? != LOCATOR64 as u64 {
            return None;
        }
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
        if method != 0 || csize != usize_ || !(is_storage || is_array) || usize_ == 0 {
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
        Container::PytorchZip
    } else if arrays > 0 || npy_names > 0 {
        Container::Npz
    } else {
        return None;
    };
    Some((container, out))
}
