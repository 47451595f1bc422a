//! The pages of one column chunk of a fixed-size list with no nulls
//! ([`super::parquet_flat_list`]) decoded straight into its output: each
//! page's values copied (plain) or looked up (dictionary) once, into
//! memory never written before, and its levels checked run by run.
//!
//! Written here because measured speed requires it: the crate's typed
//! column reader zero-fills the output before decoding into it and
//! decodes every value's two levels into buffers that are then checked
//! one by one, 21% of the CPU of reading suite 10's embedding. Here a
//! run of 767 repetition levels "continue the list" is one comparison.
//! The crate still reads the page headers and decompresses the pages
//! ([`PageReader`]). Anything else (another encoding, a null, a list of
//! another length, a page that does not parse) is `None`: the caller
//! then leaves the column chunk to the crate's reader, which decodes it
//! or names what is wrong with it.

use parquet::basic::Encoding;
use parquet::column::page::{Page, PageReader};
use parquet::errors::Result as ParquetResult;

/// One run of a level or dictionary-index stream (Parquet's RLE /
/// bit-packing hybrid).
enum Run<'a> {
    /// `count` times `value`.
    Repeat(u32, usize),
    /// `count` values of the stream's bit width, packed LSB first.
    Packed(&'a [u8], usize),
}

/// The runs of a hybrid stream of values `width` bits wide.
struct Hybrid<'a> {
    data: &'a [u8],
    width: u32,
}

impl<'a> Hybrid<'a> {
    fn varint(&mut self) -> Option<usize> {
        let mut value = 0usize;
        for shift in (0..35).step_by(7) {
            let (&byte, rest) = self.data.split_first()?;
            self.data = rest;
            value |= ((byte & 0x7f) as usize) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn run(&mut self) -> Option<Run<'a>> {
        let header = self.varint()?;
        if header & 1 == 0 {
            let n = self.width.div_ceil(8) as usize;
            let (bytes, rest) = (self.data.get(..n)?, &self.data[n..]);
            self.data = rest;
            let value = bytes
                .iter()
                .rev()
                .fold(0u32, |v, &b| (v << 8) | u32::from(b));
            Some(Run::Repeat(value, header >> 1))
        } else {
            let n = (header >> 1).checked_mul(self.width as usize)?; // 8 values per group
            let (bytes, rest) = (self.data.get(..n)?, &self.data[n..]);
            self.data = rest;
            Some(Run::Packed(bytes, (header >> 1) * 8))
        }
    }
}

/// Value `j` of bit-packed `bytes`, `width` (<= 32) bits each.
fn unpacked(bytes: &[u8], width: u32, j: usize) -> u32 {
    let bit = j * width as usize;
    let at = bit / 8;
    let word = match bytes.get(at..at + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
        None => bytes[at..]
            .iter()
            .rev()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b)),
    };
    ((word >> (bit % 8)) & ((1u64 << width) - 1)) as u32
}

/// Bits of a level stream whose largest level is `max`.
fn bits(max: i16) -> u32 {
    16 - (max as u16).leading_zeros()
}

/// Where a check of levels stands: the position in the current list.
struct Levels {
    max_def: i16,
    size: usize,
    at: usize,
}

impl Levels {
    /// Whether the `n` repetition levels `rep` start a list every `size`
    /// levels (counted on from earlier pages) and continue it in between.
    fn lists(&mut self, rep: &[u8], n: usize) -> bool {
        let mut runs = Hybrid {
            data: rep,
            width: 1,
        };
        let mut left = n;
        while left > 0 {
            let Some(run) = runs.run() else { return false };
            match run {
                Run::Repeat(_, 0) => return false,
                Run::Repeat(v, count) => {
                    let count = count.min(left);
                    let fits = match v {
                        0 => self.size == 1 || (count == 1 && self.at == 0),
                        _ => self.at != 0 && self.at + count <= self.size,
                    };
                    if !fits {
                        return false;
                    }
                    self.at = (self.at + count) % self.size;
                    left -= count;
                }
                Run::Packed(bytes, count) => {
                    for j in 0..count.min(left) {
                        if (unpacked(bytes, 1, j) == 0) != (self.at == 0) {
                            return false;
                        }
                        self.at = (self.at + 1) % self.size;
                    }
                    left -= count.min(left);
                }
            }
        }
        true
    }

