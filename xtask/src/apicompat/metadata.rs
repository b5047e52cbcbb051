//! The ECMA-335 metadata reader: PE file → CLI header → metadata root, heaps and tables, with every
//! offset checked, so damaged input is an error, never a panic or a huge allocation.

use std::fmt;

/// Why a file could not be read as a managed assembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Not a PE file at all (no `MZ`/`PE` signatures).
    NotPe,
    /// A valid PE file without a CLI header: a native library.
    NoCliMetadata,
    /// A managed assembly whose structures are damaged or truncated.
    Malformed(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotPe => f.write_str("not a PE file (no MZ/PE signature)"),
            ReadError::NoCliMetadata => {
                f.write_str("a PE file without CLI metadata (a native library, not an assembly)")
            }
            ReadError::Malformed(what) => write!(f, "damaged or truncated CLI metadata: {what}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// The reader's result type.
pub type Result<T> = std::result::Result<T, ReadError>;

fn malformed<T>(what: impl Into<String>) -> Result<T> {
    Err(ReadError::Malformed(what.into()))
}

fn slice<'d>(data: &'d [u8], offset: usize, len: usize, what: &str) -> Result<&'d [u8]> {
    offset
        .checked_add(len)
        .and_then(|end| data.get(offset..end))
        .ok_or_else(|| {
            ReadError::Malformed(format!(
                "{what} at offset {offset} (+{len}) lies outside the data ({} bytes)",
                data.len()
            ))
        })
}

