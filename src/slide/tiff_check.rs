//! A structural check of TIFF-family files (SVS, NDPI, generic TIFF, Philips, SCN...) before OpenSlide
//! sees them, so a truncated or damaged file is reported as such and not as "unsupported format".
//!
//! It walks the IFD chain and checks that every directory, and every tile or strip it points to,
//! lies inside the file. It reads only the directories and their offset arrays.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const MAX_DIRECTORIES: usize = 4096;
const MAX_ENTRIES: u64 = 4096;

/// Whether the file starts with a TIFF or BigTIFF signature.
pub fn is_tiff(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && matches!(
            magic,
            [b'I', b'I', 42, 0] | [b'M', b'M', 0, 42] | [b'I', b'I', 43, 0] | [b'M', b'M', 0, 43]
        )
}

struct Reader {
    file: File,
    len: u64,
    big_endian: bool,
    bigtiff: bool,
}

impl Reader {
    fn bytes(&mut self, at: u64, n: usize, what: &str) -> Result<Vec<u8>, String> {
        if at.checked_add(n as u64).is_none_or(|end| end > self.len) {
            return Err(format!(
                "{what} at byte {at} ({n} bytes) lies past the end of the file ({} bytes): the file is truncated",
                self.len
            ));
        }
        let mut buf = vec![0u8; n];
        self.file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| format!("cannot read {what} at byte {at}: {e}"))?;
        Ok(buf)
    }

    fn uint(&self, b: &[u8]) -> u64 {
        let mut v = 0u64;
        if self.big_endian {
            for &x in b {
                v = (v << 8) | u64::from(x);
            }
        } else {
            for &x in b.iter().rev() {
                v = (v << 8) | u64::from(x);
            }
        }
        v
    }

    fn offset_size(&self) -> usize {
        if self.bigtiff { 8 } else { 4 }
    }
}

/// Size in bytes of one value of a TIFF field type.
fn type_size(t: u16) -> Option<usize> {
    match t {
        1 | 2 | 6 | 7 => Some(1),
        3 | 8 => Some(2),
        4 | 9 | 11 | 13 => Some(4),
        5 | 10 | 12 | 16 | 17 | 18 => Some(8),
        _ => None,
    }
}

/// Checks the file's TIFF structure; `Err` says what is wrong and where.
pub fn check(path: &Path) -> Result<(), String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut header = [0u8; 16];
    let n = file.read(&mut header).map_err(|e| e.to_string())?;
    let big_endian = header[0] == b'M';
    let mut r = Reader {
        file,
        len,
        big_endian,
        bigtiff: false,
    };
    let version = r.uint(&header[2..4]);
    r.bigtiff = version == 43;
    if n < if r.bigtiff { 16 } else { 8 } {
        return Err(format!(
            "the TIFF header is cut short ({len} bytes): the file is truncated"
        ));
    }
    let mut next = if r.bigtiff {
        r.uint(&header[8..16])
    } else {
        r.uint(&header[4..8])
    };
    let mut seen = Vec::new();
    let os = r.offset_size();
    let entry_size = if r.bigtiff { 20 } else { 12 };
    while next != 0 {
        if seen.len() >= MAX_DIRECTORIES || seen.contains(&next) {
            return Err(format!(
                "the image directory chain loops back to byte {next}"
            ));
        }
        seen.push(next);
        let index = seen.len() - 1;
        let count_len = if r.bigtiff { 8 } else { 2 };
        let count_bytes = r.bytes(next, count_len, &format!("image directory {index}"))?;
        let count = r.uint(&count_bytes);
        if count == 0 || count > MAX_ENTRIES {
            return Err(format!(
                "image directory {index} at byte {next} claims {count} entries"
            ));
        }
        let body = r.bytes(
            next + count_len as u64,
            count as usize * entry_size + os,
            &format!("image directory {index}"),
        )?;
        let mut offsets: Option<Vec<u64>> = None;
        let mut counts: Option<Vec<u64>> = None;
        for e in body[..count as usize * entry_size].chunks_exact(entry_size) {
            let tag = r.uint(&e[0..2]) as u16;
            let typ = r.uint(&e[2..4]) as u16;
            let (n, field) = if r.bigtiff {
                (r.uint(&e[4..12]), &e[12..20])
            } else {
                (r.uint(&e[4..8]), &e[8..12])
            };
            let Some(size) = type_size(typ) else { continue };
            let total = n.saturating_mul(size as u64);
            if total > os as u64 {
                let at = r.uint(field);
                if at.checked_add(total).is_none_or(|end| end > len) {
                    return Err(format!(
                        "tag {tag} of image directory {index} points past the end of the file \
                         (byte {at} + {total}, file has {len} bytes): the file is truncated"
                    ));
                }
            }
            if matches!(tag, 273 | 324 | 279 | 325) {
                if !matches!(size, 2 | 4 | 8) || n > 50_000_000 {
                    continue;
                }
                let raw = if total > os as u64 {
                    let at = r.uint(field);
                    r.bytes(
                        at,
                        total as usize,
                        &format!("tag {tag} of image directory {index}"),
                    )?
                } else {
                    field[..total as usize].to_vec()
                };
                let values: Vec<u64> = raw.chunks_exact(size).map(|c| r.uint(c)).collect();
                if matches!(tag, 273 | 324) {
                    offsets = Some(values);
                } else {
                    counts = Some(values);
                }
            }
        }
        if let (Some(offsets), Some(counts)) = (offsets, counts) {
            for (i, (&o, &c)) in offsets.iter().zip(&counts).enumerate() {
                if c > 0 && o.checked_add(c).is_none_or(|end| end > len) {
                    return Err(format!(
                        "tile/strip {i} of image directory {index} ends at byte {} but the file has {len} bytes: the file is truncated",
                        o.saturating_add(c)
                    ));
                }
            }
        }
        next = r.uint(&body[count as usize * entry_size..]);
    }
    if seen.is_empty() {
        return Err("the TIFF header points to no image directory".into());
    }
    Ok(())
}