    /// Whether the `n` definition levels `def` are all the largest (no null).
    fn all_present(&self, def: &[u8], n: usize) -> bool {
        let width = bits(self.max_def);
        let full = self.max_def as u32;
        let mut runs = Hybrid { data: def, width };
        let mut left = n;
        while left > 0 {
            match runs.run() {
                Some(Run::Repeat(v, count)) if v == full && count > 0 => left -= count.min(left),
                Some(Run::Packed(bytes, count)) if count > 0 => {
                    let count = count.min(left);
                    if (0..count).any(|j| unpacked(bytes, width, j) != full) {
                        return false;
                    }
                    left -= count;
                }
                _ => return false,
            }
        }
        true
    }
}

/// A data page's levels and values, apart.
struct DataPage<'a> {
    rep: &'a [u8],
    def: &'a [u8],
    values: &'a [u8],
    /// Levels (so values: there is no null).
    n: usize,
    encoding: Encoding,
}

/// The levels and values of a data page, split.
fn split_levels(page: &Page) -> Option<DataPage<'_>> {
    match page {
        Page::DataPage {
            buf,
            num_values,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            ..
        } => {
            let prefixed = |data: &'_ [u8]| -> Option<(usize, usize)> {
                let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
                Some((4, 4 + len))
            };
            let (r0, r1) = prefixed(buf)?;
            let (d0, d1) = prefixed(buf.get(r1..)?)?;
            let (rep, rest) = (buf.get(r0..r1)?, &buf[r1..]);
            let (def, values) = (rest.get(d0..d1)?, &rest[d1..]);
            Some(DataPage {
                rep,
                def,
                values,
                n: *num_values as usize,
                encoding: *encoding,
            })
        }
        Page::DataPageV2 {
            buf,
            num_values,
            encoding,
            num_nulls: 0,
            def_levels_byte_len,
            rep_levels_byte_len,
            ..
        } => {
            let (r, d) = (*rep_levels_byte_len as usize, *def_levels_byte_len as usize);
            let rep = buf.get(..r)?;
            let def = buf.get(r..r.checked_add(d)?)?;
            Some(DataPage {
                rep,
                def,
                values: &buf[r + d..],
                n: *num_values as usize,
                encoding: *encoding,
            })
        }
        _ => None,
    }
}

/// Decode every page of `pages` into `out` (`out.len() / width` values of
/// `width` bytes, 4 or 8, little-endian as Parquet stores them): the
/// values of a column of lists of `size` with largest definition level
/// `max_def` (repetition level 1). `Ok(false)` when the chunk is not one
/// (`out` then holds garbage and is to be dropped).
pub(crate) fn decode_into(
    pages: &mut dyn PageReader,
    max_def: i16,
    size: usize,
    width: usize,
    out: &mut [std::mem::MaybeUninit<u8>],
) -> ParquetResult<bool> {
    if cfg!(target_endian = "big") || size == 0 || max_def < 1 || !matches!(width, 4 | 8) {
        return Ok(false);
    }
    let mut levels = Levels {
        max_def,
        size,
        at: 0,
    };
    let mut dict: Option<bytes::Bytes> = None;
    let mut written = 0usize; // bytes of `out`
    while let Some(page) = pages.get_next_page()? {
        if let Page::DictionaryPage {
            buf,
            num_values,
            encoding: Encoding::PLAIN | Encoding::PLAIN_DICTIONARY,
            ..
        } = &page
        {
            if buf.len() != *num_values as usize * width {
                return Ok(false);
            }
            dict = Some(buf.clone());
            continue;
        }
        let Some(DataPage {
            rep,
            def,
            values,
            n,
            encoding,
        }) = split_levels(&page)
        else {
            return Ok(false);
        };
        let bytes = n * width;
        if bytes > out.len() - written || !levels.lists(rep, n) || !levels.all_present(def, n) {
            return Ok(false);
        }
        let into = &mut out[written..written + bytes];
        let done = match encoding {
            Encoding::PLAIN => copy(values.get(..bytes), into),
            Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY => match &dict {
                Some(dict) => looked_up(values, dict, width, into),
                None => false,
            },
            _ => false,
        };
        if !done {
            return Ok(false);
        }
        written += bytes;
    }
    Ok(written == out.len() && levels.at == 0)
}

/// `from` (if there) copied into `into`, of the same length.
fn copy(from: Option<&[u8]>, into: &mut [std::mem::MaybeUninit<u8>]) -> bool {
    let Some(from) = from else { return false };
    // SAFETY: both are `into.len()` bytes; a fetched page and a buffer
    // being filled never overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(from.as_ptr(), into.as_mut_ptr().cast(), into.len());
    }
    true
}