fn u16_at(data: &[u8], offset: usize, what: &str) -> Result<u16> {
    let b = slice(data, offset, 2, what)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], offset: usize, what: &str) -> Result<u32> {
    let b = slice(data, offset, 4, what)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(data: &[u8], offset: usize, what: &str) -> Result<u64> {
    let b = slice(data, offset, 8, what)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

/// Finds the metadata root (the `BSJB` block) of a PE image.
pub fn cli_metadata(pe: &[u8]) -> Result<&[u8]> {
    if pe.get(0..2) != Some(b"MZ") {
        return Err(ReadError::NotPe);
    }
    let nt = u32_at(pe, 0x3c, "e_lfanew").map_err(|_| ReadError::NotPe)? as usize;
    if nt.checked_add(4).and_then(|end| pe.get(nt..end)) != Some(b"PE\0\0") {
        return Err(ReadError::NotPe);
    }
    let coff = nt + 4;
    let sections = u16_at(pe, coff + 2, "COFF header")? as usize;
    let optional_size = u16_at(pe, coff + 16, "COFF header")? as usize;
    let optional = coff + 20;
    let (count_at, dirs_at) = match u16_at(pe, optional, "optional header")? {
        0x10b => (optional + 92, optional + 96),
        0x20b => (optional + 108, optional + 112),
        magic => return malformed(format!("unknown optional header magic {magic:#x}")),
    };
    const CLI_DIRECTORY: usize = 14;
    let dir_count = u32_at(pe, count_at, "optional header")? as usize;
    if dir_count <= CLI_DIRECTORY {
        return Err(ReadError::NoCliMetadata);
    }
    let cli_rva = u32_at(pe, dirs_at + CLI_DIRECTORY * 8, "CLI data directory")?;
    if cli_rva == 0 {
        return Err(ReadError::NoCliMetadata);
    }
    let section_table = optional + optional_size;
    let file_offset = |rva: u32| -> Result<usize> {
        for i in 0..sections {
            let s = section_table + i * 40;
            let virtual_size = u32_at(pe, s + 8, "section header")?;
            let virtual_address = u32_at(pe, s + 12, "section header")?;
            let raw_size = u32_at(pe, s + 16, "section header")?;
            let raw_pointer = u32_at(pe, s + 20, "section header")?;
            let span = virtual_size.max(raw_size);
            if rva >= virtual_address && rva - virtual_address < span {
                return Ok((rva - virtual_address) as usize + raw_pointer as usize);
            }
        }
        malformed(format!("RVA {rva:#x} is in no section"))
    };
    let cli = file_offset(cli_rva)?;
    let metadata_rva = u32_at(pe, cli + 8, "CLI header")?;
    let metadata_size = u32_at(pe, cli + 12, "CLI header")? as usize;
    slice(
        pe,
        file_offset(metadata_rva)?,
        metadata_size,
        "metadata root",
    )
}

/// Metadata tables, numbered as in ECMA-335 II.22.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Table {
    Module = 0x00,
    TypeRef = 0x01,
    TypeDef = 0x02,
    Field = 0x04,
    MethodDef = 0x06,
    Param = 0x08,
    InterfaceImpl = 0x09,
    MemberRef = 0x0a,
    Constant = 0x0b,
    CustomAttribute = 0x0c,
    EventMap = 0x12,
    Event = 0x14,
    PropertyMap = 0x15,
    Property = 0x17,
    MethodSemantics = 0x18,
    ModuleRef = 0x1a,
    TypeSpec = 0x1b,
    Assembly = 0x20,
    AssemblyRef = 0x23,
    File = 0x26,
    ExportedType = 0x27,
    NestedClass = 0x29,
    GenericParam = 0x2a,
    GenericParamConstraint = 0x2c,
}

/// Coded index kinds (II.24.2.6): the tables each can point into, by tag.
#[derive(Clone, Copy, Debug)]
pub enum Coded {
    TypeDefOrRef,
    HasConstant,
    HasCustomAttribute,
    HasFieldMarshal,
    HasDeclSecurity,
    MemberRefParent,
    HasSemantics,
    MethodDefOrRef,
    MemberForwarded,
    Implementation,
    CustomAttributeType,
    ResolutionScope,
    TypeOrMethodDef,
}

impl Coded {
    /// The table numbers by tag (`None` for unused tags) and the tag width in bits.
    fn targets(self) -> (&'static [Option<u8>], u32) {
        match self {
            Coded::TypeDefOrRef => (&[Some(0x02), Some(0x01), Some(0x1b)], 2),
            Coded::HasConstant => (&[Some(0x04), Some(0x08), Some(0x17)], 2),
            Coded::HasCustomAttribute => (
                &[
                    Some(0x06),
                    Some(0x04),
                    Some(0x01),
                    Some(0x02),
                    Some(0x08),
                    Some(0x09),
                    Some(0x0a),
                    Some(0x00),
                    Some(0x0e),
                    Some(0x17),
                    Some(0x14),
                    Some(0x11),
                    Some(0x1a),
                    Some(0x1b),
                    Some(0x20),
                    Some(0x23),
                    Some(0x26),
                    Some(0x27),
                    Some(0x28),
                    Some(0x2a),
                    Some(0x2c),
                    Some(0x2b),
                ],
                5,
            ),
            Coded::HasFieldMarshal => (&[Some(0x04), Some(0x08)], 1),
            Coded::HasDeclSecurity => (&[Some(0x02), Some(0x06), Some(0x20)], 2),
            Coded::MemberRefParent => (
                &[Some(0x02), Some(0x01), Some(0x1a), Some(0x06), Some(0x1b)],
                3,
            ),
            Coded::HasSemantics => (&[Some(0x14), Some(0x17)], 1),
            Coded::MethodDefOrRef => (&[Some(0x06), Some(0x0a)], 1),
            Coded::MemberForwarded => (&[Some(0x04), Some(0x06)], 1),
            Coded::Implementation => (&[Some(0x26), Some(0x23), Some(0x27)], 2),
            Coded::CustomAttributeType => (&[None, None, Some(0x06), Some(0x0a), None], 3),
            Coded::ResolutionScope => (&[Some(0x00), Some(0x1a), Some(0x23), Some(0x01)], 2),
            Coded::TypeOrMethodDef => (&[Some(0x02), Some(0x06)], 1),
        }
    }
}

/// One column of a table schema.
#[derive(Clone, Copy)]
enum Col {
    U16,
    U32,
    Str,
    Guid,
    Blob,
    Index(u8),
    Coded(Coded),
}

/// The column layout of every table this reader knows (II.22), by table number.
fn schema(table: u8) -> Option<&'static [Col]> {
    use Col::*;
    Some(match table {
        0x00 => &[U16, Str, Guid, Guid, Guid],
        0x01 => &[Coded(self::Coded::ResolutionScope), Str, Str],
        0x02 => &[
            U32,
            Str,
            Str,
            Coded(self::Coded::TypeDefOrRef),
            Index(0x04),
            Index(0x06),
        ],
        0x03 => &[Index(0x04)],
        0x04 => &[U16, Str, Blob],
        0x05 => &[Index(0x06)],
        0x06 => &[U32, U16, U16, Str, Blob, Index(0x08)],
        0x07 => &[Index(0x08)],
        0x08 => &[U16, U16, Str],
        0x09 => &[Index(0x02), Coded(self::Coded::TypeDefOrRef)],
        0x0a => &[Coded(self::Coded::MemberRefParent), Str, Blob],
        0x0b => &[U16, Coded(self::Coded::HasConstant), Blob],
        0x0c => &[
            Coded(self::Coded::HasCustomAttribute),
            Coded(self::Coded::CustomAttributeType),
            Blob,
        ],
        0x0d => &[Coded(self::Coded::HasFieldMarshal), Blob],
        0x0e => &[U16, Coded(self::Coded::HasDeclSecurity), Blob],
        0x0f => &[U16, U32, Index(0x02)],
        0x10 => &[U32, Index(0x04)],
        0x11 => &[Blob],
        0x12 => &[Index(0x02), Index(0x14)],
        0x13 => &[Index(0x14)],
        0x14 => &[U16, Str, Coded(self::Coded::TypeDefOrRef)],
        0x15 => &[Index(0x02), Index(0x17)],
        0x16 => &[Index(0x17)],
        0x17 => &[U16, Str, Blob],
        0x18 => &[U16, Index(0x06), Coded(self::Coded::HasSemantics)],
        0x19 => &[
            Index(0x02),
            Coded(self::Coded::MethodDefOrRef),
            Coded(self::Coded::MethodDefOrRef),
        ],
        0x1a => &[Str],
        0x1b => &[Blob],
        0x1c => &[U16, Coded(self::Coded::MemberForwarded), Str, Index(0x1a)],
        0x1d => &[U32, Index(0x04)],
        0x1e => &[U32, U32],
        0x1f => &[U32],
        0x20 => &[U32, U16, U16, U16, U16, U32, Blob, Str, Str],
        0x21 => &[U32],
        0x22 => &[U32, U32, U32],
        0x23 => &[U16, U16, U16, U16, U32, Blob, Str, Str, Blob],
        0x24 => &[U32, Index(0x23)],
        0x25 => &[U32, U32, U32, Index(0x23)],
        0x26 => &[U32, Str, Blob],
        0x27 => &[U32, U32, Str, Str, Coded(self::Coded::Implementation)],
        0x28 => &[U32, U32, Str, Coded(self::Coded::Implementation)],
        0x29 => &[Index(0x02), Index(0x02)],
        0x2a => &[U16, U16, Coded(self::Coded::TypeOrMethodDef), Str],
        0x2b => &[Coded(self::Coded::MethodDefOrRef), Blob],
        0x2c => &[Index(0x2a), Coded(self::Coded::TypeDefOrRef)],
        _ => return None,
    })
}

