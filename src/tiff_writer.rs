//! A minimal little-endian BigTIFF writer: pixel data is appended as it is produced, the image
//! directories (IFDs) are written at the end, and the file appears atomically (temp, fsync, rename).

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub mod tag {
    pub const NEW_SUBFILE_TYPE: u16 = 254;
    pub const IMAGE_WIDTH: u16 = 256;
    pub const IMAGE_LENGTH: u16 = 257;
    pub const BITS_PER_SAMPLE: u16 = 258;
    pub const COMPRESSION: u16 = 259;
    pub const PHOTOMETRIC: u16 = 262;
    pub const IMAGE_DESCRIPTION: u16 = 270;
    pub const STRIP_OFFSETS: u16 = 273;
    pub const SAMPLES_PER_PIXEL: u16 = 277;
    pub const ROWS_PER_STRIP: u16 = 278;
    pub const STRIP_BYTE_COUNTS: u16 = 279;
    pub const X_RESOLUTION: u16 = 282;
    pub const Y_RESOLUTION: u16 = 283;
    pub const PLANAR_CONFIG: u16 = 284;
    pub const RESOLUTION_UNIT: u16 = 296;
    pub const SOFTWARE: u16 = 305;
    pub const TILE_WIDTH: u16 = 322;
    pub const TILE_LENGTH: u16 = 323;
    pub const TILE_OFFSETS: u16 = 324;
    pub const TILE_BYTE_COUNTS: u16 = 325;
    pub const SUB_IFDS: u16 = 330;
    pub const SAMPLE_FORMAT: u16 = 339;
    pub const YCBCR_SUBSAMPLING: u16 = 530;
}

/// A tag's value. Offsets and byte counts are LONG8 (BigTIFF).
#[derive(Debug, Clone)]
pub enum Value {
    Ascii(String),
    Short(Vec<u16>),
    Long(Vec<u32>),
    Long8(Vec<u64>),
    Rational(Vec<(u32, u32)>),
    /// Offsets of directories (BigTIFF's IFD8), e.g. SubIFDs: filled in by the writer.
    Ifd8(Vec<u64>),
}

impl Value {
    fn type_code(&self) -> u16 {
        match self {
            Value::Ascii(_) => 2,
            Value::Short(_) => 3,
            Value::Long(_) => 4,
            Value::Rational(_) => 5,
            Value::Long8(_) => 16,
            Value::Ifd8(_) => 18,
        }
    }

    fn count(&self) -> u64 {
        match self {
            Value::Ascii(s) => s.len() as u64 + 1,
            Value::Short(v) => v.len() as u64,
            Value::Long(v) => v.len() as u64,
            Value::Long8(v) | Value::Ifd8(v) => v.len() as u64,
            Value::Rational(v) => v.len() as u64,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Ascii(s) => {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                b
            }
            Value::Short(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Value::Long(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Value::Long8(v) | Value::Ifd8(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Value::Rational(v) => v
                .iter()
                .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
                .collect(),
        }
    }
}

/// One image file directory: a set of tags.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    entries: Vec<(u16, Value)>,
}

impl Directory {
    pub fn set(&mut self, tag: u16, value: Value) -> &mut Self {
        self.entries.retain(|(t, _)| *t != tag);
        self.entries.push((tag, value));
        self
    }
}

pub struct TiffWriter {
    out: BufWriter<File>,
    pos: u64,
    tmp_path: PathBuf,
    final_path: PathBuf,
}

const HEADER_LEN: u64 = 16;

impl TiffWriter {
    /// Starts writing `path` (through a temporary file beside it).
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".partial");
        let tmp_path = path.with_file_name(tmp_name);
        let file = File::create(&tmp_path)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        // "II", 43 (BigTIFF), offset size 8, reserved 0, first IFD offset (patched in finish).
        out.write_all(b"II")?;
        out.write_all(&43u16.to_le_bytes())?;
        out.write_all(&8u16.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&0u64.to_le_bytes())?;
        Ok(Self {
            out,
            pos: HEADER_LEN,
            tmp_path,
            final_path: path.to_path_buf(),
        })
    }