/// The dictionary entries (`width` bytes each) that the index stream
/// `values` (a bit-width byte, then hybrid runs) names, into `into`.
fn looked_up(
    values: &[u8],
    dict: &[u8],
    width: usize,
    into: &mut [std::mem::MaybeUninit<u8>],
) -> bool {
    let Some((&bits, runs)) = values.split_first() else {
        return false;
    };
    if bits > 32 {
        return false;
    }
    let entries = dict.len() / width;
    let mut runs = Hybrid {
        data: runs,
        width: u32::from(bits),
    };
    let mut left = into.len() / width;
    let mut slots = into.chunks_exact_mut(width);
    let mut put = |i: u32| -> bool {
        let i = i as usize;
        match (slots.next(), i < entries) {
            (Some(slot), true) => copy(Some(&dict[i * width..(i + 1) * width]), slot),
            (None, _) => true, // padding past the page's values
            (Some(_), false) => false,
        }
    };
    while left > 0 {
        match runs.run() {
            Some(Run::Repeat(i, count)) if count > 0 => {
                let count = count.min(left);
                if !(0..count).all(|_| put(i)) {
                    return false;
                }
                left -= count;
            }
            Some(Run::Packed(bytes, count)) if count > 0 => {
                let count = count.min(left);
                if !(0..count).all(|j| put(unpacked(bytes, u32::from(bits), j))) {
                    return false;
                }
                left -= count;
            }
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Levels as a hybrid stream of runs `(value, count)` (RLE) and
    /// groups of 8 values (bit-packed), width 1.
    fn packed_bits(bits: &[u8]) -> Vec<u8> {
        let groups = bits.len().div_ceil(8);
        let mut out = vec![((groups << 1) | 1) as u8];
        for g in bits.chunks(8) {
            out.push(g.iter().enumerate().fold(0u8, |b, (i, &v)| b | (v << i)));
        }
        out
    }

    fn repeat(value: u8, count: usize) -> Vec<u8> {
        assert!(count < 64);
        vec![(count << 1) as u8, value]
    }

    fn lists(size: usize, streams: &[Vec<u8>], counts: &[usize]) -> bool {
        let mut levels = Levels {
            max_def: 1,
            size,
            at: 0,
        };
        streams.iter().zip(counts).all(|(s, &n)| levels.lists(s, n)) && levels.at == 0
    }

    #[test]
    fn repetition_runs_must_start_a_list_every_size_levels() {
        // [0 1 1] [0 1 1] as a packed group then runs, across two pages.
        let a = packed_bits(&[0, 1, 1, 0]);
        let b = [repeat(1, 2)].concat();
        assert!(lists(3, &[a.clone(), b], &[4, 2]));
        // A run of 1s crossing a list's end, a 0 inside a list, a short end.
        assert!(!lists(3, &[[repeat(0, 1), repeat(1, 3)].concat()], &[4]));
        assert!(!lists(3, &[packed_bits(&[0, 0, 1])], &[3]));
        assert!(!lists(3, &[a], &[4]), "ends inside a list");
        assert!(lists(1, &[repeat(0, 5)], &[5]));
        assert!(!lists(2, &[repeat(0, 2)], &[2]));
    }

    #[test]
    fn definition_levels_must_all_be_the_largest() {
        let levels = Levels {
            max_def: 1,
            size: 1,
            at: 0,
        };
        assert!(levels.all_present(&repeat(1, 9), 9));
        assert!(
            levels.all_present(&packed_bits(&[1, 1, 1]), 3),
            "padding ignored"
        );
        assert!(!levels.all_present(&packed_bits(&[1, 0, 1]), 3));
        assert!(!levels.all_present(&repeat(1, 2), 3), "too few levels");
        let deeper = Levels {
            max_def: 3,
            size: 1,
            at: 0,
        };
        assert!(deeper.all_present(&[8, 3], 4));
        assert!(!deeper.all_present(&[8, 2], 4));
    }

    #[test]
    fn dictionary_indices_are_looked_up_and_checked() {
        let dict: Vec<u8> = [10u32, 20, 30]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        // Width 2: index 1 repeated 2x, then 2, 0, 1 packed (one group of
        // 8, the last 5 padding).
        let values = vec![2u8, 4, 1, 0b11, 0b0001_0010, 0];
        let mut out = vec![std::mem::MaybeUninit::new(0u8); 5 * 4];
        assert!(looked_up(&values, &dict, 4, &mut out));
        // SAFETY: every byte was written.
        let out: Vec<u8> = out.iter().map(|b| unsafe { b.assume_init() }).collect();
        let got: Vec<u32> = out
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, [20, 20, 30, 10, 20]);
        let past = vec![2u8, 4, 3]; // index 3 of 3 entries
        let mut one = vec![std::mem::MaybeUninit::new(0u8); 4];
        assert!(!looked_up(&past, &dict, 4, &mut one));
    }
}