/// Where one table's rows are and how its columns are laid out.
#[derive(Clone, Default)]
struct TableLayout {
    rows: u32,
    offset: usize,
    row_size: usize,
    /// (offset in row, width) per column.
    columns: Vec<(usize, usize)>,
}

/// A row reference: table and 1-based row number, as coded indexes decode to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowRef {
    /// The table number.
    pub table: u8,
    /// 1-based row number (0 is the null reference).
    pub row: u32,
}

/// A parsed metadata root: heaps and table layouts over the borrowed bytes.
pub struct Metadata<'a> {
    strings: &'a [u8],
    blobs: &'a [u8],
    tables_data: &'a [u8],
    tables: Vec<TableLayout>,
}

impl<'a> Metadata<'a> {
    /// Parses the metadata root (`BSJB`) and the `#~` table stream header.
    pub fn parse(root: &'a [u8]) -> Result<Self> {
        if u32_at(root, 0, "metadata signature")? != 0x424a_5342 {
            return malformed("the metadata root has no BSJB signature");
        }
        let (strings, blobs, tables_stream) = streams(root)?;
        let stream = tables_stream.ok_or_else(|| ReadError::Malformed("no #~ stream".into()))?;
        let (rows, heap_sizes, tables_offset) = row_counts(stream)?;
        let tables = table_layouts(stream, &rows, heap_sizes, tables_offset)?;
        Ok(Metadata {
            strings: strings.unwrap_or_default(),
            blobs: blobs.unwrap_or_default(),
            tables_data: stream,
            tables,
        })
    }

    /// Number of rows in a table.
    pub fn rows(&self, table: Table) -> u32 {
        self.tables[table as usize].rows
    }

    /// The raw value of column `col` of 1-based row `row`.
    pub fn cell(&self, table: Table, row: u32, col: usize) -> Result<u32> {
        let layout = &self.tables[table as usize];
        if row == 0 || row > layout.rows {
            return malformed(format!(
                "row {row} of table {:#04x} does not exist ({} rows)",
                table as u8, layout.rows
            ));
        }
        let &(offset, width) = layout
            .columns
            .get(col)
            .ok_or_else(|| ReadError::Malformed("column out of range".into()))?;
        let at = layout.offset + (row as usize - 1) * layout.row_size + offset;
        if width == 2 {
            Ok(u16_at(self.tables_data, at, "table row")? as u32)
        } else {
            u32_at(self.tables_data, at, "table row")
        }
    }