    /// Appends a blob (a tile or strip) and returns its file offset.
    pub fn append(&mut self, data: &[u8]) -> std::io::Result<u64> {
        if !self.pos.is_multiple_of(2) {
            // TIFF offsets should be word-aligned.
            self.out.write_all(&[0])?;
            self.pos += 1;
        }
        let offset = self.pos;
        self.out.write_all(data)?;
        self.pos += data.len() as u64;
        Ok(offset)
    }

    /// Writes the directories, in order, then syncs and moves the file into place.
    pub fn finish(self, directories: &[Directory]) -> std::io::Result<u64> {
        self.finish_with_sub_ifds(directories, Vec::new())
    }

    /// [`TiffWriter::finish`], where `sub_ifds[i]` (if any) are written as the SubIFDs of
    /// `directories[i]` (tag 330): reduced-resolution levels in OME-TIFF's layout.
    pub fn finish_with_sub_ifds(
        mut self,
        directories: &[Directory],
        sub_ifds: Vec<Vec<Directory>>,
    ) -> std::io::Result<u64> {
        let mut main: Vec<Directory> = directories.to_vec();
        for (i, subs) in sub_ifds.into_iter().enumerate() {
            if subs.is_empty() {
                continue;
            }
            let mut offsets = Vec::with_capacity(subs.len());
            for d in &subs {
                offsets.push(self.write_directory(d)?.0);
            }
            if let Some(d) = main.get_mut(i) {
                d.set(tag::SUB_IFDS, Value::Ifd8(offsets));
            }
        }
        let mut first = 0;
        let mut next_pointer_at: Option<u64> = None;
        for dir in &main {
            let (ifd_offset, next_at) = self.write_directory(dir)?;
            match next_pointer_at {
                Some(at) => self.patch(at, ifd_offset)?,
                None => first = ifd_offset,
            }
            next_pointer_at = Some(next_at);
        }
        self.patch(8, first)?;
        self.out.flush()?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.tmp_path, &self.final_path)?;
        if let Some(dir) = self
            .final_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            // Make the rename itself durable.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(self.pos)
    }

    /// Appends one directory (values over 8 bytes first); returns its offset and where its
    /// next-directory pointer (0 for now) sits.
    fn write_directory(&mut self, dir: &Directory) -> std::io::Result<(u64, u64)> {
        let mut entries = dir.entries.clone();
        entries.sort_by_key(|(t, _)| *t);
        // Values longer than 8 bytes live outside the IFD.
        let mut inline = Vec::with_capacity(entries.len());
        for (tag, value) in &entries {
            let bytes = value.bytes();
            if bytes.len() <= 8 {
                let mut field = [0u8; 8];
                field[..bytes.len()].copy_from_slice(&bytes);
                inline.push((*tag, value, field));
            } else {
                let offset = self.append(&bytes)?;
                inline.push((*tag, value, offset.to_le_bytes()));
            }
        }
        let ifd_offset = self.append(&[])?;
        let mut ifd = Vec::with_capacity(8 + entries.len() * 20 + 8);
        ifd.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for (tag, value, field) in inline {
            ifd.extend_from_slice(&tag.to_le_bytes());
            ifd.extend_from_slice(&value.type_code().to_le_bytes());
            ifd.extend_from_slice(&value.count().to_le_bytes());
            ifd.extend_from_slice(&field);
        }
        ifd.extend_from_slice(&0u64.to_le_bytes());
        self.append(&ifd)?;
        Ok((ifd_offset, self.pos - 8))
    }

    fn patch(&mut self, at: u64, value: u64) -> std::io::Result<()> {
        self.out.flush()?;
        let file = self.out.get_mut();
        file.seek(SeekFrom::Start(at))?;
        file.write_all(&value.to_le_bytes())?;
        file.seek(SeekFrom::Start(self.pos))?;
        Ok(())
    }

    /// Abandons the file: removes the partial output.
    pub fn abandon(self) {
        let path = self.tmp_path.clone();
        drop(self);
        let _ = std::fs::remove_file(path);
    }
}