    /// A string column, read from the #Strings heap.
    pub fn string(&self, table: Table, row: u32, col: usize) -> Result<&'a str> {
        let at = self.cell(table, row, col)? as usize;
        let tail = self
            .strings
            .get(at..)
            .ok_or_else(|| ReadError::Malformed(format!("string offset {at} is out of range")))?;
        let end = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| ReadError::Malformed(format!("string at {at} is unterminated")))?;
        std::str::from_utf8(&tail[..end])
            .map_err(|_| ReadError::Malformed(format!("string at {at} is not UTF-8")))
    }

    /// A blob column, read from the #Blob heap.
    pub fn blob(&self, table: Table, row: u32, col: usize) -> Result<&'a [u8]> {
        let at = self.cell(table, row, col)? as usize;
        let mut reader =
            Blob::new(self.blobs.get(at..).ok_or_else(|| {
                ReadError::Malformed(format!("blob offset {at} is out of range"))
            })?);
        let len = reader.compressed()? as usize;
        reader.bytes(len)
    }

    /// A coded index column, decoded to a row reference (`None` for the null reference).
    pub fn coded(&self, table: Table, row: u32, col: usize, kind: Coded) -> Result<Option<RowRef>> {
        decode_coded(self.cell(table, row, col)?, kind)
    }

    /// The half-open row range `[start, end)` a list column (`Field`, `MethodList`, …) of `row`
    /// owns in `target`: up to the next row's list start, or the end of the table.
    pub fn list(&self, table: Table, row: u32, col: usize, target: Table) -> Result<(u32, u32)> {
        let target_rows = self.rows(target);
        let start = self.cell(table, row, col)?;
        let end = if row < self.rows(table) {
            self.cell(table, row + 1, col)?
        } else {
            target_rows + 1
        };
        if start == 0 || start > end || end > target_rows + 1 {
            return malformed(format!(
                "row {row} of table {:#04x} has a list {start}..{end} outside table {:#04x}",
                table as u8, target as u8
            ));
        }
        Ok((start, end))
    }
}

/// The metadata streams this reader uses: `#Strings`, `#Blob` and `#~` (each when present).
type Streams<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Option<&'a [u8]>);

/// Finds the streams in the metadata root's stream headers.
fn streams(root: &[u8]) -> Result<Streams<'_>> {
    let version_len = u32_at(root, 12, "metadata version length")? as usize;
    let after_version = 16usize
        .checked_add(version_len)
        .ok_or_else(|| ReadError::Malformed("metadata version length overflows".into()))?;
    let stream_count = u16_at(root, after_version + 2, "stream count")? as usize;
    let mut at = after_version + 4;
    let (mut strings, mut blobs, mut tables_stream) = (None, None, None);
    for _ in 0..stream_count {
        let offset = u32_at(root, at, "stream header")? as usize;
        let size = u32_at(root, at + 4, "stream header")? as usize;
        let name_start = at + 8;
        let name_area = root.get(name_start..).unwrap_or_default();
        let name_len = name_area
            .iter()
            .take(32)
            .position(|&b| b == 0)
            .ok_or_else(|| ReadError::Malformed("unterminated stream name".into()))?;
        let name = &name_area[..name_len];
        let data = slice(root, offset, size, "metadata stream")?;
        match name {
            b"#Strings" => strings = Some(data),
            b"#Blob" => blobs = Some(data),
            b"#~" => tables_stream = Some(data),
            b"#-" => {
                return malformed(
                    "uncompressed (#-) tables, written by edit-and-continue, are not supported",
                )
            }
            _ => {}
        }
        at = name_start + (name_len + 4) / 4 * 4;
    }
    Ok((strings, blobs, tables_stream))
}

/// The `#~` header: each table's row count, the heap size flags and where the tables start.
fn row_counts(stream: &[u8]) -> Result<([u32; 64], u8, usize)> {
    let heap_sizes = *stream
        .get(6)
        .ok_or_else(|| ReadError::Malformed("#~ header truncated".into()))?;
    let valid = u64_at(stream, 8, "#~ header")?;
    let mut rows = [0u32; 64];
    let mut at = 24;
    for (table, count) in rows.iter_mut().enumerate() {
        if valid & (1u64 << table) != 0 {
            if schema(table as u8).is_none() {
                return malformed(format!("unknown metadata table {table:#04x}"));
            }
            *count = u32_at(stream, at, "table row counts")?;
            at += 4;
        }
    }
    if heap_sizes & 0x40 != 0 {
        at += 4;
    }
    for ptr in [0x03u8, 0x05, 0x07, 0x13, 0x16] {
        if rows[ptr as usize] != 0 {
            return malformed(format!(
                "indirection table {ptr:#04x} (edit-and-continue metadata) is not supported"
            ));
        }
    }
    Ok((rows, heap_sizes, at))
}

/// Each table's place and column layout in the `#~` stream, from `at` on: column widths follow
/// the heap sizes and the row counts of the tables an index can point to.
fn table_layouts(
    stream: &[u8],
    rows: &[u32; 64],
    heap_sizes: u8,
    mut at: usize,
) -> Result<Vec<TableLayout>> {
    let width = |big: bool| if big { 4 } else { 2 };
    let str_w = width(heap_sizes & 0x01 != 0);
    let guid_w = width(heap_sizes & 0x02 != 0);
    let blob_w = width(heap_sizes & 0x04 != 0);
    let index_w = |t: u8| width(rows[t as usize] >= 1 << 16);
    let coded_w = |c: Coded| {
        let (targets, bits) = c.targets();
        let max = targets
            .iter()
            .flatten()
            .map(|&t| rows[t as usize])
            .max()
            .unwrap_or(0);
        width(max >= 1 << (16 - bits))
    };
    let mut tables = vec![TableLayout::default(); 64];
    for (t, layout) in tables.iter_mut().enumerate() {
        let Some(cols) = schema(t as u8) else {
            continue;
        };
        let mut columns = Vec::with_capacity(cols.len());
        let mut size = 0;
        for col in cols {
            let w = match *col {
                Col::U16 => 2,
                Col::U32 => 4,
                Col::Str => str_w,
                Col::Guid => guid_w,
                Col::Blob => blob_w,
                Col::Index(t) => index_w(t),
                Col::Coded(c) => coded_w(c),
            };
            columns.push((size, w));
            size += w;
        }
        let total = (rows[t] as usize)
            .checked_mul(size)
            .filter(|&n| at.checked_add(n).is_some_and(|end| end <= stream.len()))
            .ok_or_else(|| {
                ReadError::Malformed(format!(
                    "table {t:#04x} has {} rows, more than the #~ stream holds",
                    rows[t]
                ))
            })?;
        *layout = TableLayout {
            rows: rows[t],
            offset: at,
            row_size: size,
            columns,
        };
        at += total;
    }
    Ok(tables)
}

/// Decodes a coded index value.
pub fn decode_coded(value: u32, kind: Coded) -> Result<Option<RowRef>> {
    let (targets, bits) = kind.targets();
    let tag = (value & ((1 << bits) - 1)) as usize;
    let row = value >> bits;
    if row == 0 {
        return Ok(None);
    }
    match targets.get(tag).copied().flatten() {
        Some(table) => Ok(Some(RowRef { table, row })),
        None => malformed(format!("coded index {value:#x} has an unused tag {tag}")),
    }
}

/// A cursor over a blob (signatures, constants, custom attribute values).
pub struct Blob<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Blob<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Blob { data, at: 0 }
    }

    /// The next byte without consuming it.
    pub fn peek(&self) -> Result<u8> {
        self.data
            .get(self.at)
            .copied()
            .ok_or_else(|| ReadError::Malformed("signature ends early".into()))
    }

    /// The next byte.
    pub fn byte(&mut self) -> Result<u8> {
        let b = self.peek()?;
        self.at += 1;
        Ok(b)
    }

    /// The next `len` bytes.
    pub fn bytes(&mut self, len: usize) -> Result<&'a [u8]> {
        let b = slice(self.data, self.at, len, "blob")?;
        self.at += len;
        Ok(b)
    }

    /// A compressed unsigned integer (II.23.2).
    pub fn compressed(&mut self) -> Result<u32> {
        let first = self.byte()? as u32;
        Ok(if first & 0x80 == 0 {
            first
        } else if first & 0xc0 == 0x80 {
            ((first & 0x3f) << 8) | self.byte()? as u32
        } else if first & 0xe0 == 0xc0 {
            let b = self.bytes(3)?;
            ((first & 0x1f) << 24) | (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32
        } else {
            return malformed(format!("bad compressed integer lead byte {first:#x}"));
        })
    }

    /// A `TypeDefOrRefOrSpecEncoded` value (II.23.2.8).
    pub fn type_def_or_ref(&mut self) -> Result<RowRef> {
        let value = self.compressed()?;
        decode_coded(value, Coded::TypeDefOrRef)?
            .ok_or_else(|| ReadError::Malformed("null type reference in a signature".into()))
    }
}
